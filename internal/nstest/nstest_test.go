package nstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Addresses used by the self-tests: the underlay is in the benchmarking
// ranges (RFC 2544 198.18.0.0/15, RFC 5180 2001:2::/48), the overlay in
// 192.168.42.0/24 and a ULA, all inside namespaces the test creates.
var (
	underA4 = netip.MustParsePrefix("198.18.0.1/24")
	underB4 = netip.MustParsePrefix("198.18.0.2/24")
	underA6 = netip.MustParsePrefix("2001:2::1/64")
	underB6 = netip.MustParsePrefix("2001:2::2/64")
	overA4  = netip.MustParsePrefix("192.168.42.1/24")
	overB4  = netip.MustParsePrefix("192.168.42.2/24")
	overA6  = netip.MustParsePrefix("fd42:42::1/64")
	overB6  = netip.MustParsePrefix("fd42:42::2/64")
)

// kernelPair builds two namespaces joined by a veth, each with a kernel
// vxlan device (VNI 42, port 4789) pointing at the other over IPv4.
func kernelPair(t *testing.T) (a, b *NS) {
	t.Helper()
	a, b = NewNS(t, "vxa"), NewNS(t, "vxb")
	AddVeth(t, a, b, Veth{
		AddrsA: []netip.Prefix{underA4, underA6},
		AddrsB: []netip.Prefix{underB4, underB6},
	})
	a.AddVXLAN(t, VXLAN{VNI: 42, Local: underA4.Addr(), Remote: underB4.Addr(), Dev: "veth0",
		Addrs: []netip.Prefix{overA4, overA6}})
	b.AddVXLAN(t, VXLAN{VNI: 42, Local: underB4.Addr(), Remote: underA4.Addr(), Dev: "veth0",
		Addrs: []netip.Prefix{overB4, overB6}})
	return a, b
}

func TestKernelVXLANTwoNamespaces(t *testing.T) {
	SkipUnlessRoot(t)
	RequireTools(t, "ping")
	a, b := kernelPair(t)

	t.Run("ping", func(t *testing.T) {
		for _, dst := range []netip.Prefix{underB4, underB6, overB4, overB6} {
			res := a.PingOK(t, dst.Addr(), PingOptions{Count: 5, Interval: 10 * time.Millisecond})
			if res.RTTAvg <= 0 || res.RTTMax < res.RTTMin {
				t.Errorf("ping %s: implausible RTTs %+v", dst.Addr(), res)
			}
		}
	})

	t.Run("transfer 20MB", func(t *testing.T) {
		const size = 20 << 20
		before := a.LinkStats(t, "vx0")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		res, err := TransferTCP(ctx, a, b, netip.AddrPortFrom(overB4.Addr(), 0), size, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || res.SentBytes != size {
			t.Fatalf("transfer mismatch: sent %d bytes sha256 %x, received %d bytes sha256 %x",
				res.SentBytes, res.SentSHA256, res.ReceivedBytes, res.ReceivedSHA256)
		}
		after := a.LinkStats(t, "vx0")
		if tx := after.TX.Bytes - before.TX.Bytes; tx < size {
			t.Errorf("vx0 sent %d bytes during a %d-byte transfer: traffic did not use the tunnel", tx, size)
		}
		t.Logf("20 MiB over kernel vxlan: %.2f Gbit/s, sha256 %x", res.BitsPerSecond()/1e9, res.ReceivedSHA256)
	})

	t.Run("transfer IPv6 overlay", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		res, err := TransferTCP(ctx, b, a, netip.AddrPortFrom(overA6.Addr(), 0), 1<<20, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Fatalf("transfer mismatch: %+v", res)
		}
	})

	t.Run("iperf3", func(t *testing.T) {
		RequireTools(t, "iperf3", "ss")
		srv := b.StartIperf3Server(t, netip.AddrPortFrom(overB4.Addr(), 5201))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		tcp, err := a.Iperf3(ctx, srv.Addr, Iperf3Options{Duration: time.Second, Streams: 2})
		if err != nil {
			t.Fatal(err)
		}
		if tcp.Protocol != "TCP" || tcp.Streams != 2 || tcp.Received.Bytes <= 0 || tcp.Received.BitsPerSecond <= 0 {
			t.Errorf("TCP report = %+v", tcp)
		}
		t.Logf("iperf3 TCP x2: %.2f Gbit/s", tcp.Received.BitsPerSecond/1e9)
		udp, err := a.Iperf3(ctx, srv.Addr, Iperf3Options{Duration: time.Second, UDP: true, Length: 64, Bitrate: "20M"})
		if err != nil {
			t.Fatal(err)
		}
		if udp.Protocol != "UDP" || udp.BlockSize != 64 || udp.ReceivedPackets() <= 0 || udp.Sent.Packets < udp.ReceivedPackets() {
			t.Errorf("UDP report = %+v", udp)
		}
		t.Logf("iperf3 UDP 64B: %.0f packets/s received", udp.ReceivedPacketsPerSecond())
	})
}

