package nexthop

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

var (
	gwA  = netip.MustParseAddr("10.0.0.2")
	gwB  = netip.MustParseAddr("10.0.0.3")
	gw6  = netip.MustParseAddr("2001:db8::2")
	base = []Nexthop{
		{ID: 1, Gateway: gwA, FDB: true},
		{ID: 2, Gateway: gwB, FDB: true},
		{ID: 3, Gateway: gw6, FDB: true},
		{ID: 4, Gateway: netip.MustParseAddr("10.1.0.2"), Oif: 7},
		{ID: 10, FDB: true, Group: []Member{{1, 1}, {2, 1}}},
		{ID: 11, FDB: true, Group: []Member{{3, 1}}},
		{ID: 12, Group: []Member{{4, 1}}},
		{ID: 13, FDB: true, Group: []Member{{1, 3}, {2, 1}}},
	}
)

func newTable(nhs []Nexthop) *Table {
	var t Table
	t.Set(nhs)
	return &t
}

// TestCheckFDBFollowsVxlanFdbNhUpdate checks the order and texts of the
// checks vxlan_fdb_nh_update makes before an FDB entry may point to a
// nexthop: it exists, it is an FDB nexthop, it is a group, and its family is
// the link's (nexthop_has_v4). The texts are the kernel's extended acks, as
// `bridge fdb add … nhid N` prints them on Linux 6.18.
func TestCheckFDBFollowsVxlanFdbNhUpdate(t *testing.T) {
	tb := newTable(base)
	for _, c := range []struct {
		id   uint32
		ipv6 bool
		want error
	}{
		{10, false, nil},
		{13, false, nil},
		{11, true, nil},
		{99, false, ErrNotExist},
		{12, false, ErrNotFDB},
		{4, false, ErrNotFDB},
		{1, false, ErrNotGroup},
		{11, false, ErrFamily},
		{10, true, ErrFamily},
	} {
		if err := tb.CheckFDB(c.id, c.ipv6); !errors.Is(err, c.want) {
			t.Errorf("CheckFDB(%d, ipv6=%v) = %v, want %v", c.id, c.ipv6, err, c.want)
		}
	}
	for err, text := range map[error]string{
		ErrNotExist: "Nexthop id does not exist",
		ErrNotFDB:   "Nexthop is not a fdb nexthop",
		ErrNotGroup: "Nexthop is not a multipath group",
		ErrFamily:   "Nexthop group family not supported",
	} {
		if err.Error() != text {
			t.Errorf("%q, want the kernel's %q", err, text)
		}
	}
	var empty Table
	if err := empty.CheckFDB(10, false); err != ErrNotExist {
		t.Errorf("zero Table: %v", err)
	}
}

// TestSelectUsesHashThresholds checks nexthop_select_path_fdb: member i of
// a group takes the 31-bit hashes (skb_get_hash >> 1) up to
// round((w_0+…+w_i) << 31 / total) − 1 (nh_hthr_group_rebalance).
func TestSelectUsesHashThresholds(t *testing.T) {
	tb := newTable(base)
	for _, c := range []struct {
		id   uint32
		hash uint32
		want netip.Addr
	}{
		// Equal weights: the bound is 2^30 − 1.
		{10, 0, gwA},
		{10, (1<<30 - 1) << 1, gwA},
		{10, (1<<30-1)<<1 | 1, gwA}, // the low bit is shifted out
		{10, 1 << 31, gwB},
		{10, 1<<32 - 1, gwB},
		// Weights 3 and 1: the first bound is 3·2^31/4 − 1.
		{13, (3<<29 - 1) << 1, gwA},
		{13, 3 << 30, gwB},
		{11, 12345, gw6},
	} {
		got, ok := tb.Select(c.id, c.hash)
		if !ok || got != c.want {
			t.Errorf("Select(%d, %#x) = %v %v, want %v", c.id, c.hash, got, ok, c.want)
		}
	}
	for _, id := range []uint32{1, 12, 99} {
		if gw, ok := tb.Select(id, 0); ok {
			t.Errorf("Select(%d) = %v, want no path (not an FDB group)", id, gw)
		}
	}
}

// TestSelectSpreadsByWeight checks that uniformly spread hashes split over
// the members in proportion to their weights.
func TestSelectSpreadsByWeight(t *testing.T) {
	tb := newTable(base)
	r := rand.New(rand.NewPCG(3, 4))
	n := map[netip.Addr]int{}
	const runs = 40000
	for range runs {
		gw, ok := tb.Select(13, r.Uint32())
		if !ok {
			t.Fatal("no path")
		}
		n[gw]++
	}
	if a := float64(n[gwA]) / runs; a < 0.73 || a > 0.77 {
		t.Errorf("weight 3 of 4 took %.3f of the hashes (%v)", a, n)
	}
}

