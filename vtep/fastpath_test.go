package vtep_test

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/fastpath"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/vtep"
)

// fakeFast is a vtep.FastPath whose programs' tables are maps.
type fakeFast struct {
	mu       sync.Mutex
	attached int // programs attached and not closed
	table    map[header.MAC]fastpath.Dest
	stats    fastpath.Stats
	txUsed   map[header.MAC]bool // destinations Used reports once

	rxLoads  int // receive programs loaded
	rxOpen   int // and not closed
	rxCfg    fastpath.RXConfig
	rxTable  map[header.MAC]netip.Addr
	rxIfs    map[int]bool
	rxStats  fastpath.Stats
	rxActive map[header.MAC]bool // sources Seen reports every time: steady traffic
}

func (f *fakeFast) LoadRX(name string, cfg fastpath.RXConfig) (vtep.FastRX, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rxLoads++
	f.rxOpen++
	f.rxCfg = cfg
	f.rxTable, f.rxIfs = map[header.MAC]netip.Addr{}, map[int]bool{}
	return fakeRX{f}, nil
}

func (f *fakeFast) rxSnapshot() (open int, table map[header.MAC]netip.Addr, ifs map[int]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rxOpen, maps.Clone(f.rxTable), maps.Clone(f.rxIfs)
}

type fakeRX struct{ f *fakeFast }

func (x fakeRX) Attach(i int) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.rxIfs[i] = true
	return nil
}
func (x fakeRX) Detach(i int) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	delete(x.f.rxIfs, i)
	return nil
}

func (x fakeRX) Set(mac header.MAC, r netip.Addr) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.rxTable[mac] = r
	return nil
}

func (x fakeRX) Delete(mac header.MAC) error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	delete(x.f.rxTable, mac)
	return nil
}

func (x fakeRX) Seen() ([]header.MAC, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	var out []header.MAC
	for mac := range x.f.rxActive {
		if _, ok := x.f.rxTable[mac]; ok {
			out = append(out, mac)
		}
	}
	return out, nil
}

func (x fakeRX) Stats() (fastpath.Stats, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	return x.f.rxStats, nil
}

func (x fakeRX) Close() error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.rxOpen--
	x.f.rxTable, x.f.rxIfs = nil, nil
	return nil
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

