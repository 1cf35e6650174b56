package main

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/mroute"
)

// TestMCRouterReportsEveryPacket: every packet the datapath reports
// reaches the kernel, with its interface, even the same (S, G) again at
// once: the kernel counts each in its cache entry (ip_mr_output_finish)
// and holds each while unresolved (ipmr_cache_unresolved), and it asks
// its daemon only once per (S, G) by itself.
func TestMCRouterReportsEveryPacket(t *testing.T) {
	type report struct {
		pkt []byte
		oif int
	}
	var got []report
	r := newMCRouter(nil, func(pkt []byte, oif int) error {
		got = append(got, report{pkt, oif})
		return nil
	}, nil)
	want := []report{
		{[]byte{0x45, 1}, 10},
		{[]byte{0x45, 2}, 10},
		{[]byte{0x45, 3}, 0},
		{[]byte{0x60, 4}, 10},
	}
	for _, w := range want {
		s, g := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("233.252.0.1")
		if w.pkt[0] == 0x60 {
			s, g = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff0e::1:2:3")
		}
		r.Report(s, g, w.oif, w.pkt)
	}
	if !slices.EqualFunc(got, want, func(a, b report) bool { return slices.Equal(a.pkt, b.pkt) && a.oif == b.oif }) {
		t.Errorf("reported %v, want %v", got, want)
	}
}

// TestMCRouterResolvesHeldPacketsByTheRouteDevice: a held packet that had
// no output interface is resolved against the device its route goes out
// of, as the kernel queued it with that device (ip_mr_output: skb->dev =
// rt->dst.dev), and its copies are sent through the system.
func TestMCRouterResolvesHeldPacketsByTheRouteDevice(t *testing.T) {
	src, group := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("233.252.0.1")
	var sent []int
	r := newMCRouter(func(dst, s netip.Addr) (int, error) { return 10, nil }, nil,
		func(pkt []byte, oif int) error { sent = append(sent, oif); return nil })
	var vifs []mroute.Netconf
	for _, d := range []int{10, 2, 3} {
		vifs = append(vifs, mroute.Netconf{Family: 2, Ifindex: d, MCForwarding: true, HasMCForwarding: true})
	}
	sg := mroute.Route{Family: mroute.FamilyIPMR, Table: mroute.TableDefault, Source: src, Group: group,
		IIF: 10, OIFs: []mroute.OIF{{Ifindex: 2, TTL: 1}, {Ifindex: 3, TTL: 1}}}
	r.set(kernelnet.MulticastRoutes{Devices: vifs})
	if a, _ := r.ResolveHeld(nil, src, group, 0, 16); a != mroute.Unresolved {
		t.Fatalf("without a route: %v, want unresolved", a)
	}
	r.set(kernelnet.MulticastRoutes{Routes: []mroute.Route{sg}, Devices: vifs})
	if a, outs := r.ResolveHeld(nil, src, group, 0, 16); a != mroute.Forward || !slices.Equal(outs, []int{3, 2}) {
		t.Errorf("as routed: %v %v, want forward [3 2]", a, outs)
	}
	if a, outs := r.ResolveHeld(nil, src, group, 2, 16); a != mroute.Forward || len(outs) != 0 {
		t.Errorf("out of another interface: %v %v, want a drop", a, outs)
	}
	if err := r.SendResolved([]byte{0x45}, 3); err != nil || !slices.Equal(sent, []int{3}) {
		t.Errorf("SendResolved: %v, sent %v", err, sent)
	}
}