// TestSetReportsRemovedIDs checks that a new dump reports the IDs that
// disappeared, which the daemon uses to flush FDB entries as
// vxlan_nexthop_event does on NEXTHOP_EVENT_DEL, and that a group follows
// its members' new gateways.
func TestSetReportsRemovedIDs(t *testing.T) {
	var tb Table
	if rm := tb.Set(base); rm != nil {
		t.Fatalf("first Set removed %v", rm)
	}
	next := []Nexthop{
		{ID: 1, Gateway: netip.MustParseAddr("10.0.0.9"), FDB: true},
		{ID: 3, Gateway: gw6, FDB: true},
		{ID: 10, FDB: true, Group: []Member{{1, 1}}},
	}
	rm := tb.Set(next)
	if want := []uint32{2, 4, 11, 12, 13}; !reflect.DeepEqual(rm, want) {
		t.Errorf("removed %v, want %v", rm, want)
	}
	if gw, ok := tb.Select(10, 1<<32-1); !ok || gw != netip.MustParseAddr("10.0.0.9") {
		t.Errorf("group 10 after the change: %v %v", gw, ok)
	}
	if err := tb.CheckFDB(2, false); err != ErrNotExist {
		t.Errorf("CheckFDB(2) after removal: %v", err)
	}
}

// TestSelectSkipsMissingMember checks that a group whose selected member is
// missing (or has no gateway) yields no path; the link drops the frame.
func TestSelectSkipsMissingMember(t *testing.T) {
	tb := newTable([]Nexthop{{ID: 10, FDB: true, Group: []Member{{1, 1}}}})
	if gw, ok := tb.Select(10, 0); ok {
		t.Errorf("Select = %v, want none", gw)
	}
}

func TestParseMessageRoundTrip(t *testing.T) {
	for _, nh := range append(base,
		Nexthop{ID: 20, FDB: true, Resilient: true, NumBuckets: 8, Protocol: 3, Group: []Member{{1, 300}, {2, 65536}}},
		Nexthop{ID: 21, Blackhole: true},
	) {
		b := AppendMessage(nil, &nh)
		got, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%+v: %v", nh, err)
		}
		if !reflect.DeepEqual(got, nh) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, nh)
		}
	}
}

func TestParseMessageRefusesMalformed(t *testing.T) {
	good := AppendMessage(nil, &Nexthop{ID: 1, Gateway: gwA, FDB: true})
	for name, b := range map[string][]byte{
		"short header":   good[:4],
		"no id":          {2, 0, 0, 0, 0, 0, 0, 0},
		"cut attribute":  good[:len(good)-3],
		"attr len < 4":   append(append([]byte{}, good[:8]...), 2, 0, 1, 0),
		"bad id length":  append(append([]byte{}, good...), 6, 0, 1, 0, 1, 0, 0, 0),
		"odd group size": append(append([]byte{}, good...), 7, 0, 2, 0, 1, 0, 0, 0),
		"bad gateway":    append(append([]byte{}, good...), 7, 0, 6, 0, 1, 2, 3, 0),
	} {
		if _, err := ParseMessage(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, nh := range base {
		f.Add(AppendMessage(nil, &nh))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		nh, err := ParseMessage(b)
		if err != nil {
			return
		}
		if nh.ID == 0 {
			t.Fatal("parsed a message without an ID")
		}
		// What parses must survive a round trip.
		again, err := ParseMessage(AppendMessage(nil, &nh))
		if err != nil || !reflect.DeepEqual(again, nh) {
			t.Fatalf("round trip of %+v: %+v %v", nh, again, err)
		}
		var tb Table
		tb.Set([]Nexthop{nh})
		_, _ = tb.Select(nh.ID, 0)
		_ = tb.CheckFDB(nh.ID, false)
	})
}

// resilient is a resilient FDB group 20 of members 1 and 2 with n buckets
// whose table is tab (nil: unknown).
func resilient(n uint16, tab []uint32) Nexthop {
	return Nexthop{ID: 20, FDB: true, Resilient: true, NumBuckets: n, Group: []Member{{1, 1}, {2, 1}}, Buckets: tab}
}

// TestSelectResilientUsesTheBucketTable: a resilient group's path is the
// member of bucket (hash >> 1) % buckets (nexthop_select_path_res, called
// by nexthop_path_fdb_result with vxlan_xmit_nhid's hash >> 1), checked
// against that formula for random tables and hashes. Without a table the
// group is selected by weight.
func TestSelectResilientUsesTheBucketTable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	gws := map[uint32]netip.Addr{1: gwA, 2: gwB}
	for range 200 {
		n := uint16(1 + r.IntN(64))
		tab := make([]uint32, n)
		for i := range tab {
			tab[i] = uint32(1 + r.IntN(2))
		}
		tb := newTable(append(base[:2:2], resilient(n, tab)))
		for range 50 {
			h := r.Uint32()
			gw, ok := tb.Select(20, h)
			if want := gws[tab[(h>>1)%uint32(n)]]; !ok || gw != want {
				t.Fatalf("%d buckets %v, hash %#x: Select = %v %v, want %v", n, tab, h, gw, ok, want)
			}
		}
	}
	tb := newTable(append(base[:2:2], resilient(8, nil)))
	if gw, _ := tb.Select(20, 0); gw != gwA {
		t.Errorf("no table, hash 0: Select = %v, want the first member by weight, %v", gw, gwA)
	}
	if gw, _ := tb.Select(20, 0xffffffff); gw != gwB {
		t.Errorf("no table, hash max: Select = %v, want the last member by weight, %v", gw, gwB)
	}
}

