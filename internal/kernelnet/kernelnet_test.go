package kernelnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// TestNeighTableRandom compares NeighTable with a plain map over random
// operations.
func TestNeighTableRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tbl := NewNeighTable()
	model := map[string]map[netip.Addr]Neigh{}
	links := []string{"vx0", "vx1", "vx2"}
	addr := func() netip.Addr {
		if r.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(8))})
		}
		return netip.AddrFrom16([16]byte{0xfd, 15: byte(r.IntN(8))})
	}
	for i := range 5000 {
		l := links[r.IntN(len(links))]
		ip := addr()
		switch r.IntN(10) {
		case 0, 1, 2, 3:
			n := Neigh{MAC: header.MAC{2, 0, 0, 0, 0, byte(r.IntN(256))}, State: uint16(1 << r.IntN(8)), Router: r.IntN(2) == 0}
			tbl.Set(l, ip, n)
			if model[l] == nil {
				model[l] = map[netip.Addr]Neigh{}
			}
			model[l][ip] = n
		case 4, 5:
			tbl.Delete(l, ip)
			delete(model[l], ip)
		case 6:
			tbl.DeleteLink(l)
			delete(model, l)
		default:
			n, ok := tbl.Lookup(l, ip)
			mn, mok := model[l][ip]
			if ok != mok || n != mn {
				t.Fatalf("op %d: Lookup(%s, %v) = %v %v, model %v %v", i, l, ip, n, ok, mn, mok)
			}
		}
		if i%500 == 0 {
			total := 0
			for _, m := range model {
				total += len(m)
			}
			all := tbl.List("")
			if len(all) != total {
				t.Fatalf("op %d: List has %d entries, model %d", i, len(all), total)
			}
			for j := 1; j < len(all); j++ {
				a, b := all[j-1], all[j]
				if a.Link > b.Link || (a.Link == b.Link && a.IP.Compare(b.IP) >= 0) {
					t.Fatalf("List not sorted at %d: %v %v", j, a, b)
				}
			}
			for _, e := range tbl.List(l) {
				if e.Link != l || model[l][e.IP] != e.Neigh {
					t.Fatalf("List(%s) has %v", l, e)
				}
			}
		}
	}
}

func TestNeighTableLookupDoesNotAllocate(t *testing.T) {
	tbl := NewNeighTable()
	ip := netip.MustParseAddr("192.168.42.2")
	tbl.Set("vx0", ip, Neigh{State: 0x80})
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := tbl.Lookup("vx0", ip); !ok {
			panic("missing")
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times", allocs)
	}
}

func BenchmarkNeighTableLookup(b *testing.B) {
	tbl := NewNeighTable()
	ip := netip.MustParseAddr("192.168.42.2")
	tbl.Set("vx0", ip, Neigh{State: 0x80})
	b.ReportAllocs()
	for b.Loop() {
		tbl.Lookup("vx0", ip)
	}
}

// waitEvent reads events until match accepts one.
func waitEvent[E any](t *testing.T, ch <-chan E, what string, match func(E) bool) E {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("no %s event", what)
		}
	}
}

// TestWatchAndHandle checks, in a fresh network namespace, that the
// watchers report what `ip` does to an interface, and that Handle makes
// the changes vtepd makes.
func TestWatchAndHandle(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "kn")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	links := make(chan LinkEvent, 256)
	neighs := make(chan NeighEvent, 256)
	addrs := make(chan AddrEvent, 256)
	var h *Handle
	err := ns.Do(func() error {
		var err error
		if h, err = Open(); err != nil {
			return err
		}
		if err := WatchLinks(ctx, func(e LinkEvent) { links <- e }, nil); err != nil {
			return err
		}
		if err := WatchNeighs(ctx, func(e NeighEvent) { neighs <- e }, nil); err != nil {
			return err
		}
		return WatchAddrs(ctx, func(e AddrEvent) { addrs <- e }, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	ns.IP(t, "link", "add", "dm0", "type", "veth", "peer", "name", "dm1")
	ev := waitEvent(t, links, "dm0 new", func(e LinkEvent) bool { return e.Link.Name == "dm0" && !e.Deleted })
	if ev.Link.IsUp() || ev.Link.Kind != "veth" {
		t.Errorf("dm0 = %+v", ev.Link)
	}
	idx := ev.Link.Index

	if err := h.SetUp(idx, true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, links, "dm0 up", func(e LinkEvent) bool { return e.Link.Index == idx && e.Link.IsUp() })
	if err := h.SetMTU(idx, 1400); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, links, "dm0 mtu", func(e LinkEvent) bool { return e.Link.Index == idx && e.Link.MTU == 1400 })
	mac := header.MustParseMAC("02:00:00:00:00:42")
	if err := h.SetMAC(idx, mac); err != nil {
		t.Fatal(err)
	}
	l, err := h.LinkByName("dm0")
	if err != nil || l.MAC != mac || l.MTU != 1400 || l.Index != idx {
		t.Errorf("LinkByName = %+v, %v", l, err)
	}

	p := netip.MustParsePrefix("192.168.42.1/24")
	if err := h.AddAddr(idx, p); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, addrs, "address", func(e AddrEvent) bool { return e.Ifindex == idx && e.Prefix == p && !e.Deleted })
	as, err := h.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range as {
		found = found || (a.Ifindex == idx && a.Prefix == p)
	}
	if !found {
		t.Errorf("Addrs() = %v, missing %v on %d", as, p, idx)
	}

	// What `ip neigh add ... nud permanent` writes.
	ns.IP(t, "neigh", "add", "192.168.42.2", "lladdr", "02:00:00:00:00:02", "dev", "dm0", "nud", "permanent")
	ne := waitEvent(t, neighs, "neigh", func(e NeighEvent) bool { return e.Ifindex == idx && !e.Deleted })
	if ne.IP != netip.MustParseAddr("192.168.42.2") || ne.MAC != header.MustParseMAC("02:00:00:00:00:02") || ne.State != 0x80 {
		t.Errorf("neigh event = %+v", ne)
	}
	ip6 := netip.MustParseAddr("fd42::3")
	if err := h.SetNeigh(idx, ip6, mac, true); err != nil {
		t.Fatal(err)
	}
	ne = waitEvent(t, neighs, "neigh6", func(e NeighEvent) bool { return e.IP == ip6 })
	if !ne.Router || ne.State != 0x80 || ne.MAC != mac {
		t.Errorf("neigh6 event = %+v", ne)
	}
	if err := h.DelNeigh(idx, ip6); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, neighs, "neigh6 del", func(e NeighEvent) bool { return e.IP == ip6 && e.Deleted })

	ns.IP(t, "link", "del", "dm0")
	waitEvent(t, links, "dm0 del", func(e LinkEvent) bool { return e.Link.Index == idx && e.Deleted })
	if _, err := h.LinkByIndex(idx); !errors.Is(err, ErrNotFound) || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("LinkByIndex after delete: %v", err)
	}
	if err := h.SetUp(idx, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetUp after delete: %v", err)
	}
}
