package mroute

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

var (
	local  = netip.MustParseAddr("192.0.2.100")
	group4 = netip.MustParseAddr("233.252.0.1")
	any4   = netip.IPv4Unspecified()
	local6 = netip.MustParseAddr("2001:db8:4::1")
	group6 = netip.MustParseAddr("ff0e::1:2:3")
	any6   = netip.IPv6Unspecified()
)

// Device numbers of the selftest's switch (vxlan_bridge_1q_mc_ul.sh).
const (
	lo10 = 10 // the dummy the vxlan devices use as dev
	swp2 = 2
	swp3 = 3
	swp1 = 1
	lo   = 1000
)

func route4(src, grp netip.Addr, iif int, oifs ...int) Route {
	r := Route{Family: FamilyIPMR, Table: TableDefault, Source: src, Group: grp, IIF: iif}
	for _, o := range oifs {
		r.OIFs = append(r.OIFs, OIF{Ifindex: o, TTL: 1})
	}
	return r
}

func vifs(v6 bool, devs ...int) []Netconf {
	var ns []Netconf
	for _, d := range devs {
		f := uint8(afInet)
		if v6 {
			f = afInet6
		}
		ns = append(ns, Netconf{Family: f, Ifindex: d, MCForwarding: true, HasMCForwarding: true})
	}
	return ns
}

// decisionCase is a case of a routing decision: a table of routes and
// vifs, a packet, and what is done with it.
type decisionCase struct {
	name   string
	routes []Route
	vifs   []Netconf
	src    netip.Addr
	grp    netip.Addr
	dev    int
	ttl    uint8
	action Action
	outs   []int
}

// runDecisions checks decide, Output or Resolve, against each case.
func runDecisions(t *testing.T, name string, decide func(*Table, []int, netip.Addr, netip.Addr, int, uint8) (Action, []int), cases []decisionCase) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a, outs := decide(New(tt.routes, tt.vifs), nil, tt.src, tt.grp, tt.dev, tt.ttl)
			if a != tt.action || !slices.Equal(outs, tt.outs) {
				t.Errorf("%s = %v %v, want %v %v", name, a, outs, tt.action, tt.outs)
			}
		})
	}
}

// TestOutputFollowsIPMROutput checks Table.Output against ip_mr_output
// (net/ipv4/ipmr.c) and ip6_mr_output, with the selftest's configurations
// (tools/testing/selftests/net/forwarding/vxlan_bridge_1q_mc_ul.sh).
func TestOutputFollowsIPMROutput(t *testing.T) {
	all := vifs(false, lo10, swp1, swp2, swp3, lo)
	tests := []decisionCase{
		{"(S,G) forwards out of its oifs, highest vif first", []Route{route4(local, group4, lo10, swp2, swp3)}, all,
			local, group4, lo10, 16, Forward, []int{swp3, swp2}},
		{"TTL must exceed the threshold (ttl 1 vs 1)", []Route{route4(local, group4, lo10, swp2, swp3)}, all,
			local, group4, lo10, 1, Forward, nil},
		{"(S,G) with another iif: ip_mc_output (adf_install_broken_sg)", []Route{route4(local, group4, swp2, swp1, swp3)}, all,
			local, group4, lo10, 16, Output, nil},
		{"no entry, dev is a vif: unresolved (ipmr_cache_unresolved)", nil, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"no entry, dev not a vif: ip_mc_output", nil, vifs(false, swp2),
			local, group4, lo10, 16, Output, nil},
		{"dev without mc_forwarding: route output is ip_mc_output", []Route{route4(local, group4, lo10, swp2)}, vifs(false, swp2),
			local, group4, lo10, 16, Output, nil},
		{"224.0.0.0/24 is never multicast-routed", []Route{route4(local, netip.MustParseAddr("224.0.0.5"), lo10, swp2)}, all,
			local, netip.MustParseAddr("224.0.0.5"), lo10, 16, Output, nil},
		{"(*,G) with dev as an oif (mr_mfc_find_any)", []Route{route4(any4, group4, lo10, lo10, swp2)}, all,
			local, group4, lo10, 16, Forward, []int{swp2, lo10}},
		{"(*,G) without dev as an oif: unresolved", []Route{route4(any4, group4, lo10, swp2, swp3)}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"(*,G) whose parent is in a (*,*) tree with dev", []Route{route4(any4, group4, lo10, swp2), route4(any4, any4, swp1, swp1, lo10)}, all,
			local, group4, lo10, 16, Forward, []int{swp2}},
		{"(*,*) with dev as an oif sends up its parent only", []Route{route4(any4, any4, lo10, lo10, swp2)}, all,
			local, group4, lo10, 16, Forward, []int{lo10}},
		{"(*,*) with another parent: ip_mc_output", []Route{route4(any4, any4, swp1, lo10, swp2)}, all,
			local, group4, lo10, 16, Output, nil},
		{"(S,G) for another source: unresolved", []Route{route4(netip.MustParseAddr("192.0.2.120"), group4, lo, swp2, swp3)}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"TX!=RX: the source's device is the iif (fdb_oif0_sep)", []Route{route4(netip.MustParseAddr("192.0.2.120"), group4, lo, swp2, swp3)}, all,
			netip.MustParseAddr("192.0.2.120"), group4, lo, 16, Forward, []int{swp3, swp2}},
		{"per-oif thresholds", []Route{{Family: FamilyIPMR, Table: TableDefault, Source: local, Group: group4, IIF: lo10,
			OIFs: []OIF{{swp1, 8}, {swp2, 1}, {swp3, 16}}}}, all,
			local, group4, lo10, 16, Forward, []int{swp2, swp1}},
		{"another table is not used", []Route{{Family: FamilyIPMR, Table: 100, Source: local, Group: group4, IIF: lo10, OIFs: []OIF{{swp2, 1}}}}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"an unresolved entry is not a cache entry", []Route{{Family: FamilyIPMR, Table: TableDefault, Source: local, Group: group4, Unresolved: true}}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"unicast is not multicast-routed", []Route{route4(local, group4, lo10, swp2)}, all,
			local, netip.MustParseAddr("192.0.2.34"), lo10, 16, Output, nil},
		{"IPv6 (S,G) (ip6_mr_output)", []Route{{Family: FamilyIP6MR, Table: Table6Main, Source: local6, Group: group6, IIF: lo10,
			OIFs: []OIF{{swp2, 1}, {swp3, 1}}}}, vifs(true, lo10, swp2, swp3),
			local6, group6, lo10, 16, Forward, []int{swp3, swp2}},
		{"IPv6 vifs are apart from IPv4 ones", nil, all,
			local6, group6, lo10, 16, Output, nil},
		{"IPv6 no entry, dev a mif: unresolved", nil, vifs(true, lo10),
			local6, group6, lo10, 16, Unresolved, nil},
		{"IPv6 (S,G) with dev not a mif: ip6_output", []Route{{Family: FamilyIP6MR, Table: Table6Main, Source: local6, Group: group6, IIF: swp2,
			OIFs: []OIF{{swp3, 1}}}}, vifs(true, swp2, swp3),
			local6, group6, lo10, 16, Output, nil},
	}
	runDecisions(t, "Output", (*Table).Output, tests)
}

