package fdb

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/nexthop"
)

// fakeClock is an injected clock; tests advance it by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	devVNI  header.VNI = 42
	devPort uint16     = 4789
)

var (
	macA  = header.MustParseMAC("02:00:00:00:00:0a")
	macB  = header.MustParseMAC("02:00:00:00:00:0b")
	macMC = header.MustParseMAC("01:00:5e:00:00:01")
	zero  = header.ZeroMAC

	ip1   = netip.MustParseAddr("10.0.0.1")
	ip2   = netip.MustParseAddr("10.0.0.2")
	ip3   = netip.MustParseAddr("10.0.0.3")
	any4  = netip.IPv4Unspecified()
	ip6a  = netip.MustParseAddr("2001:db8::a")
	ll6a  = netip.MustParseAddr("fe80::a")
	group = netip.MustParseAddr("239.1.1.1")
)

// testNexthops returns the nexthops the tests point entries to, as `ip
// nexthop` would create them: 1 and 2 are IPv4 FDB nexthops, 3 an IPv6 one;
// 5 and 6 are IPv4 FDB groups, 7 is a single FDB nexthop, 9 an IPv6 FDB
// group, 12 a group that is not for the FDB.
func testNexthops() *nexthop.Table {
	var t nexthop.Table
	t.Set([]nexthop.Nexthop{
		{ID: 1, Gateway: ip1, FDB: true},
		{ID: 2, Gateway: ip2, FDB: true},
		{ID: 3, Gateway: ip6a, FDB: true},
		{ID: 4, Gateway: ip3},
		{ID: 5, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}}},
		{ID: 6, FDB: true, Group: []nexthop.Member{{ID: 2, Weight: 1}}},
		{ID: 7, Gateway: ip3, FDB: true},
		{ID: 9, FDB: true, Group: []nexthop.Member{{ID: 3, Weight: 1}}},
		{ID: 12, Group: []nexthop.Member{{ID: 4, Weight: 1}}},
	})
	return &t
}

// newTable returns a table with device VNI 42, port 4789, IPv4 underlay,
// and a fake clock starting at 1000 s.
func newTable(t testing.TB, mod func(*Config)) (*Table, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.ns.Store(int64(1000 * time.Second))
	cfg := Config{VNI: devVNI, Port: devPort, Clock: c.now}
	if mod != nil {
		mod(&cfg)
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tb, c
}

// static returns a request as `bridge fdb add MAC dev vx dst DST` sends it:
// state NOARP|PERMANENT ("permanent", iproute2's default), flags SELF.
func static(mac header.MAC, dst netip.Addr) Request {
	return Request{MAC: mac, State: StateNoARP | StatePermanent, Flags: FlagSelf, Dst: dst}
}

// dynamic is `… dynamic`: state REACHABLE.
func dynamic(mac header.MAC, dst netip.Addr) Request {
	return Request{MAC: mac, State: StateReachable, Flags: FlagSelf, Dst: dst}
}

func rem(ip netip.Addr) Remote { return Remote{IP: ip, Port: devPort, VNI: devVNI} }

func mustGet(t *testing.T, tb *Table, mac header.MAC) *Entry {
	t.Helper()
	e, err := tb.Get(mac, devVNI)
	if err != nil {
		t.Fatalf("Get(%v): %v", mac, err)
	}
	return e
}

func wantRemotes(t *testing.T, e *Entry, want ...Remote) {
	t.Helper()
	if got := e.Remotes(); !slices.Equal(got, want) {
		t.Fatalf("remotes of %v = %v; want %v", e.MAC(), got, want)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v; want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v; want %v", err, want)
	}
}

func wantAbsent(t *testing.T, tb *Table, mac header.MAC) {
	t.Helper()
	if e, err := tb.Get(mac, devVNI); err == nil {
		t.Fatalf("entry %v present (%v); want absent", mac, e.Remotes())
	}
}
