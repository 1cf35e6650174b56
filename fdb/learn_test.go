package fdb

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// Tests of vxlan_snoop (kernel-vxlan.md §3.3) and the TX lookups of
// vxlan_xmit (§4.1).

func TestLearnInvalidSourceMACIsDropped(t *testing.T) {
	// vxlan_snoop: !is_valid_ether_addr(src_mac) → MAC_INVALID_SOURCE.
	tb, _ := newTable(t, nil)
	for _, m := range []header.MAC{zero, macMC, header.BroadcastMAC} {
		if r := tb.Learn(m, devVNI, ip1, 0); r != LearnInvalidSource || !r.Drop() {
			t.Fatalf("Learn(%v) = %v", m, r)
		}
	}
	if tb.Len() != 0 {
		t.Fatal("invalid source created an entry")
	}
}

func TestLearnCreatesDynamicEntryWithDeviceDefaults(t *testing.T) {
	// vxlan_snoop → vxlan_fdb_update(NUD_REACHABLE, NTF_SELF, port =
	// cfg->dst_port, vni = cfg->vni): the packet's VNI and source port are
	// not copied (quirk 12).
	tb, c := newTable(t, func(c *Config) { c.External = true; c.VNI = 0 })
	if r := tb.Learn(macA, 5000, ip1, 7); r != LearnCreated || r.Drop() {
		t.Fatalf("Learn = %v", r)
	}
	e := tb.Lookup(macA, 5000)
	if e == nil {
		t.Fatal("learned entry not keyed by the frame's VNI")
	}
	wantRemotes(t, e, Remote{IP: ip1, Port: devPort, VNI: 0}) // ifindex dropped: not link-local
	if e.State() != StateReachable || e.Flags() != FlagSelf {
		t.Fatalf("state %#x flags %v", e.State(), e.Flags())
	}
	if e.Updated() != c.now() || e.Used() != c.now() {
		t.Fatalf("updated %d used %d; want %d", e.Updated(), e.Used(), c.now())
	}
}

func TestLearnKnownRefreshesUpdated(t *testing.T) {
	// [NEW] vxlan_snoop: WRITE_ONCE(f->updated, now) on every hit.
	tb, c := newTable(t, nil)
	tb.Learn(macA, devVNI, ip1, 0)
	e := tb.Lookup(macA, devVNI)
	used := e.Used()
	c.advance(42 * time.Second)
	tb.Tick()
	if r := tb.Learn(macA, devVNI, ip1, 0); r != LearnKnown {
		t.Fatalf("Learn = %v", r)
	}
	if e.Updated() != c.now() || e.Used() != used {
		t.Fatalf("updated %d used %d; want updated %d, used %d", e.Updated(), e.Used(), c.now(), used)
	}
}

func TestLearnMigratesDynamicEntryRewritingOnlyIP(t *testing.T) {
	// vxlan_snoop: "rdst->remote_ip = *src_ip" — port, VNI and ifindex stay.
	tb, c := newTable(t, nil)
	r := dynamic(macA, ip1)
	r.Port, r.VNI, r.HasVNI = 8472, 9, true
	wantErr(t, tb.Add(r), nil)
	c.advance(time.Second)
	tb.Tick()
	if res := tb.Learn(macA, devVNI, ip2, 0); res != LearnMigrated || res.Drop() {
		t.Fatalf("Learn = %v", res)
	}
	e := mustGet(t, tb, macA)
	wantRemotes(t, e, Remote{IP: ip2, Port: 8472, VNI: 9})
	if e.Updated() != c.now() {
		t.Fatal("migration must refresh updated")
	}
	if e.State() != StateReachable || e.Flags() != FlagSelf|FlagAddedByUser {
		t.Fatalf("migration changed state %#x flags %v", e.State(), e.Flags())
	}
	if res := tb.Learn(macA, devVNI, ip2, 0); res != LearnKnown {
		t.Fatalf("after migration Learn = %v", res)
	}
}

func TestLearnMigratesExternLearnedEntry(t *testing.T) {
	// Only PERMANENT|NOARP block migration; NTF_EXT_LEARNED does not.
	tb, _ := newTable(t, nil)
	r := dynamic(macA, ip1)
	r.Flags |= FlagExtLearned
	wantErr(t, tb.Add(r), nil)
	if res := tb.Learn(macA, devVNI, ip2, 0); res != LearnMigrated {
		t.Fatalf("Learn = %v", res)
	}
}

func TestLearnStaticEntryFromOtherVTEPIsDropped(t *testing.T) {
	// vxlan_snoop: "Don't migrate static entries, drop packets" (quirk 6).
	for _, s := range []State{StatePermanent, StateNoARP | StateReachable, StateNoARP | StatePermanent, StateReachable | StatePermanent} {
		tb, _ := newTable(t, nil)
		wantErr(t, tb.Add(Request{MAC: macA, State: s, Flags: FlagSelf, Dst: ip1}), nil)
		if r := tb.Learn(macA, devVNI, ip2, 0); r != LearnEntryExists || !r.Drop() {
			t.Fatalf("state %#x: Learn = %v", s, r)
		}
		wantRemotes(t, mustGet(t, tb, macA), rem(ip1))
		// From the VTEP it points at, the frame passes.
		if r := tb.Learn(macA, devVNI, ip1, 0); r != LearnKnown {
			t.Fatalf("state %#x: same VTEP Learn = %v", s, r)
		}
	}
}

