package fdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vtepd/vtep/header"
)

var (
	grp2  = netip.MustParseAddr("239.2.2.2")
	grpLL = netip.MustParseAddr("224.0.0.251")
	grp6  = netip.MustParseAddr("ff0e::1")
	src1  = netip.MustParseAddr("192.0.2.1")
	src2  = netip.MustParseAddr("192.0.2.2")
)

// mdbReq is `bridge mdb add dev vx port vx grp G permanent dst DST`.
func mdbReq(g, dst netip.Addr) MDBRequest { return MDBRequest{Group: g, Permanent: true, Dst: dst} }

func mustMDB(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ips lists the remote addresses of rs.
func ips(rs []Remote) []netip.Addr {
	var out []netip.Addr
	for _, r := range rs {
		out = append(out, r.IP)
	}
	return out
}

func wantLookup(t *testing.T, tb *Table, g, s netip.Addr, wantFound bool, want ...netip.Addr) {
	t.Helper()
	rs, found := tb.MDBLookup(g, s, devVNI)
	if found != wantFound || !slices.Equal(ips(rs), want) {
		t.Errorf("MDBLookup(%v, %v) = %v found=%v, want %v found=%v", g, s, ips(rs), found, want, wantFound)
	}
}

func wantMDBError(t *testing.T, err error, sentinel error, msg string) {
	t.Helper()
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, sentinel) || oe.Msg != msg {
		t.Fatalf("error %v, want %v with message %q", err, sentinel, msg)
	}
}

// TestMDBRequestValidation: the checks of vxlan_mdb_config_init and
// vxlan_mdb_config_attrs_init, with their extended-ack messages.
func TestMDBRequestValidation(t *testing.T) {
	tb, _ := newTable(t, nil)
	for _, tc := range []struct {
		name string
		req  MDBRequest
		msg  string
	}{
		{"not permanent", MDBRequest{Group: group, Dst: ip1}, msgMDBPermanent},
		{"no group", MDBRequest{Permanent: true, Dst: ip1}, msgMDBGroupFamily},
		{"no dst", MDBRequest{Group: group, Permanent: true}, msgMDBNoDst},
		{"unicast group", mdbReq(ip2, ip1), msgMDBNotMulticast},
		{"multicast source", MDBRequest{Group: group, Source: grp2, Permanent: true, Dst: ip1}, "vxlan: IPv4 multicast source address is not allowed"},
		{"source of the other family", MDBRequest{Group: group, Source: ip6a, Permanent: true, Dst: ip1}, "vxlan: IPv4 invalid source address length"},
		{"source with catch-all", MDBRequest{Group: any4, Source: src1, Permanent: true, Dst: ip1}, msgMDBZeroSource},
		{"mode on (S, G)", MDBRequest{Group: group, Source: src1, HasMode: true, Permanent: true, Dst: ip1}, msgMDBModeStarG},
		{"mode on catch-all", MDBRequest{Group: any4, HasMode: true, Permanent: true, Dst: ip1}, msgMDBModeStarG},
		{"list without mode", MDBRequest{Group: group, Sources: []netip.Addr{src1}, Permanent: true, Dst: ip1}, msgMDBListNoMode},
		{"list on (S, G)", MDBRequest{Group: group, Source: src1, Sources: []netip.Addr{src2}, Permanent: true, Dst: ip1}, msgMDBListStarG},
		{"INCLUDE without sources", MDBRequest{Group: group, Mode: FilterInclude, HasMode: true, Permanent: true, Dst: ip1}, msgMDBIncludeEmpty},
		{"multicast in list", MDBRequest{Group: group, Mode: FilterExclude, HasMode: true, Sources: []netip.Addr{grp2}, Permanent: true, Dst: ip1}, "vxlan: IPv4 multicast source address is not allowed"},
		{"unknown via", MDBRequest{Group: group, Permanent: true, Dst: ip1, Ifindex: -1}, msgMDBNoIfindex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantMDBError(t, tb.MDBAdd(tc.req), ErrInvalid, tc.msg)
			if tb.MDBLen() != 0 || tb.HasMDB() {
				t.Fatal("a refused request changed the MDB")
			}
		})
	}
}

