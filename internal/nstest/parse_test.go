package nstest

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var pingOutputs = []struct {
	name string
	out  string
	want PingResult
}{
	{
		name: "iputils all answered",
		out: "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.\n\n" +
			"--- 198.18.0.2 ping statistics ---\n" +
			"3 packets transmitted, 3 received, 0% packet loss, time 28ms\n" +
			"rtt min/avg/max/mdev = 0.013/0.441/1.285/0.596 ms\n",
		want: PingResult{Transmitted: 3, Received: 3, RTTMin: 13 * time.Microsecond,
			RTTAvg: 441 * time.Microsecond, RTTMax: 1285 * time.Microsecond, RTTMdev: 596 * time.Microsecond},
	},
	{
		name: "iputils IPv6",
		out: "PING 2001:2::2(2001:2::2) 56 data bytes\n\n--- 2001:2::2 ping statistics ---\n" +
			"3 packets transmitted, 3 received, 0% packet loss, time 35ms\n" +
			"rtt min/avg/max/mdev = 0.009/0.030/0.051/0.017 ms\n",
		want: PingResult{Transmitted: 3, Received: 3, RTTMin: 9 * time.Microsecond,
			RTTAvg: 30 * time.Microsecond, RTTMax: 51 * time.Microsecond, RTTMdev: 17 * time.Microsecond},
	},
	{
		name: "iputils errors and total loss",
		out: "PING 192.168.42.9 (192.168.42.9) 56(84) bytes of data.\n\n--- 192.168.42.9 ping statistics ---\n" +
			"5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4093ms\npipe 4\n",
		want: PingResult{Transmitted: 5, Received: 0, Errors: 5, Loss: 100},
	},
	{
		name: "iputils duplicates and partial loss",
		out: "--- 10.0.0.2 ping statistics ---\n" +
			"3 packets transmitted, 2 received, +2 duplicates, 33.3333% packet loss, time 2003ms\n" +
			"rtt min/avg/max/mdev = 1.000/2.000/3.000/0.500 ms\n",
		want: PingResult{Transmitted: 3, Received: 2, Duplicates: 2, Loss: 33.3333, RTTMin: time.Millisecond,
			RTTAvg: 2 * time.Millisecond, RTTMax: 3 * time.Millisecond, RTTMdev: 500 * time.Microsecond},
	},
	{
		name: "iputils replies outstanding",
		out: "--- 192.168.42.2 ping statistics ---\n" +
			"3 packets transmitted, 3 received, 0% packet loss, time 21ms\n" +
			"rtt min/avg/max/mdev = 44.118/60.022/75.836/12.948 ms, pipe 3\n",
		want: PingResult{Transmitted: 3, Received: 3, RTTMin: 44118 * time.Microsecond,
			RTTAvg: 60022 * time.Microsecond, RTTMax: 75836 * time.Microsecond, RTTMdev: 12948 * time.Microsecond},
	},
	{
		name: "iputils flood",
		out: "--- 10.0.0.2 ping statistics ---\n" +
			"1000 packets transmitted, 1000 received, 0% packet loss, time 120ms\n" +
			"rtt min/avg/max/mdev = 0.004/0.010/0.050/0.003 ms, ipg/ewma 0.120/0.009 ms\n",
		want: PingResult{Transmitted: 1000, Received: 1000, RTTMin: 4 * time.Microsecond,
			RTTAvg: 10 * time.Microsecond, RTTMax: 50 * time.Microsecond, RTTMdev: 3 * time.Microsecond},
	},
	{
		name: "busybox",
		out: "--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\n" +
			"round-trip min/avg/max = 0.068/0.081/0.093 ms\n",
		want: PingResult{Transmitted: 3, Received: 3, RTTMin: 68 * time.Microsecond,
			RTTAvg: 81 * time.Microsecond, RTTMax: 93 * time.Microsecond},
	},
}

