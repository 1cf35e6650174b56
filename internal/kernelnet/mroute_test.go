package kernelnet

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/mroute"
)

// mrouteLab makes the selftest's switch (vxlan_bridge_1q_mc_ul.sh) in a
// namespace: a device lo10 with 192.0.2.100 and 2001:db8:4::1, and two
// veths swp2 and swp3, all vifs of a routing socket.
func mrouteLab(t *testing.T, name string) (ns *nstest.NS, m *nstest.Mroute, lo10, swp2, swp3 int) {
	t.Helper()
	nstest.SkipUnlessRoot(t)
	ns = nstest.NewNS(t, name)
	// The selftest's lo10 is a dummy; this kernel may have no dummy
	// driver, and a veth does as well.
	ns.IP(t, "link", "add", "lo10", "up", "type", "veth", "peer", "name", "lo10p")
	ns.IP(t, "link", "set", "lo10p", "up")
	ns.IP(t, "addr", "add", "192.0.2.100/28", "dev", "lo10")
	ns.IP(t, "addr", "add", "2001:db8:4::1/64", "dev", "lo10", "nodad")
	for _, d := range []string{"swp2", "swp3"} {
		ns.IP(t, "link", "add", d, "up", "type", "veth", "peer", "name", d+"p")
		ns.IP(t, "link", "set", d+"p", "up")
	}
	lo10, swp2, swp3 = ns.Ifindex(t, "lo10"), ns.Ifindex(t, "swp2"), ns.Ifindex(t, "swp3")
	m, err := ns.OpenMroute()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for _, d := range []int{lo10, swp2, swp3} {
		if err := m.AddVif(d); err != nil {
			t.Fatal(err)
		}
	}
	return ns, m, lo10, swp2, swp3
}

func dumpMroutesIn(t *testing.T, ns *nstest.NS) MulticastRoutes {
	t.Helper()
	var mr MulticastRoutes
	if err := ns.Do(func() (err error) { mr, err = DumpMulticastRoutes(); return err }); err != nil {
		t.Fatal(err)
	}
	return mr
}

// TestDumpMulticastRoutesReadsTheCache: the dump has the (S, G) and (*, G)
// entries of both families that a routing socket installed, with their
// interfaces, and the vifs as devices with mc_forwarding.
func TestDumpMulticastRoutesReadsTheCache(t *testing.T) {
	ns, m, lo10, swp2, swp3 := mrouteLab(t, "mrd")
	g4, s4 := netip.MustParseAddr("233.252.0.1"), netip.MustParseAddr("192.0.2.100")
	g6, s6 := netip.MustParseAddr("ff0e::1:2:3"), netip.MustParseAddr("2001:db8:4::1")
	for _, e := range []struct{ src, grp netip.Addr }{{s4, g4}, {netip.IPv4Unspecified(), g4}, {s6, g6}} {
		if err := m.AddMFC(e.src, e.grp, lo10, swp2, swp3); err != nil {
			t.Fatal(err)
		}
	}
	mr := dumpMroutesIn(t, ns)
	oifs := []mroute.OIF{{Ifindex: swp2, TTL: 1}, {Ifindex: swp3, TTL: 1}}
	want := []mroute.Route{
		{Family: mroute.FamilyIPMR, Table: mroute.TableDefault, Source: s4, Group: g4, IIF: lo10, OIFs: oifs},
		{Family: mroute.FamilyIPMR, Table: mroute.TableDefault, Source: netip.IPv4Unspecified(), Group: g4, IIF: lo10, OIFs: oifs},
		{Family: mroute.FamilyIP6MR, Table: mroute.Table6Main, Source: s6, Group: g6, IIF: lo10, OIFs: oifs},
	}
	for _, w := range want {
		if !slices.ContainsFunc(mr.Routes, func(r mroute.Route) bool { return reflect.DeepEqual(r, w) }) {
			t.Errorf("dump has no %+v:\n%+v", w, mr.Routes)
		}
	}
	if len(mr.Routes) != len(want) {
		t.Errorf("dump has %d routes, want %d: %+v", len(mr.Routes), len(want), mr.Routes)
	}
	tab := mroute.New(mr.Routes, mr.Devices)
	for _, v6 := range []bool{false, true} {
		for _, d := range []int{lo10, swp2, swp3} {
			if !tab.Vif(v6, d) {
				t.Errorf("device %d is not a vif (IPv6 %v): %+v", d, v6, mr.Devices)
			}
		}
	}
	if a, outs := tab.Output(nil, s4, g4, lo10, 16); a != mroute.Forward || !slices.Equal(outs, []int{swp3, swp2}) {
		t.Errorf("Output = %v %v", a, outs)
	}
	// The route to a group from the dummy's address leaves by the dummy
	// (__ip_route_output_key: a multicast destination takes the source's
	// device).
	var dev int
	err := ns.Do(func() error {
		h, err := Open()
		if err != nil {
			return err
		}
		defer h.Close()
		dev, err = h.RouteDevice(g4, s4)
		return err
	})
	if err != nil || dev != lo10 {
		t.Errorf("RouteDevice(%v, %v) = %d, %v; want lo10 (%d)", g4, s4, dev, err, lo10)
	}
}

// TestWatchMulticastRoutesSeesChanges: an entry added after the watch
// started, and the routing socket closing (which flushes the cache and the
// vifs), each bring a new call of fn.
func TestWatchMulticastRoutesSeesChanges(t *testing.T) {
	ns, m, lo10, swp2, _ := mrouteLab(t, "mrw")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan MulticastRoutes, 64)
	err := ns.Do(func() error {
		return WatchMulticastRoutes(ctx, func(mr MulticastRoutes) {
			select {
			case calls <- mr:
			case <-ctx.Done():
			}
		}, func(err error) { t.Errorf("watch error: %v", err) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if mr := <-calls; len(mr.Routes) != 0 || len(mr.Devices) != 6 {
		t.Errorf("first call: %d routes, %d devices; want 0 and 6 (3 vifs, 3 mifs)", len(mr.Routes), len(mr.Devices))
	}
	g := netip.MustParseAddr("233.252.0.1")
	if err := m.AddMFC(netip.MustParseAddr("192.0.2.100"), g, lo10, swp2); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, calls, "the new (S, G)", func(mr MulticastRoutes) bool {
		return len(mr.Routes) == 1 && mr.Routes[0].Group == g && mr.Routes[0].IIF == lo10
	})
	m.Close()
	waitEvent(t, calls, "no routes and no vifs", func(mr MulticastRoutes) bool {
		return len(mr.Routes) == 0 && len(mr.Devices) == 0
	})
}