// TestMDBAddRemoteExists: a second add of the same remote IP to an entry
// is EEXIST ("Replace not specified and MDB remote entry already exists",
// vxlan_mdb_remote_add) even with other port or VNI, and a new IP joins the
// entry at the head of its list.
func TestMDBAddRemoteExists(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip1)))
	r := mdbReq(group, ip1)
	r.Port = 1234
	wantMDBError(t, tb.MDBAdd(r), ErrExist, msgMDBRemoteExists)
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip2)))
	es := tb.MDBEntries()
	if len(es) != 1 || len(es[0].Remotes) != 2 || es[0].Remotes[0].IP != ip2 || es[0].Remotes[1].Port != devPort {
		t.Fatalf("entries %+v, want one entry with remotes [ip2 ip1] on port %d", es, devPort)
	}
	wantLookup(t, tb, group, src1, true, ip2, ip1)
}

// TestMDBDefaults: a remote gets the device's port and VNI, the entry the
// device VNI, the remote mode EXCLUDE and protocol static; an (S, G)
// remote is INCLUDE (vxlan_mdb_config_init, vxlan_mdb_config_attrs_init).
func TestMDBDefaults(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip1)))
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Source: src1, Permanent: true, Dst: ip2, Port: 9, VNI: 7, HasVNI: true, Proto: 186}))
	e, err := tb.MDBGet(MDBKey{Group: group, SrcVNI: devVNI})
	mustMDB(t, err)
	want := MDBRemote{Remote: Remote{IP: ip1, Port: devPort, VNI: devVNI}, Mode: FilterExclude, Proto: ProtoStatic}
	if !reflect.DeepEqual(e.Remotes, []MDBRemote{want}) {
		t.Errorf("(*, G) remotes %+v, want %+v", e.Remotes, want)
	}
	e, err = tb.MDBGet(MDBKey{Group: group, Source: src1, SrcVNI: devVNI})
	mustMDB(t, err)
	want = MDBRemote{Remote: Remote{IP: ip2, Port: 9, VNI: 7}, Mode: FilterInclude, Proto: 186}
	if !reflect.DeepEqual(e.Remotes, []MDBRemote{want}) {
		t.Errorf("(S, G) remotes %+v, want %+v", e.Remotes, want)
	}
	if _, err := tb.MDBGet(MDBKey{Group: grp2, SrcVNI: devVNI}); !errors.Is(err, ErrNotFound) {
		t.Errorf("get of a missing entry: %v, want ENOENT", err)
	}
}

// TestMDBLookupOrder: transmit looks up (S, G), then (*, G), then the
// catch-all entry of the family, but not for link-local groups
// (vxlan_mdb_entry_skb_get).
func TestMDBLookupOrder(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantLookup(t, tb, group, src1, false)
	mustMDB(t, tb.MDBAdd(mdbReq(any4, ip3)))
	wantLookup(t, tb, group, src1, true, ip3)
	wantLookup(t, tb, grpLL, src1, false)
	wantLookup(t, tb, grp6, ip6a, false) // the IPv4 catch-all only
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip2)))
	wantLookup(t, tb, group, src1, true, ip2)
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Source: src1, Permanent: true, Dst: ip1}))
	wantLookup(t, tb, group, src1, true, ip1)
	wantLookup(t, tb, group, src2, true, ip2)
	wantLookup(t, tb, grp2, src1, true, ip3)
	// A (*, G) for a link-local group is used.
	mustMDB(t, tb.MDBAdd(mdbReq(grpLL, ip1)))
	wantLookup(t, tb, grpLL, src1, true, ip1)
	// Other VNIs (external mode lookups) do not match.
	if _, found := tb.MDBLookup(group, src1, devVNI+1); found {
		t.Error("an entry of VNI 42 matched VNI 43")
	}
	// IPv6.
	mustMDB(t, tb.MDBAdd(mdbReq(netip.IPv6Unspecified(), ip1)))
	wantLookup(t, tb, grp6, ip6a, true, ip1)
	wantLookup(t, tb, netip.MustParseAddr("ff12::1"), ip6a, false) // link-local scope, transient flag
}