func TestOutputOfNilTable(t *testing.T) {
	var tab *Table
	if a, outs := tab.Output(nil, local, group4, lo10, 16); a != Output || outs != nil {
		t.Errorf("nil table: %v %v", a, outs)
	}
	if tab.Len() != 0 || tab.Vif(false, lo10) {
		t.Error("nil table has routes or vifs")
	}
}

func TestOutputDoesNotAllocate(t *testing.T) {
	tab := New([]Route{route4(local, group4, lo10, swp2, swp3)}, vifs(false, lo10, swp2, swp3))
	outs := make([]int, 0, 8)
	n := testing.AllocsPerRun(100, func() { _, outs = tab.Output(outs[:0], local, group4, lo10, 16) })
	if n != 0 {
		t.Errorf("Output allocates %v times", n)
	}
}

func TestParseRouteRoundTrip(t *testing.T) {
	for _, r := range []Route{
		route4(local, group4, lo10, swp2, swp3),
		route4(any4, group4, lo10),
		{Family: FamilyIP6MR, Table: Table6Main, Source: local6, Group: group6, IIF: lo10, OIFs: []OIF{{swp2, 3}}},
		{Family: FamilyIPMR, Table: 1000, Source: local, Group: group4, Unresolved: true},
	} {
		got, err := ParseRoute(AppendRoute(nil, &r))
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
	good := AppendRoute(nil, &Route{Family: FamilyIPMR, Table: TableDefault, Source: local, Group: group4, IIF: 1, OIFs: []OIF{{2, 1}}})
	bad := map[string][]byte{
		"short header":       good[:RouteMessageSize-1],
		"truncated attr":     good[:len(good)-2],
		"wrong address size": append(append([]byte{}, good[:RouteMessageSize]...), 6, 0, 1, 0, 1, 2, 0, 0),
	}
	for name, b := range bad {
		if _, err := ParseRoute(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ParseRoute(append([]byte{2}, good[1:]...)); err != ErrNotMulticast {
		t.Errorf("AF_INET route: %v, want ErrNotMulticast", err)
	}
}

func TestParseNetconfRoundTrip(t *testing.T) {
	for _, n := range []Netconf{
		{Family: afInet, Ifindex: 7, MCForwarding: true, HasMCForwarding: true},
		{Family: afInet6, Ifindex: -1},
	} {
		got, err := ParseNetconf(AppendNetconf(nil, &n))
		if err != nil || got != n {
			t.Errorf("round trip of %+v: %+v, %v", n, got, err)
		}
	}
	if _, err := ParseNetconf([]byte{2, 0, 0, 0}); err == nil {
		t.Error("no NETCONFA_IFINDEX: no error")
	}
}

func FuzzParseRoute(f *testing.F) {
	f.Add(AppendRoute(nil, &Route{Family: FamilyIPMR, Table: TableDefault, Source: local, Group: group4, IIF: 1, OIFs: []OIF{{2, 1}, {3, 1}}}))
	f.Add(AppendRoute(nil, &Route{Family: FamilyIP6MR, Table: Table6Main, Source: local6, Group: group6, IIF: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoute(b)
		if err != nil {
			return
		}
		again, err := ParseRoute(AppendRoute(nil, &r))
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", r, err)
		}
		if r.Unresolved {
			r.IIF, r.OIFs = 0, nil
		}
		if again.Family != r.Family || again.Source != r.Source || again.Group != r.Group || again.IIF != r.IIF || len(again.OIFs) != len(r.OIFs) {
			t.Fatalf("round trip: %+v became %+v", r, again)
		}
		New([]Route{r}, nil).Output(nil, r.Source, r.Group, r.IIF, 255)
	})
}

func FuzzParseNetconf(f *testing.F) {
	f.Add(AppendNetconf(nil, &Netconf{Family: afInet, Ifindex: 3, MCForwarding: true, HasMCForwarding: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNetconf(b)
		if err != nil {
			return
		}
		if again, err := ParseNetconf(AppendNetconf(nil, &n)); err != nil || again != n {
			t.Fatalf("round trip of %+v: %+v, %v", n, again, err)
		}
	})
}

// TestResolveFollowsIPMRCacheResolve checks Table.Resolve, what becomes of
// a held packet, against ipmr_mfc_add → ipmr_cache_resolve → ip_mr_forward
// (net/ipv4/ipmr.c) and their IPv6 twins: only an (S, G) entry of exactly
// the packet's source and group releases it, through the forwarding path,
// which drops a packet of the host's own on the wrong interface and, for
// an (S, G) entry, sends out of every oif whose threshold is below the TTL.
func TestResolveFollowsIPMRCacheResolve(t *testing.T) {
	all := vifs(false, lo10, swp1, swp2, swp3, lo)
	tests := []decisionCase{
		{"(S,G) sends out of its oifs, highest vif first", []Route{route4(local, group4, lo10, swp2, swp3)}, all,
			local, group4, lo10, 16, Forward, []int{swp3, swp2}},
		{"(S,G) with dev as an oif sends out of dev too", []Route{route4(local, group4, lo10, lo10, swp2)}, all,
			local, group4, lo10, 16, Forward, []int{swp2, lo10}},
		{"TTL must exceed the threshold", []Route{route4(local, group4, lo10, swp2, swp3)}, all,
			local, group4, lo10, 1, Forward, nil},
		{"(S,G) with another iif: dropped (wrong interface)", []Route{route4(local, group4, swp2, swp1, swp3)}, all,
			local, group4, lo10, 16, Forward, nil},
		{"no entry yet: still held", nil, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"(*,G) does not resolve a held (S,G)", []Route{route4(any4, group4, lo10, lo10, swp2)}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"(*,*) does not resolve a held (S,G)", []Route{route4(any4, any4, lo10, lo10, swp2)}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"(S,G) of another source: still held", []Route{route4(netip.MustParseAddr("192.0.2.120"), group4, lo10, swp2)}, all,
			local, group4, lo10, 16, Unresolved, nil},
		{"no vif left: flushed (mroute_clean_tables)", []Route{route4(local, group4, lo10, swp2)}, nil,
			local, group4, lo10, 16, Forward, nil},
		{"IPv6 (S,G) (ip6mr_cache_resolve)", []Route{{Family: FamilyIP6MR, Table: Table6Main, Source: local6, Group: group6, IIF: lo10,
			OIFs: []OIF{{swp2, 1}, {swp3, 1}}}}, vifs(true, lo10, swp2, swp3),
			local6, group6, lo10, 16, Forward, []int{swp3, swp2}},
		{"IPv6 no entry: still held", nil, vifs(true, lo10),
			local6, group6, lo10, 16, Unresolved, nil},
		{"IPv6 with only IPv4 vifs: flushed", nil, all,
			local6, group6, lo10, 16, Forward, nil},
	}
	runDecisions(t, "Resolve", (*Table).Resolve, tests)
	var nilTab *Table
	if a, outs := nilTab.Resolve(nil, local, group4, lo10, 16); a != Forward || outs != nil {
		t.Errorf("nil table: Resolve = %v %v, want a drop", a, outs)
	}
}
