package fdb

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// TestConcurrentLookupWhileLearning runs lock-free lookups and learning of
// known addresses against writers that create, migrate, delete, flush and
// age entries (forcing index growth, shrinking and tombstone purges). Run
// it with -race. Readers check that whatever they get is consistent: the
// entry has the key asked for and a non-empty remote list whose first IP is
// one the writers use.
func TestConcurrentLookupWhileLearning(t *testing.T) {
	tb, clk := newTable(t, func(c *Config) { c.Remote = ip3; c.Ageing = 30 * time.Second })
	const nMAC = 2048
	macOf := func(i int) header.MAC { return header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }
	srcs := []netip.Addr{ip1, ip2}
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	var stop atomic.Bool
	var readers, writers sync.WaitGroup
	var hits, misses atomic.Int64
	for r := range 2 {
		readers.Go(func() {
			for i := 0; !stop.Load(); i++ {
				mac := macOf((i*7 + r) % nMAC)
				e, _ := tb.Resolve(mac, devVNI)
				if e == nil {
					misses.Add(1)
					continue
				}
				if k := e.Key(); k.MAC != mac && !k.MAC.IsZero() {
					t.Errorf("Resolve(%v) returned %v", mac, k)
					return
				}
				rs := e.Remotes()
				if len(rs) == 0 || (rs[0].IP != ip1 && rs[0].IP != ip2 && rs[0].IP != ip3) {
					t.Errorf("entry %v has remotes %v", e.Key(), rs)
					return
				}
				hits.Add(1)
				if i%3 == 0 {
					tb.Learn(mac, devVNI, rs[0].IP, 0) // usually known: lock-free path
				}
			}
		})
	}
	writers.Go(func() {
		for i := range iters {
			tb.Learn(macOf(i%nMAC), devVNI, srcs[(i/nMAC)%2], 0) // create, then migrate on the next lap
		}
	})
	writers.Go(func() {
		for i := range iters / 4 {
			mac := macOf((i * 13) % nMAC)
			switch i % 5 {
			case 0:
				tb.Delete(Request{MAC: mac})
			case 1:
				tb.Replace(static(mac, ip2))
			case 2:
				clk.advance(time.Second)
				tb.Tick()
				tb.Sweep(clk.now())
			case 3:
				if i%50 == 3 {
					tb.FlushDown()
				}
			case 4:
				for range tb.Neighs() {
				}
			}
		}
	})
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	t.Logf("reader hits %d misses %d, %d entries left", hits.Load(), misses.Load(), tb.Len())
	n := 0
	for range tb.Entries() {
		n++
	}
	if n != tb.Len() {
		t.Fatalf("list has %d entries, Len %d", n, tb.Len())
	}
	for e := range tb.Entries() {
		if tb.find(e.Key()) != e {
			t.Fatalf("entry %v in list but not in index", e.Key())
		}
	}
}