// TestMDBIsLinkLocalMulticast: ipv4_is_local_multicast and the link-local
// scope of ipv6_addr_type.
func TestMDBIsLinkLocalMulticast(t *testing.T) {
	for s, want := range map[string]bool{
		"224.0.0.1": true, "224.0.0.255": true, "224.0.1.1": false, "239.1.1.1": false,
		"ff02::1": true, "ff12::1:3": true, "ff05::2": false, "ff0e::1": false, "ff01::1": false,
	} {
		if got := isLinkLocalMulticast(netip.MustParseAddr(s)); got != want {
			t.Errorf("isLinkLocalMulticast(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestMDBStarGExcludeBlocksSources: a (*, G) EXCLUDE with a source list
// creates a blocked (S, G) remote per source (vxlan_mdb_remote_src_fwd_add),
// and the (S, G) lookup wins, so traffic from a listed source goes nowhere
// even with other (*, G) remotes (vxlan_mdb_xmit skips blocked remotes).
func TestMDBStarGExcludeBlocksSources(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, Mode: FilterExclude, HasMode: true, Sources: []netip.Addr{src1, src2}}))
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip2)))
	es := tb.MDBEntries()
	if len(es) != 3 {
		t.Fatalf("%d entries, want (*, G) and two (S, G): %+v", len(es), es)
	}
	for _, s := range []netip.Addr{src1, src2} {
		e, err := tb.MDBGet(MDBKey{Group: group, Source: s, SrcVNI: devVNI})
		mustMDB(t, err)
		if len(e.Remotes) != 1 || !e.Remotes[0].Blocked || e.Remotes[0].Mode != FilterInclude || e.Remotes[0].IP != ip1 {
			t.Errorf("(%v, G): %+v, want one blocked INCLUDE remote ip1", s, e.Remotes)
		}
		wantLookup(t, tb, group, s, true)
	}
	wantLookup(t, tb, group, ip3, true, ip2, ip1)
	// The source list is the (*, G) remote's, newest first.
	e, _ := tb.MDBGet(MDBKey{Group: group, SrcVNI: devVNI})
	if got := e.Remotes[1].Sources; !slices.Equal(got, []netip.Addr{src2, src1}) {
		t.Errorf("source list %v, want [src2 src1]", got)
	}
	// Deleting the (*, G) remote takes its (S, G) remotes with it.
	mustMDB(t, tb.MDBDel(mdbReq(group, ip1)))
	if n := tb.MDBLen(); n != 1 {
		t.Errorf("%d entries after the delete, want 1", n)
	}
	wantLookup(t, tb, group, src1, true, ip2)
}

// TestMDBStarGIncludeForwardsOnlySources: the remote of a (*, G) INCLUDE is
// skipped by vxlan_mdb_xmit; traffic from its sources reaches it through
// the (S, G) remotes, which are not blocked.
func TestMDBStarGIncludeForwardsOnlySources(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, Mode: FilterInclude, HasMode: true, Sources: []netip.Addr{src1}}))
	wantLookup(t, tb, group, src1, true, ip1)
	wantLookup(t, tb, group, src2, true) // (*, G) found, no remote: dropped
}

// TestMDBSourceEntryExists: a source listed twice, or an (S, G) remote that
// exists, fails the whole add and leaves the MDB as it was
// (vxlan_mdb_remote_src_add, the error unwinding of vxlan_mdb_remote_add).
func TestMDBSourceEntryExists(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantMDBError(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, HasMode: true, Sources: []netip.Addr{src1, src1}}), ErrExist, msgMDBSourceExists)
	if tb.MDBLen() != 0 {
		t.Fatalf("failed add left %+v", tb.MDBEntries())
	}
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Source: src2, Permanent: true, Dst: ip1}))
	before := tb.MDBEntries()
	wantMDBError(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, HasMode: true, Sources: []netip.Addr{src1, src2}}), ErrExist, msgMDBRemoteExists)
	if after := tb.MDBEntries(); !reflect.DeepEqual(before, after) {
		t.Fatalf("failed add changed the MDB:\n%+v\n%+v", before, after)
	}
}

