package interop

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestLocalBypassNeedsASocketBoundToTheRemotesInterface runs two links in
// one namespace, vxa (VNI 10, `remote` its own address, `dev v0`) and vxb
// (VNI 20), on the kernel and on vtep, and counts where pings from vxa go.
// Local bypass (encap_bypass_if_local) looks for the target on the socket
// bound to the remote's interface (vxlan_find_vni → vxlan_find_sock), and
// a link that is down is in no socket's table (vxlan_stop):
//   - the default remote names v0, no socket is bound to it: vxa counts
//     transmit errors, nothing is delivered;
//   - an entry `dst` the own address `vni 20` names no interface: vxb
//     receives;
//   - the same with `via v0`: transmit errors again;
//   - with vxb down: transmit errors at vxa, nothing counted at vxb.
func TestLocalBypassNeedsASocketBoundToTheRemotesInterface(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		nstest.SkipUnlessRoot(t)
		nstest.RequireTools(t, "bridge", "ping")
		if dut.isVtep() {
			requireVtep(t)
		}
		ns := nstest.NewNS(t, "bp")
		// No IPv6 on the links: no ND, MLD or router solicitations
		// among the counted packets.
		ns.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
		ns.IP(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
		ns.AddAddr(t, "v0", netip.MustParsePrefix("10.0.0.1/24"))
		ns.LinkUp(t, "v0")
		ns.LinkUp(t, "v1")
		h := &host{idx: 1, kind: dut, ns: ns}
		if dut.isVtep() {
			h.vtepd = nstest.StartVtepd(t, ns, vtepBins, dut.vtepdOptions())
		}
		run := func(args ...string) {
			t.Helper()
			if dut.isVtep() {
				h.vtepd.Run(t, args...)
				return
			}
			if args[0] == "fdb" {
				ns.Bridge(t, args...)
			} else {
				ns.IP(t, args...)
			}
		}
		for _, l := range [][]string{
			{"vxa", "id", "10", "local", "10.0.0.1", "remote", "10.0.0.1", "dev", "v0", "dstport", "4789"},
			{"vxb", "id", "20", "local", "10.0.0.1", "dstport", "4789"},
		} {
			run(append([]string{"link", "add", l[0], "type", "vxlan"}, l[1:]...)...)
			ns.WaitLink(t, l[0])
			ns.LinkUp(t, l[0])
		}
		ns.AddAddr(t, "vxa", netip.MustParsePrefix("192.168.9.1/24"))
		for i := 2; i <= 4; i++ {
			ns.IP(t, "neigh", "add", fmt.Sprintf("192.168.9.%d", i), "lladdr", fmt.Sprintf("02:00:00:00:00:%02d", i), "dev", "vxa", "nud", "permanent")
		}
		run("fdb", "add", "02:00:00:00:00:03", "dev", "vxa", "dst", "10.0.0.1", "vni", "20")
		run("fdb", "add", "02:00:00:00:00:04", "dev", "vxa", "dst", "10.0.0.1", "vni", "20", "via", "v0")

		const pings = 3
		step := func(name, dst string, wantErrors, wantDelivered uint64) {
			t.Helper()
			a0, b0 := h.statsOf(t, "vxa"), h.statsOf(t, "vxb")
			h.Ping(t, netip.MustParseAddr(dst), nstest.PingOptions{Count: pings, Interval: 50 * time.Millisecond, Wait: 500 * time.Millisecond})
			a1, b1 := h.statsOf(t, "vxa"), h.statsOf(t, "vxb")
			errs := a1.TX.Errors - a0.TX.Errors
			got := b1.RX.Packets - b0.RX.Packets
			dropped := b1.RX.Dropped - b0.RX.Dropped
			if errs != wantErrors || got != wantDelivered || dropped != 0 {
				t.Errorf("%s: vxa tx errors +%d, vxb rx packets +%d, rx dropped +%d; want +%d, +%d, +0",
					name, errs, got, dropped, wantErrors, wantDelivered)
			}
		}
		step("default remote (dev v0)", "192.168.9.2", pings, 0)
		step("dst 10.0.0.1 vni 20", "192.168.9.3", 0, pings)
		step("dst 10.0.0.1 vni 20 via v0", "192.168.9.4", pings, 0)
		if dut.isVtep() {
			run("link", "set", "vxb", "down")
		} else {
			ns.IP(t, "link", "set", "vxb", "down")
		}
		step("vxb down", "192.168.9.3", pings, 0)
	})
}

// TestUnderlayInAVRF is test_vxlan_under_vrf.sh: two hosts whose underlay
// interface is moved into a VRF after the links exist. A link's socket is
// bound to the VRF of its lower device when it comes up (vxlan_sock_add:
// l3mdev_master_upper_ifindex_by_index), so the overlay works again after
// `ip link set vx0 down; ip link set vx0 up`, and after moving back out.
// It needs a kernel with VRF support (CONFIG_NET_VRF).
func TestUnderlayInAVRF(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	probe := nstest.NewNS(t, "vrfprobe")
	if out, err := probe.Exec(t.Context(), "ip", "link", "add", "vrf-probe", "type", "vrf", "table", "10"); err != nil {
		t.Skipf("this kernel cannot make a VRF (CONFIG_NET_VRF): %v %s", err, out)
	}
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{})
		h1.warmUp(t, h2.In4())
		h1.PingOK(t, h2.In4())
		cycle := func() {
			for _, h := range []*host{h1, h2} {
				h.ns.IP(t, "link", "set", vxDev, "down")
				h.ns.IP(t, "link", "set", vxDev, "up")
			}
		}
		for _, h := range []*host{h1, h2} {
			h.ns.IP(t, "link", "add", "vrf-ul", "type", "vrf", "table", "10")
			h.ns.LinkUp(t, "vrf-ul")
			h.ns.IP(t, "link", "set", ulDev, "vrf", "vrf-ul")
		}
		cycle()
		h1.warmUp(t, h2.In4())
		h1.PingOK(t, h2.In4())
		h2.PingOK(t, h1.In4())
		for _, h := range []*host{h1, h2} {
			h.ns.IP(t, "link", "set", ulDev, "nomaster")
		}
		cycle()
		h1.warmUp(t, h2.In4())
		h2.PingOK(t, h1.In4())
	})
}
