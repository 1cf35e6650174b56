package main

import (
	"net/netip"
	"testing"
	"time"
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
	})
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
