package fdb

import (
	"slices"
	"testing"

	"github.com/vtepd/vtep/header"
)

// flushFixture builds, in a table whose link remote is ip3:
//
//	zero: default (REACHABLE|PERMANENT) + appended ip1 (port 8472), ip2 (vni 7)
//	macA: permanent (NOARP|PERMANENT), router
//	macB: static (NOARP|REACHABLE), extern_learn
//	macC: dynamic (REACHABLE) learned from ip1
//	macMC: permanent, remotes ip1, ip2
func flushFixture(t *testing.T, mod func(*Config)) *Table {
	t.Helper()
	tb, _ := newTable(t, func(c *Config) {
		c.Remote = ip3
		if mod != nil {
			mod(c)
		}
	})
	r := static(zero, ip1)
	r.Port = 8472
	wantErr(t, tb.Append(r), nil)
	r = static(zero, ip2)
	r.VNI, r.HasVNI = 7, true
	wantErr(t, tb.Append(r), nil)
	// Appending rewrote the default entry's state to the request's; put it
	// back to what the link installs.
	wantErr(t, tb.Update(OpCreate, Request{MAC: zero, State: StateReachable | StatePermanent, Flags: FlagSelf, Dst: ip3}), nil)
	r = static(macA, ip1)
	r.Flags |= FlagRouter
	wantErr(t, tb.Add(r), nil)
	r = Request{MAC: macB, State: StateNoARP | StateReachable, Flags: FlagSelf | FlagExtLearned, Dst: ip2}
	wantErr(t, tb.Add(r), nil)
	if res := tb.Learn(macC, devVNI, ip1, 0); res != LearnCreated {
		t.Fatalf("Learn = %v", res)
	}
	wantErr(t, tb.Append(static(macMC, ip1)), nil)
	wantErr(t, tb.Append(static(macMC, ip2)), nil)
	return tb
}

var macC = header.MustParseMAC("02:00:00:00:00:0c")

func macs(tb *Table) []header.MAC {
	var out []header.MAC
	for e := range tb.Entries() {
		out = append(out, e.MAC())
	}
	slices.SortFunc(out, func(a, b header.MAC) int { return slices.Compare(a[:], b[:]) })
	return out
}

func sorted(ms ...header.MAC) []header.MAC {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b header.MAC) int { return slices.Compare(a[:], b[:]) })
	return out
}

func TestFlushSelectsByStateAndFlags(t *testing.T) {
	// vxlan_fdb_flush_matches with the masks iproute2's `bridge fdb flush`
	// builds (bridge/fdb.c fdb_flush); net/fdb_flush.sh covers the same.
	all := sorted(zero, macA, macB, macC, macMC)
	for _, tc := range []struct {
		name  string
		f     FlushFilter
		after []header.MAC
	}{
		{"all", FlushFilter{Flags: FlagSelf}, nil},
		{"permanent", FlushFilter{State: StatePermanent, StateMask: StatePermanent}, sorted(macB, macC)},
		{"nopermanent", FlushFilter{StateMask: StatePermanent}, sorted(zero, macA, macMC)},
		{"static", FlushFilter{State: StateNoARP, StateMask: StateNoARP | StatePermanent}, sorted(zero, macA, macC, macMC)},
		{"nostatic", FlushFilter{StateMask: StateNoARP}, sorted(macA, macB, macMC)},
		{"dynamic", FlushFilter{StateMask: StateNoARP | StatePermanent}, sorted(zero, macA, macB, macMC)},
		{"nodynamic", FlushFilter{State: StateNoARP, StateMask: StateNoARP}, sorted(zero, macC)},
		{"router", FlushFilter{Flags: FlagRouter, FlagsMask: FlagRouter}, sorted(zero, macB, macC, macMC)},
		{"norouter", FlushFilter{FlagsMask: FlagRouter}, sorted(macA)},
		{"extern_learn", FlushFilter{Flags: FlagExtLearned | FlagSelf, FlagsMask: FlagExtLearned}, sorted(zero, macA, macC, macMC)},
		{"state without mask filters nothing", FlushFilter{State: StatePermanent}, nil},
		{"src_vni other", FlushFilter{SrcVNI: 7}, all},
		{"src_vni device", FlushFilter{SrcVNI: devVNI}, nil},
		{"nhid matches no remote entry", FlushFilter{NHID: 5}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := flushFixture(t, nil)
			if _, err := tb.Flush(tc.f); err != nil {
				t.Fatal(err)
			}
			if got := macs(tb); !slices.Equal(got, tc.after) {
				t.Fatalf("left %v; want %v", got, tc.after)
			}
			if tb.Len() != len(tc.after) {
				t.Fatalf("Len = %d", tb.Len())
			}
		})
	}
}

