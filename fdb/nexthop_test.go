package fdb

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

func nhReq(mac header.MAC, nhid uint32) Request {
	return Request{MAC: mac, State: StateNoARP | StatePermanent, Flags: FlagSelf, NHID: nhid}
}

func newNHTable(t *testing.T, mod func(*Config)) (*Table, *fakeClock) {
	return newTable(t, func(c *Config) {
		c.Nexthops = testNexthops()
		if mod != nil {
			mod(c)
		}
	})
}

func wantMsg(t *testing.T, err, kind error, msg string) {
	t.Helper()
	wantErr(t, err, kind)
	if want := "Error: " + msg + "."; err.Error() != want {
		t.Fatalf("err = %q; want %q", err, want)
	}
}

// TestNexthopEntryNeedsAnFDBGroupOfTheLinkFamily follows
// vxlan_fdb_nh_update: the ID must exist, be an FDB nexthop, be a group,
// and the group's family must be the link's (EAFNOSUPPORT otherwise). The
// texts are what `bridge fdb add … nhid N` prints on Linux 6.18.
func TestNexthopEntryNeedsAnFDBGroupOfTheLinkFamily(t *testing.T) {
	tb, _ := newNHTable(t, nil)
	wantMsg(t, tb.Add(nhReq(macA, 99)), ErrInvalid, "Nexthop id does not exist")
	wantMsg(t, tb.Add(nhReq(macA, 12)), ErrInvalid, "Nexthop is not a fdb nexthop")
	wantMsg(t, tb.Add(nhReq(macA, 7)), ErrInvalid, "Nexthop is not a multipath group")
	err := tb.Add(nhReq(macA, 9))
	wantMsg(t, err, ErrFamily, "Nexthop group family not supported")
	if !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("err = %v, want EAFNOSUPPORT", err)
	}
	wantAbsent(t, tb, macA)

	// No nexthop table: every ID is unknown.
	plain, _ := newTable(t, nil)
	wantMsg(t, plain.Add(nhReq(macA, 5)), ErrInvalid, "Nexthop id does not exist")

	tb6, _ := newNHTable(t, func(c *Config) { c.IPv6 = true })
	wantErr(t, tb6.Add(nhReq(macA, 9)), nil)
	wantMsg(t, tb6.Add(nhReq(macB, 5)), ErrFamily, "Nexthop group family not supported")
}

// TestNexthopEntryHasNoRemotesAndDumpsItsNHID checks the entry model of
// vxlan_fdb_create with nhid and the dump of vxlan_fdb_info: one message
// per nexthop entry with NDA_NH_ID and none of NDA_DST, NDA_PORT, NDA_VNI,
// as `bridge fdb show` prints "MAC nhid 5 self permanent".
func TestNexthopEntryHasNoRemotesAndDumpsItsNHID(t *testing.T) {
	tb, _ := newNHTable(t, nil)
	wantErr(t, tb.Add(nhReq(macA, 5)), nil)
	e := mustGet(t, tb, macA)
	if e.NHID() != 5 || len(e.Remotes()) != 0 {
		t.Fatalf("entry: nhid %d remotes %v", e.NHID(), e.Remotes())
	}
	if _, ok := e.FirstRemote(); ok {
		t.Fatal("FirstRemote of a nexthop entry")
	}
	var got []string
	for n := range tb.Neighs() {
		got = append(got, string(n.AppendText(nil, &Format{Dev: "vx0"})))
		if js := string(n.AppendJSON(nil, &Format{Dev: "vx0"})); js != `{"mac":"02:00:00:00:00:0a","ifname":"vx0","nhid":5,"flags":["self"],"state":"permanent"}` {
			t.Errorf("json %s", js)
		}
	}
	if len(got) != 1 || got[0] != "02:00:00:00:00:0a dev vx0 nhid 5 self permanent" {
		t.Fatalf("dump %q", got)
	}
	// The kernel accepts nexthop entries for the all-zeros and multicast
	// addresses too (checked on Linux 6.18).
	wantErr(t, tb.Add(nhReq(zero, 5)), nil)
	wantErr(t, tb.Add(nhReq(macMC, 6)), nil)
	// The address limit comes first (vxlan_fdb_create).
	lim, _ := newNHTable(t, func(c *Config) { c.MaxAddress = 1 })
	wantErr(t, lim.Add(static(macA, ip1)), nil)
	wantErr(t, lim.Add(nhReq(macB, 99)), ErrNoSpace)
}

// TestNexthopEntryMayBeDynamicAndAges checks what Linux 6.18 does with
// `bridge fdb add MAC dev vx0 dynamic nhid N`: it accepts it (no "cannot be
// dynamic" check in vxlan_fdb_add) and vxlan_cleanup ages it like any
// dynamic entry.
func TestNexthopEntryMayBeDynamicAndAges(t *testing.T) {
	tb, clk := newNHTable(t, nil)
	r := nhReq(macA, 5)
	r.State = StateReachable
	wantErr(t, tb.Add(r), nil)
	if s := mustGet(t, tb, macA).State(); s != StateReachable {
		t.Fatalf("state %v", s)
	}
	clk.advance(DefaultAgeing + time.Second)
	if n, _ := tb.Sweep(clk.now()); n != 1 {
		t.Fatalf("aged %d, want 1", n)
	}
	wantAbsent(t, tb, macA)
}