// TestMDBReplace: replace rewrites the remote with that IP: parameters,
// mode and source list, adding and removing (S, G) remotes to match
// (vxlan_mdb_remote_replace, vxlan_mdb_remote_srcs_replace). Without an
// existing remote it creates one.
func TestMDBReplace(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBReplace(MDBRequest{Group: group, Permanent: true, Dst: ip1, HasMode: true, Sources: []netip.Addr{src1}}))
	wantLookup(t, tb, group, src1, true)
	mustMDB(t, tb.MDBReplace(MDBRequest{Group: group, Permanent: true, Dst: ip1, Port: 5000, Mode: FilterInclude, HasMode: true, Sources: []netip.Addr{src2}}))
	if _, err := tb.MDBGet(MDBKey{Group: group, Source: src1, SrcVNI: devVNI}); !errors.Is(err, ErrNotFound) {
		t.Errorf("(src1, G) after replace: %v, want gone", err)
	}
	e, err := tb.MDBGet(MDBKey{Group: group, Source: src2, SrcVNI: devVNI})
	mustMDB(t, err)
	if r := e.Remotes[0]; r.Blocked || r.Port != 5000 {
		t.Errorf("(src2, G) remote %+v, want forwarding on port 5000", r)
	}
	wantLookup(t, tb, group, src2, true, ip1)
	wantLookup(t, tb, group, src1, true)
	g, _ := tb.MDBGet(MDBKey{Group: group, SrcVNI: devVNI})
	if r := g.Remotes[0]; r.Mode != FilterInclude || !slices.Equal(r.Sources, []netip.Addr{src2}) || r.Port != 5000 {
		t.Errorf("(*, G) remote %+v after replace", r)
	}
}

// TestMDBReplaceKeepsSourceOrder: sources listed again keep their place;
// new ones go to the head (hlist_add_head in
// vxlan_mdb_remote_src_entry_add).
func TestMDBReplaceKeepsSourceOrder(t *testing.T) {
	tb, _ := newTable(t, nil)
	r := MDBRequest{Group: group, Permanent: true, Dst: ip1, HasMode: true, Sources: []netip.Addr{src1, src2}}
	mustMDB(t, tb.MDBAdd(r))
	r.Sources = []netip.Addr{src2, src1, ip3}
	mustMDB(t, tb.MDBReplace(r))
	g, _ := tb.MDBGet(MDBKey{Group: group, SrcVNI: devVNI})
	if got := g.Remotes[0].Sources; !slices.Equal(got, []netip.Addr{ip3, src2, src1}) {
		t.Errorf("sources %v, want [ip3 src2 src1]", got)
	}
}

// TestMDBDel: del removes one remote, matched by IP only; a missing entry
// or remote is ENOENT with the kernel's messages (__vxlan_mdb_del).
func TestMDBDel(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantMDBError(t, tb.MDBDel(mdbReq(group, ip1)), ErrNotFound, msgMDBNotFound)
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip1)))
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip2)))
	wantMDBError(t, tb.MDBDel(mdbReq(group, ip3)), ErrNotFound, msgMDBRemoteMissing)
	d := MDBRequest{Group: group, Dst: ip1, Port: 1} // state and port are not part of the key
	mustMDB(t, tb.MDBDel(d))
	wantLookup(t, tb, group, src1, true, ip2)
	mustMDB(t, tb.MDBDel(mdbReq(group, ip2)))
	if tb.HasMDB() {
		t.Error("HasMDB after the last entry went (VXLAN_F_MDB is cleared)")
	}
}

