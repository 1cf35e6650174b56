package vtep_test

import (
	"maps"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/fastpath"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/vtep"
)

// fakeFast is a vtep.FastPath whose one program's table is a map.
type fakeFast struct {
	mu       sync.Mutex
	attached int // programs attached and not closed
	table    map[header.MAC]fastpath.Dest
	stats    fastpath.Stats
}

func (f *fakeFast) AttachTX(name string) (vtep.FastTX, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached++
	f.table = map[header.MAC]fastpath.Dest{}
	return fakeTX{f}, nil
}

func (f *fakeFast) Route(dst netip.Addr) (int, int) {
	if dst.Is4() {
		return 5, 1500
	}
	return 0, 0
}

func (f *fakeFast) snapshot() (int, map[header.MAC]fastpath.Dest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attached, maps.Clone(f.table)
}

type fakeTX struct{ f *fakeFast }

func (x fakeTX) Set(mac header.MAC, d fastpath.Dest) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.table[mac] = d
	return nil
}

func (x fakeTX) Delete(mac header.MAC) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	delete(x.f.table, mac)
	return nil
}

func (x fakeTX) Stats() (fastpath.Stats, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	return x.f.stats, nil
}

func (x fakeTX) Close() error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.attached--
	x.f.table = nil
	return nil
}

// TestFastPathTableFollowsFDB: the kernel transmit path's table holds
// exactly the FDB entries it can send to as vxlan_xmit_one would, with the
// outer header fields xmit uses: a single unicast IPv4 remote that is not
// one of the host's addresses (local bypass) and has a route; not a
// multicast remote, nor the all-zeros entry (flooding, head-end
// replication). It follows adds, deletes and replaces, is detached when
// the link goes down or its configuration makes it ineligible (tos
// inherit),
// and its counters are added to the link's.
func TestFastPathTableFollowsFDB(t *testing.T) {
	fake := &fakeFast{}
	opts := netlab.Options{Host: func(name string, o *vtep.HostOptions) { o.FastPath = fake }}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		l := h.MustAddLink(t, "vx0", "id 42 local 192.0.2.1 dstport 4789 ttl 20 tos 0x10 df set srcport 1000 2000")
		mac := func(b byte) header.MAC { return header.MAC{0x02, 0, 0, 0, 0, b} }
		add := func(op func(fdb.Request) error, m header.MAC, dst string) {
			t.Helper()
			if err := op(fdb.Request{MAC: m, State: fdb.StatePermanent, Dst: netip.MustParseAddr(dst)}); err != nil {
				t.Fatalf("%v → %s: %v", m, dst, err)
			}
		}
		add(l.FDB().Add, mac(1), "192.0.2.2")
		add(l.FDB().Add, mac(2), "192.0.2.3")
		add(l.FDB().Add, mac(3), "239.1.1.1") // multicast
		add(l.FDB().Add, mac(4), "192.0.2.1") // this host: local bypass
		add(l.FDB().Add, header.ZeroMAC, "192.0.2.9")
		synctest.Wait()
		n, table := fake.snapshot()
		want := fastpath.Dest{
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
			Port: 4789, VNI: 42, TTL: 20, TOS: 0x10, DF: true,
			Ifindex: 5, MaxLen: 1500 - fastpath.HeaderLen + header.EthernetSize,
			PortMin: 1000, PortMax: 2000,
		}
		if n != 1 || len(table) != 2 || table[mac(1)] != want || table[mac(2)].Dst != netip.MustParseAddr("192.0.2.3") {
			t.Fatalf("attached %d, table %+v; want one program with %v → %+v and %v", n, table, mac(1), want, mac(2))
		}

		add(l.FDB().Replace, mac(1), "192.0.2.7")
		if err := l.FDB().Delete(fdb.Request{MAC: mac(2)}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		_, table = fake.snapshot()
		want.Dst = netip.MustParseAddr("192.0.2.7")
		if len(table) != 1 || table[mac(1)] != want {
			t.Fatalf("after replace and delete: table %+v", table)
		}

		// Counters reach the link's at the next rebuild.
		fake.mu.Lock()
		fake.stats = fastpath.Stats{Packets: 10, Bytes: 15000}
		fake.mu.Unlock()
		add(l.FDB().Add, mac(2), "192.0.2.3")
		synctest.Wait()
		if st := l.Stats(); st.Get("tx_ebpf_packets") != 10 || st.Get("tx_ebpf_bytes") != 15000 || st.Get("tx_bytes") < 15000 {
			t.Errorf("tx_ebpf_packets %d, tx_ebpf_bytes %d, tx_bytes %d; want 10, 15000, ≥ 15000",
				st.Get("tx_ebpf_packets"), st.Get("tx_ebpf_bytes"), st.Get("tx_bytes"))
		}

		// "tos inherit" takes the link off the fast path; and back.
		cfg := l.Config()
		cfg.TOS = config.TOSInherit
		if err := l.Change(cfg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n, _ := fake.snapshot(); n != 0 {
			t.Fatalf("%d programs attached to a tos inherit link", n)
		}
		cfg.TOS = 0x10
		if err := l.Change(cfg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n, table := fake.snapshot(); n != 1 || len(table) != 2 {
			t.Fatalf("tos 0x10 again: attached %d, table %+v", n, table)
		}

		if err := l.SetUp(false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n, _ := fake.snapshot(); n != 0 {
			t.Fatalf("%d programs attached to a link that is down", n)
		}
	})
}
