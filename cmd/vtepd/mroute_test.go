package main

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/mroute"
)

// TestMCRouterReportsOncePerInterval: the unresolved packets of one
// (S, G) and interface are reported once per reportEvery, and each other
// (S, G) or interface on its own: the kernel reports an (S, G) once and
// keeps its unresolved entry, so further reports would only cost system
// calls.
func TestMCRouterReportsOncePerInterval(t *testing.T) {
	type report struct {
		src, group string
		oif        int
	}
	var got []report
	r := newMCRouter(nil, func(pkt []byte, oif int) error {
		var s, g netip.Addr
		if pkt[0]>>4 == 4 {
			s, g = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		} else {
			s, g = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		}
		got = append(got, report{s.String(), g.String(), oif})
		return nil
	}, nil)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	pkt := func(src, group string) []byte {
		s, g := netip.MustParseAddr(src), netip.MustParseAddr(group)
		if s.Is4() {
			p := make([]byte, 28)
			p[0] = 0x45
			copy(p[12:], s.AsSlice())
			copy(p[16:], g.AsSlice())
			return p
		}
		p := make([]byte, 48)
		p[0] = 0x60
		copy(p[8:], s.AsSlice())
		copy(p[24:], g.AsSlice())
		return p
	}
	steps := []struct {
		after      time.Duration
		src, group string
		oif        int
		reported   bool
	}{
		{0, "192.0.2.100", "233.252.0.1", 10, true},
		{time.Millisecond, "192.0.2.100", "233.252.0.1", 10, false},
		{0, "192.0.2.100", "233.252.0.2", 10, true},  // another group
		{0, "192.0.2.100", "233.252.0.1", 0, true},   // another interface
		{0, "2001:db8::1", "ff0e::1:2:3", 10, true},  // IPv6
		{0, "2001:db8::1", "ff0e::1:2:3", 10, false}, //
		{reportEvery - 2*time.Millisecond, "192.0.2.100", "233.252.0.1", 10, false},
		{time.Millisecond, "192.0.2.100", "233.252.0.1", 10, true},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		n := len(got)
		r.ReportUnresolved(netip.MustParseAddr(s.src), netip.MustParseAddr(s.group), s.oif, pkt(s.src, s.group))
		if reported := len(got) > n; reported != s.reported {
			t.Errorf("step %d (%s, %s) oif %d: reported %v, want %v", i, s.src, s.group, s.oif, reported, s.reported)
		} else if reported && got[n] != (report{s.src, s.group, s.oif}) {
			t.Errorf("step %d: reported %+v", i, got[n])
		}
	}
	if len(got) != 5 {
		t.Errorf("%d reports, want 5", len(got))
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
