package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// ipLink is the part of `ip -j -d link show` the test reads.
type ipLink struct {
	Ifindex  int      `json:"ifindex"`
	Ifname   string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	LinkInfo struct {
		InfoKind string `json:"info_kind"`
		InfoData struct {
			Type string `json:"type"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

func showLink(t *testing.T, ns *nstest.NS, name string) (ipLink, bool) {
	t.Helper()
	out, err := ns.Exec(context.Background(), "ip", "-j", "-d", "link", "show", name)
	if err != nil {
		return ipLink{}, false
	}
	var ls []ipLink
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("ip -j link show %s: %v: %s", name, err, out)
	}
	return ls[0], true
}

func hasFlag(l ipLink, f string) bool {
	for _, x := range l.Flags {
		if x == f {
			return true
		}
	}
	return false
}

const waitTime = 10 * time.Second

// TestEndToEnd runs vtepd in a fresh network namespace and drives it with
// the vtep CLI and with ip, as a user would, against a kernel vxlan peer
// in a second namespace.
func TestEndToEnd(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "ip", "ping")
	bin := nstest.BuildBinaries(t)
	h1 := nstest.NewNS(t, "e2e-h1")
	h2 := nstest.NewNS(t, "e2e-h2")
	v1, v2 := nstest.AddVeth(t, h1, h2, nstest.Veth{
		NameA: "eth0", NameB: "eth0",
		AddrsA: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
		AddrsB: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
	})

	dir, err := os.MkdirTemp("", "vtepd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "vtepd.yaml")
	writeConfig := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(`
links:
  - name: vxc
    args: "id 100 local 10.0.0.1 dstport 4789 ttl 5"
    up: true
    addresses: [10.100.0.1/24]
  - name: vxu
    args: "id 101 local 10.0.0.1 dstport 4789"
  - name: vxe
    args: "id 102 local 10.0.0.1 dstport 4789"
fdb:
  - {mac: "00:00:00:00:00:00", dev: vxc, dst: 10.0.0.2, op: append}
neighbors:
  - {dev: vxc, ip: 10.100.0.2, lladdr: "02:00:00:00:01:02"}
`)
	d := nstest.StartVtepd(t, h1, bin, nstest.VtepdOptions{Config: cfgPath})
	vtep := func(args ...string) string { t.Helper(); return d.Run(t, args...) }
	vtepErr := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		return d.CLI(ctx, args...)
	}

	t.Run("config applied at start", func(t *testing.T) {
		nstest.WaitFor(t, waitTime, "vxc neighbour", func() error {
			if out := vtep("neigh", "show", "dev", "vxc"); !strings.Contains(out, "10.100.0.2 lladdr 02:00:00:00:01:02 PERMANENT") {
				return fmt.Errorf("neigh show: %q", out)
			}
			return nil
		})
		l, ok := showLink(t, h1, "vxc")
		if !ok || !hasFlag(l, "UP") || l.MTU != 1500 {
			t.Errorf("vxc = %+v", l)
		}
		if out := h1.IP(t, "-4", "addr", "show", "dev", "vxc"); !strings.Contains(out, "10.100.0.1/24") {
			t.Errorf("vxc addresses: %s", out)
		}
		if out := vtep("fdb", "show", "dev", "vxc"); out != "00:00:00:00:00:00 dst 10.0.0.2 self permanent\n" {
			t.Errorf("vxc fdb: %q", out)
		}
	})

	// The kernel peer.
	h2.IP(t, "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.0.0.1", "local", "10.0.0.2", "dev", v2, "dstport", "4789")
	h2.IP(t, "addr", "add", "192.168.42.2/24", "dev", "vx0")
	h2.IP(t, "link", "set", "vx0", "up")

	vtep("link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.0.0.2", "local", "10.0.0.1", "dev", v1, "dstport", "4789")
	var mac string
	t.Run("link add creates the TAP", func(t *testing.T) {
		l, ok := showLink(t, h1, "vx0")
		if !ok {
			t.Fatal("no vx0 interface")
		}
		if l.MTU != 1450 || l.LinkInfo.InfoKind != "tun" || l.LinkInfo.InfoData.Type != "tap" || hasFlag(l, "UP") {
			t.Errorf("vx0 = %+v", l)
		}
		var vl []struct {
			Address string `json:"address"`
			MTU     int    `json:"mtu"`
		}
		if err := json.Unmarshal([]byte(vtep("-j", "link", "show", "vx0")), &vl); err != nil || len(vl) != 1 {
			t.Fatal(err)
		}
		if vl[0].Address != l.Address || vl[0].MTU != 1450 {
			t.Errorf("vtep says %+v, ip says %s mtu %d", vl[0], l.Address, l.MTU)
		}
		mac = l.Address
		if out := vtep("-d", "link", "show", "vx0"); !strings.Contains(out, "vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev "+v1+" srcport 0 0 dstport 4789 ttl auto ageing 300") {
			t.Errorf("vtep -d link show: %s", out)
		}
	})

	t.Run("refused commands", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			msg  string
		}{
			{[]string{"link", "add", "vx0", "type", "vxlan", "id", "43", "dstport", "4789"}, "RTNETLINK answers: File exists"},
			{[]string{"link", "add", "vx9", "type", "vxlan", "id", "42", "local", "10.0.0.1", "dstport", "4789"}, "Error: A VXLAN device with the specified VNI already exists."},
			{[]string{"link", "add", "vx9", "type", "vxlan", "id", "16777216"}, `Error: argument "16777216" is wrong: invalid id`},
			{[]string{"link", "add", "vx9", "type", "vxlan", "id", "9", "dev", "nosuch0"}, `Cannot find device "nosuch0"`},
			{[]string{"link", "set", "vx0", "type", "vxlan", "id", "5"}, "Error: Cannot change VNI."},
			{[]string{"link", "set", "vx0", "mtu", "1460"}, "RTNETLINK answers: Invalid argument"},
		} {
			out, err := vtepErr(tc.args...)
			if err == nil || !strings.Contains(out+err.Error(), tc.msg) {
				t.Errorf("vtep %s: %v %q, want %q", strings.Join(tc.args, " "), err, out, tc.msg)
			}
		}
		if h1.LinkExists("vx9") {
			t.Error("a refused link add left an interface behind")
		}
	})

	t.Run("bridge vni on a vnifilter link", func(t *testing.T) {
		vtep("link", "add", "vxv", "type", "vxlan", "external", "vnifilter", "local", "10.0.0.1", "dev", v1, "dstport", "4790")
		defer vtep("link", "del", "vxv")
		vtep("vni", "add", "dev", "vxv", "vni", "100", "group", "239.1.1.1")
		vtep("vni", "add", "dev", "vxv", "vni", "200-203")
		vtep("vni", "add", "dev", "vxv", "vni", "300", "remote", "10.0.0.2")
		if out := vtep("-j", "vni", "show", "dev", "vxv"); out != `[{"ifname":"vxv","vnis":[{"vni":100,"group":"239.1.1.1"},{"vni":200,"vniEnd":203},{"vni":300,"remote":"10.0.0.2"}]}]`+"\n" {
			t.Errorf("vni show -j: %s", out)
		}
		// A remote is the VNI's all-zeros FDB entry (vxlan_update_default_fdb_entry).
		if out := vtep("fdb", "show", "dev", "vxv"); !strings.Contains(out, "00:00:00:00:00:00 dst 10.0.0.2 vni 300 src_vni 300 self permanent") {
			t.Errorf("fdb show: %q", out)
		}
		for _, tc := range []struct {
			args []string
			msg  string
		}{
			{[]string{"vni", "del", "dev", "vxv", "vni", "202-204"}, `Error: VNI 204 is not in the VNI filter of vxv; "vtep vni show dev vxv" lists it.`},
			{[]string{"vni", "add", "dev", "vx0", "vni", "5"}, `Error: vx0 has no VNI filter; bridge vni needs a link created with "external vnifilter".`},
			{[]string{"vni", "add", "dev", "vxv", "vni", "16777216"}, "Error: VNI 16777216 is out of range; a VNI must be lower than 16777216."},
			{[]string{"vni", "add", "dev", "vxv", "vni", "5", "group", "10.0.0.9"}, `Error: argument "10.0.0.9" is wrong: invalid group address`},
			{[]string{"vni", "add", "dev", "nosuch0", "vni", "5"}, `Cannot find vxlan device "nosuch0"`},
		} {
			out, err := vtepErr(tc.args...)
			if err == nil || !strings.Contains(out+err.Error(), tc.msg) {
				t.Errorf("vtep %s: %v %q, want %q", strings.Join(tc.args, " "), err, out, tc.msg)
			}
		}
		vtep("vni", "del", "dev", "vxv", "vni", "201-203")
		vtep("vni", "del", "dev", "vxv", "vni", "300")
		want := fmt.Sprintf("%-16s  %-15s  %-15s\n", "dev", "vni", "group/remote") +
			fmt.Sprintf("%-16s   %-14d %s\n", "vxv", 100, "239.1.1.1") +
			fmt.Sprintf("%-16s   %-14d\n", "", 200) + "\n"
		if out := vtep("vni", "show"); out != want {
			t.Errorf("vni show:\n%q\nwant\n%q", out, want)
		}
	})

	h1.IP(t, "addr", "add", "192.168.42.1/24", "dev", "vx0")
	vtep("link", "set", "vx0", "up")
	t.Run("link up", func(t *testing.T) {
		l, _ := showLink(t, h1, "vx0")
		if !hasFlag(l, "UP") {
			t.Errorf("vx0 flags %v", l.Flags)
		}
	})

	t.Run("ping the kernel peer", func(t *testing.T) {
		h1.PingOK(t, netip.MustParseAddr("192.168.42.2"), nstest.PingOptions{Count: 3})
		// Both sides learned each other.
		nstest.WaitFor(t, waitTime, "learned MAC of the kernel peer", func() error {
			peer, _ := showLink(t, h2, "vx0")
			if out := vtep("fdb", "show", "dev", "vx0"); !strings.Contains(out, peer.Address+" dst 10.0.0.2 self \n") {
				return fmt.Errorf("vtep fdb show: %q", out)
			}
			return nil
		})
		if out := h2.Bridge(t, "fdb", "show", "dev", "vx0"); !strings.Contains(out, mac+" dst 10.0.0.1 self") {
			t.Errorf("kernel did not learn %s: %s", mac, out)
		}
	})

	t.Run("-s link show lists the I/O counters", func(t *testing.T) {
		out := vtep("-s", "link", "show", "vx0")
		for _, name := range []string{"tap_read_frames", "tap_write_frames", "tap_gro_super_frames",
			"tap_gro_flush_batch_end", "udp_rx_packets", "udp_tx_packets", "udp_gso_sends"} {
			if !strings.Contains(out, "      "+name+" ") {
				t.Errorf("vtep -s link show: no %s:\n%s", name, out)
			}
		}
		var ls []struct {
			Stats map[string]uint64 `json:"vtep_stats"`
		}
		if err := json.Unmarshal([]byte(vtep("-j", "-s", "link", "show", "vx0")), &ls); err != nil || len(ls) != 1 {
			t.Fatalf("vtep -j -s link show: %v", err)
		}
		// The pings went out through the TAP and the UDP socket and
		// their replies came back.
		for _, name := range []string{"tap_read_frames", "tap_write_frames", "udp_tx_packets", "udp_rx_packets"} {
			if v, ok := ls[0].Stats[name]; !ok || v < 3 {
				t.Errorf("%s = %d (present %v), want at least 3", name, v, ok)
			}
		}
	})

	// A monitor sees FDB changes.
	mon := h1.Start(t, bin.Vtep, "-socket", d.Socket, "-j", "monitor", "fdb")
	nstest.WaitFor(t, waitTime, "monitor sees fdb add", func() error {
		// Repeat until the monitor has subscribed and reported the add.
		vtepErr("fdb", "del", "02:00:00:00:00:aa", "dev", "vx0")
		vtepErr("fdb", "add", "02:00:00:00:00:aa", "dev", "vx0", "dst", "10.0.0.9", "dynamic")
		if !strings.Contains(mon.Output(), `"kind":"added"`) {
			return errors.New("no event yet")
		}
		return nil
	})
	if err := mon.Stop(); err != nil {
		t.Errorf("vtep monitor exit: %v", err)
	}
	vtep("fdb", "add", "02:00:00:00:00:bb", "dev", "vx0", "dst", "10.0.0.9")
	if out := vtep("fdb", "show", "dev", "vx0"); !strings.Contains(out, "02:00:00:00:00:aa dst 10.0.0.9 self \n") ||
		!strings.Contains(out, "02:00:00:00:00:bb dst 10.0.0.9 self permanent\n") {
		t.Errorf("fdb show: %q", out)
	}

	t.Run("ip link set down flushes dynamic entries", func(t *testing.T) {
		h1.IP(t, "link", "set", "vx0", "down")
		nstest.WaitFor(t, waitTime, "dynamic entries flushed", func() error {
			out := vtep("fdb", "show", "dev", "vx0")
			want := "02:00:00:00:00:bb dst 10.0.0.9 self permanent\n00:00:00:00:00:00 dst 10.0.0.2 via " + v1 + " self permanent\n"
			if out != want {
				return fmt.Errorf("fdb show: %q, want %q", out, want)
			}
			return nil
		})
		var li []struct {
			Flags []string `json:"flags"`
		}
		json.Unmarshal([]byte(vtep("-j", "link", "show", "vx0")), &li)
		if len(li) != 1 || strings.Contains(strings.Join(li[0].Flags, ","), "UP") {
			t.Errorf("vtep link show after ip link set down: %+v", li)
		}
		h1.IP(t, "link", "set", "vx0", "up")
		nstest.WaitFor(t, waitTime, "link up again", func() error {
			if out := vtep("link", "show", "vx0"); !strings.Contains(out, ",UP,") {
				return fmt.Errorf("link show: %q", out)
			}
			return nil
		})
		h1.PingOK(t, netip.MustParseAddr("192.168.42.2"), nstest.PingOptions{Count: 2})
	})

	t.Run("ip neigh feeds the proxy table", func(t *testing.T) {
		h1.IP(t, "neigh", "add", "192.168.42.9", "lladdr", "02:00:00:00:00:09", "dev", "vx0", "nud", "permanent")
		nstest.WaitFor(t, waitTime, "neighbour", func() error {
			if out := vtep("neigh", "show", "dev", "vx0"); !strings.Contains(out, "192.168.42.9 lladdr 02:00:00:00:00:09 PERMANENT \n") {
				return fmt.Errorf("neigh show: %q", out)
			}
			return nil
		})
	})

	t.Run("ip link set mtu", func(t *testing.T) {
		h1.IP(t, "link", "set", "vx0", "mtu", "1400")
		nstest.WaitFor(t, waitTime, "mtu 1400", func() error {
			if out := vtep("-d", "link", "show", "vx0"); !strings.Contains(out, "mtu 1400 ") {
				return fmt.Errorf("link show: %q", out)
			}
			return nil
		})
		// Above lower MTU - 50: the kernel would refuse; vtepd sets it back.
		h1.IP(t, "link", "set", "vx0", "mtu", "1460")
		nstest.WaitFor(t, waitTime, "mtu restored", func() error {
			if l, _ := showLink(t, h1, "vx0"); l.MTU != 1400 {
				return fmt.Errorf("mtu %d", l.MTU)
			}
			return nil
		})
	})

	t.Run("ip link del removes the link", func(t *testing.T) {
		h1.IP(t, "link", "del", "vx0")
		nstest.WaitFor(t, waitTime, "vx0 gone from vtepd", func() error {
			if out, err := vtepErr("link", "show", "vx0"); err == nil {
				return fmt.Errorf("still there: %s", out)
			}
			return nil
		})
		if out := vtep("link", "show"); strings.Contains(out, "vx0") {
			t.Errorf("link show: %s", out)
		}
	})

	t.Run("SIGHUP re-applies the configuration", func(t *testing.T) {
		before := map[string]int{}
		for _, n := range []string{"vxc", "vxu", "vxe"} {
			l, ok := showLink(t, h1, n)
			if !ok {
				t.Fatalf("%s missing before SIGHUP", n)
			}
			before[n] = l.Ifindex
		}
		writeConfig(`
links:
  - name: vxc
    args: "id 100 local 10.0.0.1 dstport 4789 ttl 9"
    up: true
    addresses: [10.100.0.1/24]
  - name: vxu
    args: "id 101 local 10.0.0.1 dstport 4789"
  - name: vxd
    args: "id 103 local 10.0.0.1 dstport 4789"
    up: true
fdb:
  - {mac: "00:00:00:00:00:00", dev: vxc, dst: 10.0.0.2, op: append}
  - {mac: "00:00:00:00:00:00", dev: vxd, dst: 10.0.0.2, op: append}
`)
		if err := d.Proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		nstest.WaitFor(t, waitTime, "configuration re-applied", func() error {
			if h1.LinkExists("vxe") || !h1.LinkExists("vxd") {
				return errors.New("vxe still there or vxd missing")
			}
			if out := vtep("-d", "link", "show", "vxc"); !strings.Contains(out, " ttl 9 ") {
				return fmt.Errorf("vxc not changed: %s", out)
			}
			if out := vtep("neigh", "show", "dev", "vxc"); out != "" {
				return fmt.Errorf("vxc neighbour not removed: %q", out)
			}
			return nil
		})
		for _, n := range []string{"vxc", "vxu"} {
			if l, _ := showLink(t, h1, n); l.Ifindex != before[n] {
				t.Errorf("%s was re-created (ifindex %d, was %d)", n, l.Ifindex, before[n])
			}
		}
		if out := vtep("fdb", "show", "dev", "vxd"); out != "00:00:00:00:00:00 dst 10.0.0.2 self permanent\n" {
			t.Errorf("vxd fdb: %q", out)
		}
	})

	t.Run("SIGTERM removes the interfaces and exits 0", func(t *testing.T) {
		if err := d.Proc.Stop(); err != nil {
			t.Fatalf("vtepd exit: %v\n%s", err, d.Proc.Output())
		}
		for _, n := range []string{"vxc", "vxu", "vxd"} {
			if h1.LinkExists(n) {
				t.Errorf("%s left behind", n)
			}
		}
		if _, err := os.Stat(d.Socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("control socket left behind: %v", err)
		}
	})
	if t.Failed() {
		t.Logf("vtepd output:\n%s", d.Proc.Output())
	}
}