func (x fakeTX) Used() ([]header.MAC, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	out := slices.Collect(maps.Keys(x.f.txUsed))
	clear(x.f.txUsed)
	return out, nil
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

		// What the program sent to has its "used" time refreshed
		// (vxlan_find_mac_tx) within fastSyncInterval; other entries
		// keep theirs.
		usedAt := func(m header.MAC) int64 {
			for e := range l.FDB().Entries() {
				if e.Key().MAC == m {
					return e.Used()
				}
			}
			t.Fatalf("no entry for %v", m)
			return 0
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		before := usedAt(mac(1))
		fake.mu.Lock()
		fake.txUsed = map[header.MAC]bool{mac(1): true}
		fake.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := time.Duration(usedAt(mac(1)) - before); got < 10*time.Second {
			t.Errorf("used time of a destination the program sent to moved by %v, want ≥ 10s", got)
		}
		if got := time.Duration(usedAt(mac(1)) - usedAt(header.ZeroMAC)); got < 10*time.Second {
			t.Errorf("the program's destination was used %v after the flood entry, want ≥ 10s", got)
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

// TestFastPathReceiveTableFollowsFDB: the kernel receive path takes frames
// only from sources learning would leave alone: with learning, each FDB
// entry's MAC address behind its first remote (vxlan_snoop compares the
// outer source with it), never the link's own address (vxlan_set_mac
// drops those), nor one behind a remote "via" an interface; without
// learning, from anywhere. It is attached to the
// devices of the routes to the remotes, loaded again when the local
// address changes, and its counters are added to the link's. Sources it reports
// seen are refreshed as vxlan_snoop refreshes them, so that a learned
// entry in steady use over the kernel path does not age out, and one
// that falls silent does.
func TestFastPathReceiveTableFollowsFDB(t *testing.T) {
	fake := &fakeFast{}
	opts := netlab.Options{Host: func(name string, o *vtep.HostOptions) { o.FastPath = fake }}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		l := h.MustAddLink(t, "vx0", "id 42 local 192.0.2.1 dstport 4789 ageing 30")
		mac := func(b byte) header.MAC { return header.MAC{0x02, 0, 0, 0, 0, b} }
		for m, dst := range map[header.MAC]string{mac(1): "192.0.2.2", mac(3): "239.1.1.1", l.MAC(): "192.0.2.4"} {
			if err := l.FDB().Add(fdb.Request{MAC: m, State: fdb.StatePermanent, Dst: netip.MustParseAddr(dst)}); err != nil {
				t.Fatal(err)
			}
		}
		// A remote via an interface: learning would compare it too.
		if err := l.FDB().Add(fdb.Request{MAC: mac(6), State: fdb.StatePermanent, Dst: netip.MustParseAddr("192.0.2.6"), Ifindex: 1}); err != nil {
			t.Fatal(err)
		}
		l.FDB().Learn(mac(5), 42, netip.MustParseAddr("192.0.2.5"), 0)
		synctest.Wait()
		open, table, ifs := fake.rxSnapshot()
		want := map[header.MAC]netip.Addr{mac(1): netip.MustParseAddr("192.0.2.2"), mac(5): netip.MustParseAddr("192.0.2.5")}
		if open != 1 || !maps.Equal(table, want) || !maps.Equal(ifs, map[int]bool{5: true}) {
			t.Fatalf("open %d, table %v, attached to %v; want 1, %v, [5]", open, table, ifs, want)
		}
		if c := fake.rxCfg; c.Local != netip.MustParseAddr("192.0.2.1") || c.Port != 4789 || c.VNI != 42 {
			t.Errorf("loaded with %+v", c)
		}

		// Steady traffic from mac(5) through the program keeps it.
		fake.mu.Lock()
		fake.rxActive = map[header.MAC]bool{mac(5): true}
		fake.rxStats = fastpath.Stats{Packets: 7, Bytes: 7000}
		fake.mu.Unlock()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if e, _ := l.FDB().Get(mac(5), 42); e == nil {
			t.Fatal("a learned entry the receive program kept using aged out")
		}
		if st := l.Stats(); st.Get("rx_ebpf_packets") != 7 || st.Get("rx_ebpf_bytes") != 7000 || st.Get("rx_packets") < 7 {
			t.Errorf("rx_ebpf_packets %d, rx_ebpf_bytes %d, rx_packets %d; want 7, 7000, ≥ 7",
				st.Get("rx_ebpf_packets"), st.Get("rx_ebpf_bytes"), st.Get("rx_packets"))
		}
		// Silence ages it out, and out of the table.
		fake.mu.Lock()
		fake.rxActive = nil
		fake.mu.Unlock()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if e, _ := l.FDB().Get(mac(5), 42); e != nil {
			t.Fatal("a silent learned entry did not age out")
		}
		if _, table, _ := fake.rxSnapshot(); len(table) != 1 || table[mac(1)] != netip.MustParseAddr("192.0.2.2") {
			t.Errorf("after ageing: table %v", table)
		}

		// Without learning: any source.
		cfg := l.Config()
		cfg.NoLearning = true
		if err := l.Change(cfg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, table, _ := fake.rxSnapshot(); !maps.Equal(table, map[header.MAC]netip.Addr{mac(1): {}, mac(3): {}, mac(6): {}}) {
			t.Errorf("nolearning: table %v; want %v, %v and %v from anywhere", table, mac(1), mac(3), mac(6))
		}

		// Another local address: another program.
		cfg.Local = netip.MustParseAddr("192.0.2.9")
		if err := l.Change(cfg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if open, _, _ := fake.rxSnapshot(); open != 1 || fake.rxLoads != 2 || fake.rxCfg.Local != cfg.Local {
			t.Errorf("after a change of local address: %d open, %d loaded, local %v", open, fake.rxLoads, fake.rxCfg.Local)
		}
		if err := l.SetUp(false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if open, _, _ := fake.rxSnapshot(); open != 0 {
			t.Fatalf("%d receive programs open on a link that is down", open)
		}
	})
}