func TestLearnIPv6LinkLocalRecordsIfindex(t *testing.T) {
	// vxlan_snoop: IPV6_ADDR_LINKLOCAL source → ifindex = ingress ifindex.
	tb, _ := newTable(t, func(c *Config) { c.IPv6 = true })
	if r := tb.Learn(macA, devVNI, ll6a, 3); r != LearnCreated {
		t.Fatalf("Learn = %v", r)
	}
	wantRemotes(t, mustGet(t, tb, macA), Remote{IP: ll6a, Port: devPort, VNI: devVNI, Ifindex: 3})
	if r := tb.Learn(macA, devVNI, ll6a, 3); r != LearnKnown {
		t.Fatalf("same LL source/ifindex: %v", r)
	}
	// A zone on the address is not part of the comparison (vxlan_addr_equal
	// compares sin6_addr only).
	if r := tb.Learn(macA, devVNI, ll6a.WithZone("eth0"), 3); r != LearnKnown {
		t.Fatalf("zoned LL source: %v", r)
	}
	// Another ifindex is a mismatch; migration rewrites only the IP, so the
	// recorded ifindex stays 3 and the next frame migrates again.
	if r := tb.Learn(macA, devVNI, ll6a, 4); r != LearnMigrated {
		t.Fatalf("other ifindex: %v", r)
	}
	wantRemotes(t, mustGet(t, tb, macA), Remote{IP: ll6a, Port: devPort, VNI: devVNI, Ifindex: 3})
	// A global source ignores the ifindex argument.
	if r := tb.Learn(macB, devVNI, ip6a, 9); r != LearnCreated {
		t.Fatalf("Learn = %v", r)
	}
	wantRemotes(t, mustGet(t, tb, macB), Remote{IP: ip6a, Port: devPort, VNI: devVNI})
	if r := tb.Learn(macB, devVNI, ip6a, 10); r != LearnKnown {
		t.Fatalf("global source, other ifindex: %v", r)
	}
}

func TestLearnLoopbackForLocalBypass(t *testing.T) {
	// vxlan_encap_bypass learns the source against 127.0.0.1 (quirk 13);
	// nothing special in the table, but the address must be accepted.
	tb, _ := newTable(t, nil)
	lo := netip.MustParseAddr("127.0.0.1")
	if r := tb.Learn(macA, devVNI, lo, 0); r != LearnCreated {
		t.Fatalf("Learn = %v", r)
	}
	wantRemotes(t, mustGet(t, tb, macA), rem(lo))
}

func TestLookupRefreshesUsedNotUpdated(t *testing.T) {
	// vxlan_find_mac_tx: WRITE_ONCE(f->used, now) when it changed.
	tb, c := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	e := mustGet(t, tb, macA)
	upd := e.Updated()
	c.advance(3 * time.Second)
	tb.Tick()
	if tb.Lookup(macA, devVNI) != e {
		t.Fatal("Lookup miss")
	}
	if e.Used() != c.now() || e.Updated() != upd {
		t.Fatalf("used %d updated %d", e.Used(), e.Updated())
	}
	if tb.Lookup(macB, devVNI) != nil {
		t.Fatal("Lookup of absent MAC")
	}
}

func TestResolveFallsBackToDefaultEntry(t *testing.T) {
	// vxlan_xmit steps 5 and 7: exact entry, else all_zeros_mac, else
	// NO_TX_TARGET. Multicast destinations use an exact multicast entry
	// first.
	tb, _ := newTable(t, nil)
	if e, _ := tb.Resolve(macA, devVNI); e != nil {
		t.Fatal("no target expected")
	}
	wantErr(t, tb.Append(static(zero, ip1)), nil)
	wantErr(t, tb.Append(static(zero, ip2)), nil)
	wantErr(t, tb.Add(static(macA, ip3)), nil)
	wantErr(t, tb.Add(static(macMC, ip3)), nil)
	for _, tc := range []struct {
		dst   header.MAC
		flood bool
		want  []Remote
	}{
		{macA, false, []Remote{rem(ip3)}},
		{macB, true, []Remote{rem(ip1), rem(ip2)}},
		{header.BroadcastMAC, true, []Remote{rem(ip1), rem(ip2)}},
		{macMC, false, []Remote{rem(ip3)}},
	} {
		e, flood := tb.Resolve(tc.dst, devVNI)
		if e == nil || flood != tc.flood {
			t.Fatalf("Resolve(%v) = %v, %v", tc.dst, e, flood)
		}
		wantRemotes(t, e, tc.want...)
	}
}

func TestRemoteTxPortAndVNIFallbacks(t *testing.T) {
	// vxlan_xmit_one: remote_port ?: cfg->dst_port; remote_vni ?: default_vni.
	r := Remote{IP: ip1}
	if r.TxPort(4789) != 4789 || r.TxVNI(5) != 5 {
		t.Fatal("zero port/VNI must fall back")
	}
	r = Remote{IP: ip1, Port: 8472, VNI: 9}
	if r.TxPort(4789) != 8472 || r.TxVNI(5) != 9 {
		t.Fatal("set port/VNI must be used")
	}
	if !(Remote{IP: any4}).BridgeLocal() || r.BridgeLocal() {
		t.Fatal("BridgeLocal")
	}
}

func TestLookupAndLearnKnownDoNotAllocate(t *testing.T) {
	tb, _ := newTable(t, func(c *Config) { c.Remote = ip3 })
	tb.Learn(macA, devVNI, ip1, 0)
	if n := testing.AllocsPerRun(1000, func() {
		if tb.Lookup(macA, devVNI) == nil {
			panic("miss")
		}
	}); n != 0 {
		t.Fatalf("Lookup allocs = %v", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Resolve(macB, devVNI) }); n != 0 {
		t.Fatalf("Resolve allocs = %v", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if tb.Learn(macA, devVNI, ip1, 0) != LearnKnown {
			panic("not known")
		}
	}); n != 0 {
		t.Fatalf("Learn known allocs = %v", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Tick() }); n != 0 {
		t.Fatalf("Tick allocs = %v", n)
	}
}