// TestNexthopEntryUpdateRules follows vxlan_fdb_update_existing:
//   - a remote entry cannot become a nexthop entry;
//   - nothing can be appended to a nexthop entry;
//   - replace switches the group (the same group is no change), after the
//     group checks;
//   - replace with a dst leaves a nexthop entry's forwarding alone
//     (vxlan_fdb_replace finds no remote), but its state changes;
//   - replace of a multicast nexthop entry is refused as for any
//     non-unicast entry.
func TestNexthopEntryUpdateRules(t *testing.T) {
	tb, _ := newNHTable(t, nil)
	ev, cancel := tb.Subscribe(16)
	defer cancel()
	wantErr(t, tb.Add(static(macB, ip1)), nil)
	wantMsg(t, tb.Replace(nhReq(macB, 5)), ErrNotSupported, "Cannot replace an existing non nexthop fdb with a nexthop")
	wantMsg(t, tb.Append(nhReq(macB, 5)), ErrNotSupported, "Cannot replace an existing non nexthop fdb with a nexthop")
	wantRemotes(t, mustGet(t, tb, macB), rem(ip1))

	wantErr(t, tb.Add(nhReq(macA, 5)), nil)
	wantMsg(t, tb.Append(nhReq(macA, 5)), ErrNotSupported, "Cannot append to a nexthop fdb")
	for len(ev) > 0 {
		<-ev
	}
	wantErr(t, tb.Replace(nhReq(macA, 5)), nil)
	if len(ev) != 0 {
		t.Fatalf("replace with the same group sent %v", <-ev)
	}
	wantErr(t, tb.Replace(nhReq(macA, 6)), nil)
	if e := mustGet(t, tb, macA); e.NHID() != 6 {
		t.Fatalf("nhid %d after replace", e.NHID())
	}
	if x := <-ev; x.Type != EventUpdated || x.NHID != 6 || x.Remote.IP.IsValid() {
		t.Fatalf("event %+v", x)
	}
	dyn := nhReq(macA, 7)
	dyn.State = StateReachable
	wantMsg(t, tb.Replace(dyn), ErrInvalid, "Nexthop is not a multipath group")
	e := mustGet(t, tb, macA)
	if e.NHID() != 6 || e.State() != StateReachable {
		t.Fatalf("after a refused replace: nhid %d state %v (the kernel keeps the state change)", e.NHID(), e.State())
	}
	wantErr(t, tb.Replace(static(macA, ip3)), nil)
	if e.NHID() != 6 || len(e.Remotes()) != 0 || !e.State().IsStatic() {
		t.Fatalf("replace dst: nhid %d remotes %v state %v", e.NHID(), e.Remotes(), e.State())
	}
	wantErr(t, tb.Add(nhReq(macMC, 5)), nil)
	wantMsg(t, tb.Replace(nhReq(macMC, 6)), ErrNotSupported, "Cannot replace non-unicast fdb entries")
	// An appended dst is not shown or used for a nexthop entry.
	wantErr(t, tb.Append(static(macMC, ip2)), nil)
	if e := mustGet(t, tb, macMC); e.NHID() != 5 || len(e.Remotes()) != 0 {
		t.Fatalf("append dst to a nexthop entry: nhid %d remotes %v", e.NHID(), e.Remotes())
	}
}

// TestLearningDoesNotOverrideNexthopEntry follows vxlan_snoop: "Don't
// override an fdb with nexthop with a learnt entry" — the frame is dropped
// (VXLAN_ENTRY_EXISTS), even for a dynamic nexthop entry.
func TestLearningDoesNotOverrideNexthopEntry(t *testing.T) {
	tb, _ := newNHTable(t, nil)
	r := nhReq(macA, 5)
	r.State = StateReachable
	wantErr(t, tb.Add(r), nil)
	for _, src := range []netip.Addr{ip1, ip3, ip6a} {
		if got := tb.Learn(macA, devVNI, src, 0); got != LearnEntryExists {
			t.Fatalf("Learn from %v = %v, want entry-exists", src, got)
		}
	}
	if e := mustGet(t, tb, macA); e.NHID() != 5 || len(e.Remotes()) != 0 {
		t.Fatalf("entry changed: nhid %d remotes %v", e.NHID(), e.Remotes())
	}
}

// TestNexthopEntryDeleteAndFlush follows __vxlan_fdb_delete and
// vxlan_flush: del without dst destroys a nexthop entry, del with a dst
// finds no remote and deletes nothing; flush by nhid takes the entries of
// that group only, and remote filters (dst, port, vni) never match a
// nexthop entry.
func TestNexthopEntryDeleteAndFlush(t *testing.T) {
	tb, _ := newNHTable(t, nil)
	wantErr(t, tb.Add(nhReq(macA, 5)), nil)
	wantErr(t, tb.Add(nhReq(macB, 6)), nil)
	wantErr(t, tb.Add(nhReq(zero, 5)), nil)
	wantErr(t, tb.Add(static(macMC, ip1)), nil)
	wantErr(t, tb.Delete(static(macA, ip1)), nil)
	mustGet(t, tb, macA)
	if n, err := tb.Flush(FlushFilter{Dst: ip1}); err != nil || n != 1 {
		t.Fatalf("flush dst: %d %v", n, err)
	}
	mustGet(t, tb, macA)
	if n, err := tb.Flush(FlushFilter{NHID: 5}); err != nil || n != 2 {
		t.Fatalf("flush nhid 5: %d %v", n, err)
	}
	wantAbsent(t, tb, macA)
	wantAbsent(t, tb, zero)
	mustGet(t, tb, macB)
	wantErr(t, tb.Delete(Request{MAC: macB}), nil)
	wantAbsent(t, tb, macB)
	if tb.Len() != 0 {
		t.Fatalf("Len %d", tb.Len())
	}
}