// TestMDBFlush: flush filters on src_vni, dst, VNI (the remote's, or the
// entry's when 0), port and protocol; nopermanent is refused
// (vxlan_mdb_flush_desc_init, vxlan_mdb_remotes_flush).
func TestMDBFlush(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip1)))
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip2, Port: 99, Proto: 186}))
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: grp2, Permanent: true, Dst: ip1, VNI: 77, HasVNI: true}))
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: grp2, Permanent: true, Dst: ip3, HasMode: true, Sources: []netip.Addr{src1}}))
	if _, err := tb.MDBFlush(MDBFlushFilter{NotPermanent: true}); err == nil || !strings.Contains(err.Error(), "Only permanent") {
		t.Errorf("flush nopermanent: %v", err)
	}
	for _, tc := range []struct {
		f    MDBFlushFilter
		n    int
		left int // entries
	}{
		{MDBFlushFilter{SrcVNI: devVNI + 1}, 0, 3},
		{MDBFlushFilter{Proto: 186}, 1, 3},
		{MDBFlushFilter{VNI: 77}, 1, 3},
		{MDBFlushFilter{Port: devPort, Dst: ip3}, 2, 1}, // the (S, G) remote and the (*, G) one
		{MDBFlushFilter{}, 1, 0},
	} {
		n, err := tb.MDBFlush(tc.f)
		mustMDB(t, err)
		if n != tc.n || tb.MDBLen() != tc.left {
			t.Fatalf("flush %+v: deleted %d, %d entries left; want %d, %d: %+v", tc.f, n, tb.MDBLen(), tc.n, tc.left, tb.MDBEntries())
		}
	}
}

// TestMDBSrcVNI: src_vni keys the entry; outside external mode transmit
// uses the device VNI, so only entries of that VNI are ever used.
func TestMDBSrcVNI(t *testing.T) {
	tb, _ := newTable(t, nil)
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, SrcVNI: 500, HasSrcVNI: true}))
	wantLookup(t, tb, group, src1, false)
	if rs, ok := tb.MDBLookup(group, src1, 500); !ok || len(rs) != 1 {
		t.Errorf("lookup on VNI 500: %v %v", rs, ok)
	}
	// The same group on another VNI is another entry.
	mustMDB(t, tb.MDBAdd(mdbReq(group, ip1)))
	if tb.MDBLen() != 2 {
		t.Errorf("%d entries, want 2", tb.MDBLen())
	}
}

// TestMDBRandomAgainstInvariants drives random add/replace/del/flush
// requests and checks after each one that:
//   - the transmit view agrees with the dump (for every entry: its
//     unblocked remotes, without the (*, G) INCLUDE ones, in order);
//   - no entry is empty and no entry has two remotes with one IP;
//   - after an add or replace with a source list, every source has an
//     (S, G) remote with the remote's IP, blocked exactly when the (*, G)
//     remote is EXCLUDE (a later del of that (S, G) remote may remove it:
//     the kernel allows that too);
//   - a refused request changed nothing.
func TestMDBRandomAgainstInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	groups := []netip.Addr{group, grp2, any4}
	srcs := []netip.Addr{src1, src2, ip3}
	dsts := []netip.Addr{ip1, ip2, ip3}
	pick := func(s []netip.Addr) netip.Addr { return s[rng.IntN(len(s))] }
	tb, _ := newTable(t, nil)
	var nOK, nErr int
	for i := range 3000 {
		r := MDBRequest{Group: pick(groups), Permanent: true, Dst: pick(dsts)}
		switch rng.IntN(4) {
		case 0:
			r.Source = pick(srcs)
		case 1:
			r.HasMode = true
			r.Mode = FilterMode(rng.IntN(2))
			for range rng.IntN(3) {
				r.Sources = append(r.Sources, pick(srcs))
			}
		}
		if rng.IntN(3) == 0 {
			r.Port = uint16(1000 + rng.IntN(2))
		}
		before := tb.MDBEntries()
		var err error
		op := rng.IntN(10)
		switch {
		case op < 4:
			err = tb.MDBAdd(r)
		case op < 7:
			err = tb.MDBReplace(r)
		case op < 9:
			err = tb.MDBDel(r)
		default:
			_, err = tb.MDBFlush(MDBFlushFilter{Dst: pick(dsts)})
		}
		if err != nil {
			nErr++
			if after := tb.MDBEntries(); !reflect.DeepEqual(before, after) {
				t.Fatalf("step %d: refused %+v (%v) changed the MDB", i, r, err)
			}
		} else {
			nOK++
		}
		var fresh *MDBKey // the (*, G) whose remote r.Dst was just written
		if op < 7 && err == nil && r.HasMode {
			fresh = &MDBKey{Group: r.Group, SrcVNI: devVNI}
		}
		if msg := checkMDBInvariants(tb, fresh, r.Dst); msg != "" {
			t.Fatalf("step %d after %+v (op %d, err %v): %s\n%+v", i, r, op, err, msg, tb.MDBEntries())
		}
	}
	if nOK < 500 || nErr < 100 {
		t.Errorf("%d accepted and %d refused requests: the generator is off", nOK, nErr)
	}
}