// TestAttachBucketsNeedsTheWholeTable: a dump gives a group its table only
// with every bucket present once and pointing to a member.
func TestAttachBucketsNeedsTheWholeTable(t *testing.T) {
	full := []Bucket{{20, 0, 2}, {20, 1, 1}, {20, 2, 2}, {20, 3, 1}, {99, 0, 1}}
	for _, c := range []struct {
		name string
		bs   []Bucket
		want []uint32
	}{
		{"full", full, []uint32{2, 1, 2, 1}},
		{"missing one", full[1:], nil},
		{"twice", append(full[:4:4], Bucket{20, 1, 1}), nil},
		{"out of range", append(full[:4:4], Bucket{20, 4, 1}), nil},
		{"not a member", []Bucket{{20, 0, 2}, {20, 1, 1}, {20, 2, 3}, {20, 3, 1}}, nil},
		{"none", nil, nil},
	} {
		nhs := []Nexthop{base[0], resilient(4, []uint32{9}), base[4]}
		AttachBuckets(nhs, c.bs)
		if !reflect.DeepEqual(nhs[1].Buckets, c.want) {
			t.Errorf("%s: Buckets = %v, want %v", c.name, nhs[1].Buckets, c.want)
		}
		if nhs[0].Buckets != nil || nhs[2].Buckets != nil {
			t.Errorf("%s: a table on a nexthop that is not a resilient group", c.name)
		}
	}
}

func TestParseBucketRoundTrip(t *testing.T) {
	for _, bk := range []Bucket{{20, 0, 1}, {7, 65535, 0xfffffffe}} {
		got, err := ParseBucket(AppendBucket(nil, bk))
		if err != nil || got != bk {
			t.Errorf("round trip of %+v: %+v %v", bk, got, err)
		}
	}
	good := AppendBucket(nil, Bucket{20, 3, 1})
	for name, b := range map[string][]byte{
		"short header":  good[:4],
		"cut attribute": good[:len(good)-3],
		"no group":      AppendBucket(nil, Bucket{0, 3, 1}),
		"no nexthop":    AppendBucket(nil, Bucket{20, 3, 0}),
		"no bucket":     good[:8+8],
		"bad index":     append(append([]byte{}, good[:16]...), 12, 0, 13, 0, 8, 0, 1, 0, 1, 0, 0, 0),
	} {
		if _, err := ParseBucket(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzParseBucket(f *testing.F) {
	f.Add(AppendBucket(nil, Bucket{20, 3, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		bk, err := ParseBucket(b)
		if err != nil {
			return
		}
		if again, err := ParseBucket(AppendBucket(nil, bk)); err != nil || again != bk {
			t.Fatalf("round trip of %+v: %+v %v", bk, again, err)
		}
		nhs := []Nexthop{resilient(4, nil)}
		AttachBuckets(nhs, []Bucket{bk})
		var tb Table
		tb.Set(nhs)
		_, _ = tb.Select(20, 0)
	})
}

func BenchmarkSelect(b *testing.B) {
	tb := newTable(base)
	b.ReportAllocs()
	var h uint32
	for b.Loop() {
		h += 0x9e3779b9
		if _, ok := tb.Select(13, h); !ok {
			b.Fatal("no path")
		}
	}
}