func TestParsePing(t *testing.T) {
	for _, tc := range pingOutputs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePing(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParsePing:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParsePingRejects(t *testing.T) {
	for _, out := range []string{
		"",
		"ping: connect: Network is unreachable\n",
		"3 packets transmitted, 0% packet loss\n",
		"x packets transmitted, 3 received\n",
		"3 packets transmitted, 3 received, NaN% packet loss\n",
		"3 packets transmitted, 3 received\nrtt min/avg/max/mdev = 1/2 ms\n",
		"3 packets transmitted, 3 received\nrtt min/avg/max/mdev = 1/NaN/3/4 ms\n",
		"3 packets transmitted, 3 received\nrtt min/avg/max/mdev = 1/2/3/4 furlongs\n",
	} {
		if res, err := ParsePing(out); err == nil {
			t.Errorf("ParsePing(%q) = %+v, want error", out, res)
		}
	}
}

func TestPingOptionsArgs(t *testing.T) {
	dst := netip.MustParseAddr("192.168.42.2")
	got := PingOptions{Count: 200, Interval: 10 * time.Millisecond, DontFragment: true, Size: 1400}.Args(dst)
	want := []string{"-q", "-n", "-c", "200", "-i", "0.01", "-W", "1", "-s", "1400", "-M", "do", "192.168.42.2"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	got = PingOptions{}.Args(dst)
	want = []string{"-q", "-n", "-c", "3", "-i", "0.2", "-W", "1", "192.168.42.2"}
	if !slices.Equal(got, want) {
		t.Errorf("default Args = %q, want %q", got, want)
	}
}

func FuzzParsePing(f *testing.F) {
	for _, tc := range pingOutputs {
		f.Add(tc.out)
	}
	f.Fuzz(func(t *testing.T, out string) {
		res, err := ParsePing(out)
		if err != nil {
			if res != (PingResult{}) {
				t.Fatalf("error %v with non-zero result %+v", err, res)
			}
			return
		}
		if res.Transmitted < 0 || res.Received < 0 || res.Errors < 0 || res.Duplicates < 0 ||
			!(res.Loss >= 0 && res.Loss <= 100) || res.RTTMin < 0 || res.RTTAvg < 0 || res.RTTMax < 0 || res.RTTMdev < 0 {
			t.Fatalf("out-of-range result %+v", res)
		}
		if !strings.Contains(out, "packets transmitted") {
			t.Fatalf("parsed %+v from output without a statistics line", res)
		}
	})
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseIperf3TCP(t *testing.T) {
	res, err := ParseIperf3(readTestdata(t, "iperf3-tcp-p2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != "TCP" || res.Streams != 2 || res.BlockSize != 131072 || res.Duration != 1 {
		t.Errorf("test_start = %+v", res)
	}
	if res.Sent.Bytes != 2480275456 || res.Sent.Retransmits != 8845 || res.Received.Bytes != 2479160968 {
		t.Errorf("totals = %+v", res)
	}
	if got := res.Received.BitsPerSecond; math.Abs(got-19831443419.761963) > 1 {
		t.Errorf("received bits/s = %v", got)
	}
}

func TestParseIperf3UDP(t *testing.T) {
	res, err := ParseIperf3(readTestdata(t, "iperf3-udp-64.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != "UDP" || res.BlockSize != 64 || res.Streams != 1 {
		t.Errorf("test_start = %+v", res)
	}
	// sum_received: packets 693620 expected, 15966 lost; 43369856 bytes of
	// 64-byte datagrams is exactly the 677654 that arrived.
	if got, want := res.ReceivedPackets(), int64(677654); got != want {
		t.Errorf("ReceivedPackets = %d, want %d", got, want)
	}
	if got, want := res.ReceivedPackets()*64, res.Received.Bytes; got != want {
		t.Errorf("received packets × 64 = %d, received bytes %d", got, want)
	}
	if pps := res.ReceivedPacketsPerSecond(); math.Abs(pps-677654/1.00006) > 1 {
		t.Errorf("ReceivedPacketsPerSecond = %v", pps)
	}
	if pps := res.SentPacketsPerSecond(); math.Abs(pps-693640/1.000019) > 1 {
		t.Errorf("SentPacketsPerSecond = %v", pps)
	}
}

func TestParseIperf3UDPBeforeSumSent(t *testing.T) {
	// iperf3 < 3.8 reports UDP only in "sum".
	const js = `{"start":{"test_start":{"protocol":"UDP","num_streams":1,"blksize":64,"duration":2}},
		"end":{"sum":{"seconds":2,"bytes":6400,"bits_per_second":25600,"jitter_ms":0.01,"lost_packets":10,"packets":100}}}`
	res, err := ParseIperf3([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if res.ReceivedPackets() != 90 || res.ReceivedPacketsPerSecond() != 45 {
		t.Errorf("got %+v", res)
	}
}

func TestParseIperf3Error(t *testing.T) {
	_, err := ParseIperf3(readTestdata(t, "iperf3-error.json"))
	if err == nil || !strings.Contains(err.Error(), "unable to connect to server") {
		t.Errorf("err = %v, want iperf3's error message", err)
	}
	for _, js := range []string{``, `{}`, `{"start":{"test_start":{"protocol":"TCP"}},"end":{}}`,
		`{"start":{"test_start":{"protocol":"TCP"}},"end":{"sum_sent":{"bytes":-1},"sum_received":{}}}`,
		`{"start":{"test_start":{"protocol":"QUIC"}},"end":{"sum_sent":{},"sum_received":{}}}`} {
		if res, err := ParseIperf3([]byte(js)); err == nil {
			t.Errorf("ParseIperf3(%s) = %+v, want error", js, res)
		}
	}
}

func TestIperf3OptionsArgs(t *testing.T) {
	srv := netip.MustParseAddrPort("[fd42:42::2]:5201")
	got := Iperf3Options{Duration: 5 * time.Second, Streams: 4}.Args(srv)
	want := []string{"-c", "fd42:42::2", "-p", "5201", "-t", "5", "-J", "--connect-timeout", "5000", "-P", "4"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	got = Iperf3Options{UDP: true, Length: 64, Bitrate: "0"}.Args(netip.MustParseAddrPort("192.168.42.2:5201"))
	want = []string{"-c", "192.168.42.2", "-p", "5201", "-t", "2", "-J", "--connect-timeout", "5000", "-u", "-l", "64", "-b", "0"}
	if !slices.Equal(got, want) {
		t.Errorf("UDP Args = %q, want %q", got, want)
	}
}

func FuzzParseIperf3(f *testing.F) {
	for _, name := range []string{"iperf3-tcp-p2.json", "iperf3-udp-64.json", "iperf3-error.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"start":{"test_start":{"protocol":"UDP"}},"end":{"sum":{"packets":1,"lost_packets":5}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParseIperf3(b)
		if err != nil {
			if res != (Iperf3Result{}) {
				t.Fatalf("error %v with non-zero result %+v", err, res)
			}
			return
		}
		if res.ReceivedPackets() < 0 || !(res.ReceivedPacketsPerSecond() >= 0) || !(res.SentPacketsPerSecond() >= 0) {
			t.Fatalf("out-of-range result %+v", res)
		}
		for _, s := range []Iperf3Sum{res.Sent, res.Received} {
			if s.Bytes < 0 || !(s.BitsPerSecond >= 0) || !(s.Seconds >= 0) {
				t.Fatalf("out-of-range totals %+v", s)
			}
		}
	})
}

func TestVXLANArgs(t *testing.T) {
	got := VXLAN{VNI: 42, Local: netip.MustParseAddr("198.18.0.1"), Remote: netip.MustParseAddr("198.18.0.2"),
		Dev: "veth0", NoLearning: true}.Args()
	want := []string{"link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
		"local", "198.18.0.1", "remote", "198.18.0.2", "dev", "veth0", "nolearning"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q\nwant %q", got, want)
	}
	got = VXLAN{Name: "vx1", VNI: 7, DstPort: 8472, Group: netip.MustParseAddr("239.1.1.1"), Dev: "eth0",
		TTL: 10, MTU: 1400, Extra: []string{"udp6zerocsumtx"}}.Args()
	want = []string{"link", "add", "vx1", "mtu", "1400", "type", "vxlan", "id", "7", "dstport", "8472",
		"group", "239.1.1.1", "dev", "eth0", "ttl", "10", "udp6zerocsumtx"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q\nwant %q", got, want)
	}
}

func TestMissingTools(t *testing.T) {
	missing, pkgs := missingTools("sh", "no-such-tool-nstest", "iperf3-definitely-not-here")
	if !slices.Equal(missing, []string{"no-such-tool-nstest", "iperf3-definitely-not-here"}) {
		t.Errorf("missing = %q", missing)
	}
	if len(pkgs) != 2 {
		t.Errorf("pkgs = %q", pkgs)
	}
}

func TestTailBufferKeepsTail(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("0123456789"))
	b.Write([]byte("ab"))
	if got := b.String(); !strings.HasSuffix(got, "456789ab") || !strings.Contains(got, "dropped") {
		t.Errorf("String = %q", got)
	}
}