func checkMDBInvariants(tb *Table, fresh *MDBKey, dst netip.Addr) string {
	es := tb.MDBEntries()
	byKey := map[MDBKey]MDBEntry{}
	for _, e := range es {
		byKey[e.Key] = e
	}
	if tb.HasMDB() != (len(es) > 0) {
		return fmt.Sprintf("HasMDB %v with %d entries", tb.HasMDB(), len(es))
	}
	f := tb.mdb.fwd.Load()
	if f != nil && len(f.m) != len(es) {
		return fmt.Sprintf("transmit view has %d entries, the dump %d", len(f.m), len(es))
	}
	for _, e := range es {
		if len(e.Remotes) == 0 {
			return fmt.Sprintf("entry %+v has no remote", e.Key)
		}
		seen := map[netip.Addr]bool{}
		var want []netip.Addr
		for _, r := range e.Remotes {
			if seen[r.IP] {
				return fmt.Sprintf("entry %+v has %v twice", e.Key, r.IP)
			}
			seen[r.IP] = true
			if !r.Blocked && !(e.Key.IsStarG() && r.Mode == FilterInclude) {
				want = append(want, r.IP)
			}
			for _, s := range r.Sources {
				if fresh == nil || *fresh != e.Key || r.IP != dst {
					break
				}
				sg, ok := byKey[MDBKey{Group: e.Key.Group, Source: s, SrcVNI: e.Key.SrcVNI}]
				i := slices.IndexFunc(sg.Remotes, func(x MDBRemote) bool { return x.IP == r.IP })
				if !ok || i < 0 {
					return fmt.Sprintf("source %v of %+v remote %v has no (S, G) remote", s, e.Key, r.IP)
				}
				if sg.Remotes[i].Blocked != (r.Mode == FilterExclude) {
					return fmt.Sprintf("(S, G) remote %+v blocked %v, (*, G) mode %v", sg.Key, sg.Remotes[i].Blocked, r.Mode)
				}
			}
		}
		got := ips(f.m[e.Key])
		if !slices.Equal(got, want) {
			return fmt.Sprintf("transmit view of %+v is %v, want %v", e.Key, got, want)
		}
	}
	return ""
}

// BenchmarkMDBLookup is the transmit-path cost of a (*, G) hit.
func BenchmarkMDBLookup(b *testing.B) {
	tb, _ := newTable(b, nil)
	for i := range 100 {
		g := netip.AddrFrom4([4]byte{239, 1, 0, byte(i)})
		if err := tb.MDBAdd(mdbReq(g, ip1)); err != nil {
			b.Fatal(err)
		}
	}
	g := netip.AddrFrom4([4]byte{239, 1, 0, 50})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tb.MDBLookup(g, src1, header.VNI(devVNI)); !ok {
			b.Fatal("miss")
		}
	}
}