func TestKernelVXLANIPv6UnderlayFloodList(t *testing.T) {
	SkipUnlessRoot(t)
	RequireTools(t, "ping", "bridge")
	a, b := NewNS(t, "v6a"), NewNS(t, "v6b")
	AddVeth(t, a, b, Veth{AddrsA: []netip.Prefix{underA6}, AddrsB: []netip.Prefix{underB6}})
	a.AddVXLAN(t, VXLAN{VNI: 4242, Local: underA6.Addr(), Dev: "veth0", Addrs: []netip.Prefix{overA4}})
	b.AddVXLAN(t, VXLAN{VNI: 4242, Local: underB6.Addr(), Dev: "veth0", Addrs: []netip.Prefix{overB4}})
	a.AppendFlood(t, "vx0", underB6.Addr())
	b.AppendFlood(t, "vx0", underA6.Addr())
	a.PingOK(t, overB4.Addr(), PingOptions{Count: 3, Interval: 10 * time.Millisecond})
	// The reply taught a's device where b's MAC lives (learning is on):
	// besides the flood entry there is a learned one towards b.
	fdb := a.Bridge(t, "fdb", "show", "dev", "vx0")
	var flood, learned bool
	for line := range strings.Lines(fdb) {
		if !strings.Contains(line, "dst "+underB6.Addr().String()+" ") {
			continue
		}
		if strings.HasPrefix(line, "00:00:00:00:00:00 ") {
			flood = true
		} else if !strings.Contains(line, "permanent") {
			learned = true
		}
	}
	if !flood || !learned {
		t.Errorf("bridge fdb show dev vx0:\n%s\nwant the flood entry and a learned entry towards %s", fdb, underB6.Addr())
	}
}

func TestDoRunsInNamespace(t *testing.T) {
	SkipUnlessRoot(t)
	ns := NewNS(t, "do")
	ns.IP(t, "link", "add", "nstest0", "type", "veth", "peer", "name", "nstest1")
	want, err := os.Stat("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	wantIno := want.Sys().(*syscall.Stat_t).Ino
	err = ns.Do(func() error {
		link, err := os.Readlink("/proc/thread-self/ns/net")
		if err != nil {
			return err
		}
		if got := fmt.Sprintf("net:[%d]", wantIno); link != got {
			return fmt.Errorf("thread is in %s, want %s", link, got)
		}
		_, err = net.InterfaceByName("nstest0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName("nstest0"); err == nil {
		t.Error("nstest0 visible outside the namespace: Do leaked its namespace switch")
	}
	if err := (&NS{Name: "nstest-does-not-exist"}).Do(func() error { return nil }); err == nil {
		t.Error("Do in a missing namespace succeeded")
	}
}

func TestNSRemovedAtCleanup(t *testing.T) {
	SkipUnlessRoot(t)
	var name string
	var pid int
	t.Run("inner", func(t *testing.T) {
		ns := NewNS(t, "gone")
		name = ns.Name
		// A process left running: the cleanup must kill it before
		// deleting the namespace.
		cmd := ns.Start(t, "sleep", "1000")
		pid = cmd.Pid()
	})
	if out, _ := runCmd(t.Context(), "ip", "netns", "list"); strings.Contains(out, name) {
		t.Errorf("namespace %s still listed after cleanup:\n%s", name, out)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after cleanup (kill 0: %v)", pid, err)
	}
}

func TestProcStop(t *testing.T) {
	SkipUnlessRoot(t)
	ns := NewNS(t, "proc")

	t.Run("SIGTERM", func(t *testing.T) {
		p := ns.Start(t, "sh", "-c", "echo ready; exec sleep 1000")
		WaitFor(t, 10*time.Second, "sh to print ready", func() error {
			if !strings.Contains(p.Output(), "ready") {
				return errors.New("no output yet")
			}
			return nil
		})
		p.Stop()
		if exited, _ := p.Exited(); !exited || !p.exitedBySignal() {
			t.Errorf("after Stop: exited=%v bySignal=%v", exited, p.exitedBySignal())
		}
	})

	t.Run("ignores SIGTERM", func(t *testing.T) {
		p := ns.Start(t, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done")
		p.StopTimeout = 200 * time.Millisecond
		WaitFor(t, 10*time.Second, "sh to print ready", func() error {
			if !strings.Contains(p.Output(), "ready") {
				return errors.New("no output yet")
			}
			return nil
		})
		err := p.Stop()
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Stop = %v, want a 'killed' error", err)
		}
	})

	t.Run("clean exit", func(t *testing.T) {
		p := ns.Start(t, "sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done")
		WaitFor(t, 10*time.Second, "sh to print ready", func() error {
			if !strings.Contains(p.Output(), "ready") {
				return errors.New("no output yet")
			}
			return nil
		})
		if err := p.Stop(); err != nil {
			t.Errorf("Stop = %v, want clean exit", err)
		}
		if !strings.Contains(p.Output(), "bye") {
			t.Errorf("output %q lacks the TERM handler's line", p.Output())
		}
	})
}
