package vtep_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/vtep"
)

// linkLocalLab builds host a with two IPv6 link-local links of VNI 42, vxa
// on lower device ula (interface 7) towards b and vxb on ulb (interface 8)
// towards c, and the peers b and c with a link each on their own device of
// that segment ("ul", 7 for b and 8 for c: in the simulated network an
// interface index names the segment, see underlay.MemConn.ReadInfo).
func linkLocalLab(t *testing.T, lab *netlab.Lab) (vxa, vxb, lb, lc *netlab.Link) {
	a := lab.MustAddHost(t, "a", "fe80::1")
	b := lab.MustAddHost(t, "b", "fe80::2")
	c := lab.MustAddHost(t, "c", "fe80::3")
	vxa = a.MustAddLink(t, "vxa", "id 42 local fe80::1 remote fe80::2 dev ula dstport 4789")
	vxb = a.MustAddLink(t, "vxb", "id 42 local fe80::1 remote fe80::3 dev ulb dstport 4789")
	lb = b.MustAddLink(t, "vx0", "id 42 local fe80::2 remote fe80::1 dev ul dstport 4789")
	lc = c.MustAddLink(t, "vx0", "id 42 local fe80::3 remote fe80::1 dev ul dstport 4789")
	return vxa, vxb, lb, lc
}

func linkLocalIfindexes(name string, o *vtep.HostOptions) {
	devs := map[string]map[string]int{"a": {"ula": 7, "ulb": 8}, "b": {"ul": 7}, "c": {"ul": 8}}[name]
	o.Ifindex = func(dev string) int { return devs[dev] }
}

// TestLinkLocalLinksShareVNIByDevice: IPv6 link-local links
// (VXLAN_F_IPV6_LINKLOCAL) on different lower devices may share a VNI
// (vxlan_vni_in_use skips them), and each receives only what arrives on its
// own device (vxlan_vs_find_vni: remote_ifindex == skb->dev->ifindex). A
// source learned from a link-local address keeps the interface it came in
// on (vxlan_snoop), and frames to it leave by that interface
// (vxlan_xmit_one: flowi6_oif = rdst->remote_ifindex); without it the peer,
// itself link-local, would not receive them.
func TestLinkLocalLinksShareVNIByDevice(t *testing.T) {
	bubble(t, netlab.Options{Host: linkLocalIfindexes}, func(t *testing.T, lab *netlab.Lab) {
		vxa, vxb, lb, lc := linkLocalLab(t, lab)
		// A third link-local link of VNI 42 on a device already used is a
		// duplicate; the same VNI over a global address is one too.
		a := vxa.Host
		if _, err := a.AddLink("vxc", "id 42 local fe80::1 remote fe80::2 dev ula dstport 4789"); !errors.Is(err, syscall.EEXIST) {
			t.Errorf("third link-local link on ula: err = %v, want EEXIST", err)
		}

		fb := netlab.ARPRequest(macB, ipB, ipA)
		fc := netlab.ARPRequest(macC, ipC, ipA)
		lb.Send(fb)
		lc.Send(fc)
		expectFrames(t, vxa, fb)
		expectFrames(t, vxb, fc)
		for _, tc := range []struct {
			l       *netlab.Link
			name    string
			ifindex int
		}{{vxa, "b", 7}, {vxb, "c", 8}} {
			m := map[string]header.MAC{"b": macB, "c": macC}[tc.name]
			e, _ := tc.l.FDB().Get(m, 42)
			if e == nil {
				t.Fatalf("%s: %v not learned", tc.l.Name(), m)
			}
			if r, _ := e.FirstRemote(); r.Ifindex != tc.ifindex {
				t.Errorf("%s: %v learned behind %v ifindex %d, want ifindex %d", tc.l.Name(), m, r.IP, r.Ifindex, tc.ifindex)
			}
		}

		// Replies go unicast to the learned entries, by their interface.
		rb := netlab.ARPReply(macA, ipA, macB, ipB)
		rc := netlab.ARPReply(macA, ipA, macC, ipC)
		vxa.Send(rb)
		vxb.Send(rc)
		expectFrames(t, lb, rb)
		expectFrames(t, lc, rc)
		for _, h := range []*netlab.Host{a, lb.Host, lc.Host} {
			if n := h.VTEP.Stats().Get("drop_vni_not_found"); n != 0 {
				t.Errorf("host %s: %d packets of an unknown VNI", h.Name, n)
			}
		}
	})
}