// mdbEvents drains the MDB events waiting on ch as "type (S, G) dst" lines.
func mdbEvents(t *testing.T, ch <-chan Event) []string {
	t.Helper()
	var out []string
	for {
		select {
		case ev := <-ch:
			if !ev.Type.IsMDB() || ev.MDB == nil || len(ev.MDB.Remotes) != 1 {
				t.Fatalf("event %+v: want an MDB event with one remote", ev)
			}
			src := "*"
			if ev.MDB.Key.Source.IsValid() {
				src = ev.MDB.Key.Source.String()
			}
			r := ev.MDB.Remotes[0]
			line := fmt.Sprintf("%v (%s, %v) %v", ev.Type, src, ev.MDB.Key.Group, r.IP)
			if r.Blocked {
				line += " blocked"
			}
			out = append(out, line)
		default:
			return out
		}
	}
}

func wantEvents(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: events\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestMDBNotifiesEachRemote: every remote added, replaced or deleted is one
// RTM_NEWMDB or RTM_DELMDB (vxlan_mdb_remote_notify), in the kernel's
// order: a (*, G) remote's (S, G) companions are added before it
// (vxlan_mdb_remote_srcs_add runs first) and deleted after it
// (vxlan_mdb_remote_del notifies, then deletes its sources); a replace
// re-adds the listed sources, deletes the others, then notifies the
// (*, G) remote (vxlan_mdb_remote_replace). A request that fails sends
// nothing.
func TestMDBNotifiesEachRemote(t *testing.T) {
	tb, _ := newTable(t, nil)
	ch, cancel := tb.Subscribe(64)
	defer cancel()
	mustMDB(t, tb.MDBAdd(MDBRequest{Group: group, Permanent: true, Dst: ip1, Mode: FilterExclude, HasMode: true, Sources: []netip.Addr{src1, src2}}))
	wantEvents(t, "add (*, G) EXCLUDE {src1, src2}", mdbEvents(t, ch),
		"mdb-added (192.0.2.1, 239.1.1.1) 10.0.0.1 blocked",
		"mdb-added (192.0.2.2, 239.1.1.1) 10.0.0.1 blocked",
		"mdb-added (*, 239.1.1.1) 10.0.0.1")

	wantMDBError(t, tb.MDBAdd(mdbReq(group, ip1)), ErrExist, msgMDBRemoteExists)
	wantEvents(t, "a refused add", mdbEvents(t, ch))

	mustMDB(t, tb.MDBReplace(MDBRequest{Group: group, Permanent: true, Dst: ip1, Mode: FilterInclude, HasMode: true, Sources: []netip.Addr{src2, ip3}}))
	wantEvents(t, "replace with INCLUDE {src2, ip3}", mdbEvents(t, ch),
		"mdb-replaced (192.0.2.2, 239.1.1.1) 10.0.0.1",
		"mdb-added (10.0.0.3, 239.1.1.1) 10.0.0.1",
		"mdb-deleted (192.0.2.1, 239.1.1.1) 10.0.0.1 blocked",
		"mdb-replaced (*, 239.1.1.1) 10.0.0.1")

	mustMDB(t, tb.MDBAdd(mdbReq(group, ip2)))
	mustMDB(t, tb.MDBDel(mdbReq(group, ip1)))
	wantEvents(t, "add ip2, del ip1", mdbEvents(t, ch),
		"mdb-added (*, 239.1.1.1) 10.0.0.2",
		"mdb-deleted (*, 239.1.1.1) 10.0.0.1",
		"mdb-deleted (10.0.0.3, 239.1.1.1) 10.0.0.1",
		"mdb-deleted (192.0.2.2, 239.1.1.1) 10.0.0.1")

	if n, err := tb.MDBFlush(MDBFlushFilter{}); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	wantEvents(t, "flush", mdbEvents(t, ch), "mdb-deleted (*, 239.1.1.1) 10.0.0.2")
	if !EventMDBDeleted.Deleted() || EventMDBAdded.Deleted() || EventDeleted.IsMDB() {
		t.Error("Deleted/IsMDB disagree with RTM_DELMDB")
	}
}