func TestFlushMatchesRemotesIndividually(t *testing.T) {
	// vxlan_fdb_flush_match_remotes: vni/port/dst match remotes; an entry is
	// destroyed when its last remote matches.
	tb := flushFixture(t, nil)
	n, err := tb.Flush(FlushFilter{Dst: ip1})
	if err != nil {
		t.Fatal(err)
	}
	// macA (only ip1) and macC (only ip1) destroyed; zero and macMC lose ip1.
	if n != 2 {
		t.Fatalf("destroyed %d; want 2", n)
	}
	if got := macs(tb); !slices.Equal(got, sorted(zero, macB, macMC)) {
		t.Fatalf("left %v", got)
	}
	wantRemotes(t, mustGet(t, tb, zero), rem(ip3), Remote{IP: ip2, Port: devPort, VNI: 7})
	wantRemotes(t, mustGet(t, tb, macMC), rem(ip2))

	tb = flushFixture(t, nil)
	if _, err := tb.Flush(FlushFilter{Port: 8472}); err != nil {
		t.Fatal(err)
	}
	wantRemotes(t, mustGet(t, tb, zero), rem(ip3), Remote{IP: ip2, Port: devPort, VNI: 7})
	if tb.Len() != 5 {
		t.Fatalf("Len = %d", tb.Len())
	}

	tb = flushFixture(t, nil)
	if _, err := tb.Flush(FlushFilter{VNI: devVNI}); err != nil {
		t.Fatal(err)
	}
	// Every remote with the device VNI matches: only zero's vni-7 remote is left.
	if got := macs(tb); !slices.Equal(got, []header.MAC{zero}) {
		t.Fatalf("left %v", got)
	}
	wantRemotes(t, mustGet(t, tb, zero), Remote{IP: ip2, Port: devPort, VNI: 7})

	// Remote filters combine with entry filters.
	tb = flushFixture(t, nil)
	if _, err := tb.Flush(FlushFilter{Dst: ip2, State: StatePermanent, StateMask: StatePermanent}); err != nil {
		t.Fatal(err)
	}
	if got := macs(tb); !slices.Equal(got, sorted(zero, macA, macB, macC, macMC)) {
		t.Fatalf("left %v", got)
	}
	wantRemotes(t, mustGet(t, tb, macMC), rem(ip1))
	wantRemotes(t, mustGet(t, tb, macB), rem(ip2))
}

func TestFlushMayDeleteDefaultEntry(t *testing.T) {
	// vxlan_fdb_delete_bulk leaves ignore_default_entry false.
	tb := flushFixture(t, nil)
	if _, err := tb.Flush(FlushFilter{State: StatePermanent, StateMask: StatePermanent}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, tb, zero)
}

func TestFlushRejectsUnsupportedBits(t *testing.T) {
	// vxlan_fdb_delete_bulk: VXLAN_FDB_FLUSH_ALLOWED_NDM_{STATES,FLAGS}.
	tb := flushFixture(t, nil)
	for _, tc := range []struct {
		f   FlushFilter
		msg string
	}{
		{FlushFilter{Flags: FlagSticky, FlagsMask: FlagSticky}, "Error: Unsupported fdb flush ndm flag bits set."},
		{FlushFilter{Flags: FlagUse, FlagsMask: FlagUse}, "Error: Unsupported fdb flush ndm flag bits set."}, // `added_by_user`
		{FlushFilter{State: StateReachable, StateMask: StateReachable}, "Error: Unsupported fdb flush ndm state bits set."},
	} {
		_, err := tb.Flush(tc.f)
		wantErr(t, err, ErrInvalid)
		if err.Error() != tc.msg {
			t.Fatalf("err = %q; want %q", err, tc.msg)
		}
	}
	// Only the flag value is checked, not the mask: `nosticky` passes.
	if _, err := tb.Flush(FlushFilter{Flags: FlagSelf, FlagsMask: FlagSticky}); err != nil {
		t.Fatalf("nosticky: %v", err)
	}
	if tb.Len() != 0 {
		t.Fatalf("nosticky left %d entries", tb.Len())
	}
}

func TestFlushDownKeepsStaticAndDefaultEntry(t *testing.T) {
	// vxlan_stop: flush state 0 under mask PERMANENT|NOARP, ignoring the
	// default entry.
	tb := flushFixture(t, nil)
	tb.Learn(header.MustParseMAC("02:00:00:00:00:0d"), devVNI, ip2, 0)
	wantErr(t, tb.Add(dynamic(header.MustParseMAC("02:00:00:00:00:0e"), ip2)), nil)
	if n := tb.FlushDown(); n != 3 {
		t.Fatalf("FlushDown destroyed %d; want 3", n)
	}
	if got := macs(tb); !slices.Equal(got, sorted(zero, macA, macB, macMC)) {
		t.Fatalf("left %v", got)
	}
	// A dynamic default entry survives too.
	tb, _ = newTable(t, nil)
	wantErr(t, tb.Add(dynamic(zero, ip1)), nil)
	tb.FlushDown()
	mustGet(t, tb, zero)
}

func TestFlushDownDefaultEntryIsPerDeviceVNI(t *testing.T) {
	// vxlan_fdb_is_default_entry: zero MAC *and* key VNI == cfg->vni; in
	// external mode an all-zeros entry under another VNI is flushed.
	tb, _ := newTable(t, func(c *Config) { c.External = true })
	wantErr(t, tb.Add(dynamic(zero, ip1)), nil)
	r := dynamic(zero, ip1)
	r.SrcVNI, r.HasSrcVNI = 7, true
	wantErr(t, tb.Add(r), nil)
	tb.FlushDown()
	if tb.Lookup(zero, devVNI) == nil || tb.Lookup(zero, 7) != nil {
		t.Fatal("FlushDown must keep only the device-VNI default entry")
	}
}
