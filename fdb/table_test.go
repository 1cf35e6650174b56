package fdb

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// The rows of the operation table in kernel-vxlan.md §2.2, one test per
// cell, all from vxlan_fdb_update / vxlan_fdb_update_existing /
// vxlan_fdb_update_create / __vxlan_fdb_delete.

func TestAddAbsentCreatesEntry(t *testing.T) {
	// vxlan_fdb_update → vxlan_fdb_update_create → vxlan_fdb_create
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	e := mustGet(t, tb, macA)
	wantRemotes(t, e, rem(ip1))
	if e.State() != StateNoARP|StatePermanent || e.Flags() != FlagSelf|FlagAddedByUser {
		t.Fatalf("state %#x flags %#x", e.State(), e.Flags())
	}
	if tb.Len() != 1 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func TestAddPresentIsEEXIST(t *testing.T) {
	// vxlan_fdb_update: NLM_F_EXCL on an existing entry → -EEXIST.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	err := tb.Add(static(macA, ip2))
	wantErr(t, err, ErrExist)
	if !errors.Is(err, syscall.EEXIST) || err.Error() != "RTNETLINK answers: File exists" {
		t.Fatalf("err = %q", err)
	}
	wantRemotes(t, mustGet(t, tb, macA), rem(ip1))
}

func TestAddMulticastAndZeroMACCreate(t *testing.T) {
	// vxlan_fdb_update_create refuses only NLM_F_REPLACE for these.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macMC, ip1)), nil)
	wantErr(t, tb.Add(static(zero, ip2)), nil)
	wantRemotes(t, mustGet(t, tb, macMC), rem(ip1))
	wantRemotes(t, mustGet(t, tb, zero), rem(ip2))
}

func TestAppendAbsentCreatesEntry(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Append(static(macA, ip1)), nil)
	wantErr(t, tb.Append(static(zero, ip1)), nil)
	wantRemotes(t, mustGet(t, tb, macA), rem(ip1))
	wantRemotes(t, mustGet(t, tb, zero), rem(ip1))
}

func TestAppendZeroMACAddsRemoteOnceInOrder(t *testing.T) {
	// vxlan_fdb_update_existing → vxlan_fdb_append (list_add_tail; no-op
	// when vxlan_fdb_find_rdst finds the 4-tuple).
	tb, _ := newTable(t, nil)
	for _, ip := range []netip.Addr{ip1, ip2, ip1, ip3, ip2} {
		wantErr(t, tb.Append(static(zero, ip)), nil)
	}
	r2port := static(zero, ip1)
	r2port.Port = 8472
	wantErr(t, tb.Append(r2port), nil)
	wantRemotes(t, mustGet(t, tb, zero), rem(ip1), rem(ip2), rem(ip3), Remote{IP: ip1, Port: 8472, VNI: devVNI})
	if tb.Len() != 1 {
		t.Fatalf("Len = %d; remotes are not entries", tb.Len())
	}
}

func TestAppendMulticastMACAddsRemote(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Append(static(macMC, ip1)), nil)
	wantErr(t, tb.Append(static(macMC, ip2)), nil)
	wantRemotes(t, mustGet(t, tb, macMC), rem(ip1), rem(ip2))
}

func TestAppendUnicastAddsNoRemoteButUpdatesStateFlags(t *testing.T) {
	// vxlan_fdb_update_existing: NLM_F_APPEND appends only for multicast or
	// all-zeros addresses; state/flags are still taken from the request.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	r := dynamic(macA, ip2)
	r.Flags |= FlagRouter
	wantErr(t, tb.Append(r), nil)
	e := mustGet(t, tb, macA)
	wantRemotes(t, e, rem(ip1))
	if e.State() != StateReachable || e.Flags() != FlagSelf|FlagRouter|FlagAddedByUser {
		t.Fatalf("state %#x flags %v", e.State(), e.Flags())
	}
}

func TestReplaceUnicastAbsentCreates(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Replace(static(macA, ip1)), nil)
	wantRemotes(t, mustGet(t, tb, macA), rem(ip1))
}

func TestReplaceMulticastOrZeroAbsentIsEOPNOTSUPP(t *testing.T) {
	// vxlan_fdb_update_create: "Disallow replace to add a multicast entry",
	// no extack message.
	tb, _ := newTable(t, nil)
	for _, m := range []header.MAC{macMC, zero, header.BroadcastMAC} {
		err := tb.Replace(static(m, ip1))
		wantErr(t, err, ErrNotSupported)
		if err.Error() != "RTNETLINK answers: Operation not supported" {
			t.Fatalf("err = %q", err)
		}
		wantAbsent(t, tb, m)
	}
}

func TestReplaceUnicastOverwritesFirstRemote(t *testing.T) {
	// vxlan_fdb_replace rewrites the first rdst's whole 4-tuple.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	r := static(macA, ip2)
	r.Port, r.VNI, r.HasVNI, r.Ifindex = 8472, 7, true, 3
	wantErr(t, tb.Replace(r), nil)
	wantRemotes(t, mustGet(t, tb, macA), Remote{IP: ip2, Port: 8472, VNI: 7, Ifindex: 3})
}

func TestReplaceUnicastNoOpWhen4TupleAlreadyListed(t *testing.T) {
	// vxlan_fdb_replace returns 0 when vxlan_fdb_find_rdst finds the
	// 4-tuple anywhere in the list. A unicast entry never has more than one
	// remote (append adds none to it), so the 4-tuple can only be the first
	// remote's: nothing changes, not even "updated".
	tb, c := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	e := mustGet(t, tb, macA)
	before := e.Updated()
	c.advance(5 * time.Second)
	wantErr(t, tb.Replace(static(macA, ip1)), nil)
	wantRemotes(t, e, rem(ip1))
	if e.Updated() != before {
		t.Fatalf("updated moved on a no-op replace")
	}
}

func TestReplaceMulticastPresentIsEOPNOTSUPPAfterStateChange(t *testing.T) {
	// vxlan_fdb_update_existing changes state/flags before it refuses the
	// replace with "Cannot replace non-unicast fdb entries"; the change
	// stays.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(zero, ip1)), nil)
	r := dynamic(zero, ip2)
	r.Flags |= FlagRouter
	err := tb.Replace(r)
	wantErr(t, err, ErrNotSupported)
	if err.Error() != "Error: Cannot replace non-unicast fdb entries." {
		t.Fatalf("err = %q", err)
	}
	e := mustGet(t, tb, zero)
	wantRemotes(t, e, rem(ip1))
	if e.State() != StateReachable || e.Flags()&FlagRouter == 0 {
		t.Fatalf("state %#x flags %v: want the refused request's state/flags", e.State(), e.Flags())
	}
}

func TestDeleteAbsentIsENOENT(t *testing.T) {
	tb, _ := newTable(t, nil)
	err := tb.Delete(Request{MAC: macA})
	wantErr(t, err, ErrNotFound)
	if !errors.Is(err, syscall.ENOENT) || err.Error() != "RTNETLINK answers: No such file or directory" {
		t.Fatalf("err = %q", err)
	}
	wantErr(t, tb.Delete(Request{MAC: macA, Dst: ip1}), ErrNotFound)
}

func TestDeleteWithoutDstDestroysWholeEntry(t *testing.T) {
	// __vxlan_fdb_delete: ip is "any" → vxlan_fdb_destroy.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Append(static(zero, ip1)), nil)
	wantErr(t, tb.Append(static(zero, ip2)), nil)
	wantErr(t, tb.Delete(Request{MAC: zero}), nil)
	wantAbsent(t, tb, zero)
	// An explicit 0.0.0.0 is "any" as well.
	wantErr(t, tb.Append(static(zero, ip1)), nil)
	wantErr(t, tb.Append(static(zero, ip2)), nil)
	wantErr(t, tb.Delete(Request{MAC: zero, Dst: any4}), nil)
	wantAbsent(t, tb, zero)
	if tb.Len() != 0 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func TestDeleteWithDstRemovesThatRemoteOnly(t *testing.T) {
	// __vxlan_fdb_delete → vxlan_fdb_dst_destroy when the list is not
	// singular.
	tb, _ := newTable(t, nil)
	for _, ip := range []netip.Addr{ip1, ip2, ip3} {
		wantErr(t, tb.Append(static(zero, ip)), nil)
	}
	wantErr(t, tb.Delete(Request{MAC: zero, Dst: ip2}), nil)
	wantRemotes(t, mustGet(t, tb, zero), rem(ip1), rem(ip3))
}

func TestDeleteWithDstOfOnlyRemoteDestroysEntry(t *testing.T) {
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	wantErr(t, tb.Delete(Request{MAC: macA, Dst: ip1}), nil)
	wantAbsent(t, tb, macA)
}

func TestDeleteWithUnknown4TupleReturnsNilAndDeletesNothing(t *testing.T) {
	// __vxlan_fdb_delete: vxlan_fdb_find_rdst fails → "goto out" with 0.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	for _, r := range []Request{
		{MAC: macA, Dst: ip2},
		{MAC: macA, Dst: ip1, Port: 8472},
		{MAC: macA, Dst: ip1, VNI: 7, HasVNI: true},
		{MAC: macA, Dst: ip1, Ifindex: 9},
		{MAC: macA, Dst: ip6a}, // another family: no match, no error
	} {
		wantErr(t, tb.Delete(r), nil)
		wantRemotes(t, mustGet(t, tb, macA), rem(ip1))
	}
}

func TestUpdateWithoutPermanentOrReachableIsInvalidState(t *testing.T) {
	// vxlan_fdb_add: "RTM_NEWNEIGH with invalid state".
	tb, _ := newTable(t, nil)
	for _, s := range []State{0, StateNoARP, StateStale} {
		r := static(macA, ip1)
		r.State = s
		err := tb.Add(r)
		wantErr(t, err, ErrInvalidState)
		wantErr(t, err, ErrInvalid)
		var oe *OpError
		if !errors.As(err, &oe) || !strings.Contains(oe.Log, "RTM_NEWNEIGH with invalid state") {
			t.Fatalf("err = %#v", err)
		}
	}
	wantAbsent(t, tb, macA)
}

func TestUpdateRequiresDst(t *testing.T) {
	// vxlan_fdb_add: !tb[NDA_DST] && !tb[NDA_NH_ID] → -EINVAL.
	tb, _ := newTable(t, nil)
	err := tb.Add(Request{MAC: macA, State: StatePermanent})
	wantErr(t, err, ErrInvalid)
	if errors.Is(err, ErrInvalidState) {
		t.Fatal("missing dst reported as invalid state")
	}
}

func TestUpdateDstFamilyMustMatchLink(t *testing.T) {
	// vxlan_fdb_add: cfg->remote_ip family != ip family → -EAFNOSUPPORT.
	tb, _ := newTable(t, nil)
	err := tb.Add(static(macA, ip6a))
	wantErr(t, err, ErrFamily)
	if !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("err = %v", err)
	}
	tb6, _ := newTable(t, func(c *Config) { c.IPv6 = true })
	wantErr(t, tb6.Add(static(macA, ip1)), ErrFamily)
	wantErr(t, tb6.Add(static(macA, ip6a)), nil)
}

func TestUpdateViaMustExist(t *testing.T) {
	// vxlan_fdb_parse: __dev_get_by_index fails → -EADDRNOTAVAIL "Device not found".
	tb, _ := newTable(t, func(c *Config) { c.IfindexExists = func(i int) bool { return i == 2 } })
	r := static(macA, ip1)
	r.Ifindex = 3
	err := tb.Add(r)
	wantErr(t, err, ErrNoDevice)
	if err.Error() != "Error: Device not found." {
		t.Fatalf("err = %q", err)
	}
	r.Ifindex = 2
	wantErr(t, tb.Add(r), nil)
	wantRemotes(t, mustGet(t, tb, macA), Remote{IP: ip1, Port: devPort, VNI: devVNI, Ifindex: 2})
}

func TestParseDefaultsPortVNISrcVNIFromDevice(t *testing.T) {
	// vxlan_fdb_parse: absent NDA_PORT/NDA_VNI/NDA_SRC_VNI/NDA_IFINDEX take
	// cfg->dst_port, cfg->vni, cfg->vni and 0.
	tb, _ := newTable(t, func(c *Config) { c.External = true })
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	e := tb.Lookup(macA, devVNI)
	if e == nil {
		t.Fatal("entry not under the device VNI")
	}
	wantRemotes(t, e, rem(ip1))
	// An explicit VNI 0 is a VNI, not "absent".
	r := static(macB, ip1)
	r.VNI, r.HasVNI = 0, true
	wantErr(t, tb.Add(r), nil)
	wantRemotes(t, tb.Lookup(macB, devVNI), Remote{IP: ip1, Port: devPort, VNI: 0})
}

func TestUpdateMarksEntryAddedByUser(t *testing.T) {
	// vxlan_fdb_add passes ndm_flags | NTF_VXLAN_ADDED_BY_USER; learned
	// entries and the default entry do not carry it.
	tb, _ := newTable(t, func(c *Config) { c.Remote = ip3 })
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	tb.Learn(macB, devVNI, ip2, 0)
	if f := mustGet(t, tb, macA).Flags(); f&FlagAddedByUser == 0 {
		t.Fatalf("user entry flags %v", f)
	}
	if f := mustGet(t, tb, macB).Flags(); f != FlagSelf {
		t.Fatalf("learned entry flags %v", f)
	}
	if f := mustGet(t, tb, zero).Flags(); f != FlagSelf {
		t.Fatalf("default entry flags %v", f)
	}
}

func TestExternLearnCannotOverrideUserAddedStateFlags(t *testing.T) {
	// vxlan_fdb_update_existing: "Do not allow an externally learned entry
	// to take over an entry added by the user." The remote is still
	// replaced: only state and flags are protected.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	r := dynamic(macA, ip2)
	r.Flags |= FlagExtLearned
	wantErr(t, tb.Replace(r), nil)
	e := mustGet(t, tb, macA)
	if e.State() != StateNoARP|StatePermanent || e.Flags() != FlagSelf|FlagAddedByUser {
		t.Fatalf("state %#x flags %v changed", e.State(), e.Flags())
	}
	wantRemotes(t, e, rem(ip2))
}

func TestExternLearnOverridesLearnedEntry(t *testing.T) {
	tb, _ := newTable(t, nil)
	tb.Learn(macA, devVNI, ip1, 0)
	r := dynamic(macA, ip2)
	r.Flags |= FlagExtLearned
	wantErr(t, tb.Replace(r), nil)
	e := mustGet(t, tb, macA)
	if e.Flags() != FlagSelf|FlagExtLearned|FlagAddedByUser {
		t.Fatalf("flags %v", e.Flags())
	}
}

func TestUseRefreshesUpdatedAndIsNotStored(t *testing.T) {
	// vxlan_fdb_update_existing: NTF_USE → WRITE_ONCE(f->updated, jiffies);
	// fdb_flags = ndm_flags & ~NTF_USE.
	tb, c := newTable(t, nil)
	r := static(macA, ip1)
	r.Flags |= FlagUse
	wantErr(t, tb.Add(r), nil)
	e := mustGet(t, tb, macA)
	if e.Flags()&FlagUse != 0 {
		t.Fatalf("flags %v store NTF_USE", e.Flags())
	}
	c.advance(7 * time.Second)
	used := e.Used()
	wantErr(t, tb.Append(r), nil) // same state, same flags: no change but USE
	if e.Updated() != c.now() || e.Used() != used {
		t.Fatalf("updated %d used %d; want updated %d, used unchanged %d", e.Updated(), e.Used(), c.now(), used)
	}
}

func TestUpdateWithoutCreateOnAbsentIsENOENT(t *testing.T) {
	// vxlan_fdb_update: !(flags & NLM_F_CREATE) → -ENOENT.
	tb, _ := newTable(t, nil)
	wantErr(t, tb.Update(OpReplace, static(macA, ip1)), ErrNotFound)
	wantErr(t, tb.Update(0, static(macA, ip1)), ErrNotFound)
}

func TestChangeOfExistingEntryRefreshesUpdated(t *testing.T) {
	// vxlan_fdb_update_existing: notify → WRITE_ONCE(f->updated, jiffies).
	tb, c := newTable(t, nil)
	wantErr(t, tb.Add(dynamic(macA, ip1)), nil)
	c.advance(100 * time.Second)
	wantErr(t, tb.Replace(dynamic(macA, ip2)), nil)
	if e := mustGet(t, tb, macA); e.Updated() != c.now() {
		t.Fatalf("updated = %d; want %d", e.Updated(), c.now())
	}
}

func TestMaxAddressCountsAllEntries(t *testing.T) {
	// vxlan_fdb_create: cfg->addrmax && addrcnt >= addrmax → -ENOSPC; the
	// default entry and static entries count.
	tb, _ := newTable(t, func(c *Config) { c.MaxAddress = 3; c.Remote = ip3 })
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	if r := tb.Learn(macB, devVNI, ip2, 0); r != LearnCreated {
		t.Fatalf("Learn = %v", r)
	}
	err := tb.Add(static(macMC, ip1))
	wantErr(t, err, ErrNoSpace)
	if err.Error() != "RTNETLINK answers: No space left on device" {
		t.Fatalf("err = %q", err)
	}
	// Learning at the limit is silent (vxlan_snoop ignores the error).
	if r := tb.Learn(header.MustParseMAC("02:00:00:00:00:0c"), devVNI, ip2, 0); r != LearnFull || r.Drop() {
		t.Fatalf("Learn at limit = %v", r)
	}
	// Remotes are not entries: appending to the default entry still works.
	wantErr(t, tb.Append(static(zero, ip1)), nil)
	wantErr(t, tb.Delete(Request{MAC: macA}), nil)
	wantErr(t, tb.Add(static(macMC, ip1)), nil)
}

func TestKeyIgnoresSrcVNIOutsideExternalMode(t *testing.T) {
	// vxlan_find_mac_rcu: key.vni = cfg->vni unless VXLAN_F_COLLECT_METADATA.
	tb, _ := newTable(t, nil)
	r := static(macA, ip1)
	r.SrcVNI, r.HasSrcVNI = 7, true
	wantErr(t, tb.Add(r), nil)
	if tb.Lookup(macA, 99) == nil || tb.Lookup(macA, devVNI) == nil {
		t.Fatal("non-external lookup must ignore the VNI")
	}
	wantErr(t, tb.Add(static(macA, ip2)), ErrExist)
	for n := range tb.Neighs() {
		if n.HasSrcVNI {
			t.Fatalf("src_vni dumped outside external mode: %v", n)
		}
	}
}

func TestKeyUsesSrcVNIInExternalMode(t *testing.T) {
	tb, _ := newTable(t, func(c *Config) { c.External = true; c.VNI = 0 })
	for _, v := range []header.VNI{100, 200} {
		r := static(macA, ip1)
		r.SrcVNI, r.HasSrcVNI = v, true
		wantErr(t, tb.Add(r), nil)
	}
	if tb.Len() != 2 || tb.Lookup(macA, 100) == nil || tb.Lookup(macA, 200) == nil || tb.Lookup(macA, 300) != nil {
		t.Fatal("external mode must key by src_vni")
	}
	wantErr(t, tb.Delete(Request{MAC: macA, SrcVNI: 100, HasSrcVNI: true}), nil)
	if tb.Lookup(macA, 100) != nil || tb.Lookup(macA, 200) == nil {
		t.Fatal("delete by src_vni")
	}
}

func TestDefaultEntryFromLinkRemote(t *testing.T) {
	// vxlan_dev_create: all-zeros entry, NUD_REACHABLE|NUD_PERMANENT,
	// NTF_SELF, port = dst_port, vni = src_vni = cfg->vni, ifindex = dev.
	tb, _ := newTable(t, func(c *Config) { c.Remote = group; c.RemoteIfindex = 4 })
	e := mustGet(t, tb, zero)
	if e.State() != StateReachable|StatePermanent || e.Flags() != FlagSelf {
		t.Fatalf("state %#x flags %v", e.State(), e.Flags())
	}
	wantRemotes(t, e, Remote{IP: group, Port: devPort, VNI: devVNI, Ifindex: 4})
	if ip, ifi := tb.DefaultRemote(); ip != group || ifi != 4 {
		t.Fatalf("DefaultRemote = %v %d", ip, ifi)
	}
	none, _ := newTable(t, nil)
	if none.Len() != 0 {
		t.Fatal("no remote, no default entry")
	}
}

func TestChangelinkRemoteKeepsAppendedRemotes(t *testing.T) {
	// selftests/net/test_vxlan_fdb_changelink.sh: two `fdb append 00:…:00`
	// remotes survive `ip link set vx type vxlan remote …`
	// (vxlan_changelink: append new, then __vxlan_fdb_delete old).
	tb, _ := newTable(t, func(c *Config) { c.Remote = ip1 })
	wantErr(t, tb.Append(static(zero, ip2)), nil)
	wantErr(t, tb.Append(static(zero, ip3)), nil)
	wantErr(t, tb.SetDefaultRemote(netip.MustParseAddr("10.0.0.9"), 0), nil)
	e := mustGet(t, tb, zero)
	wantRemotes(t, e, rem(ip2), rem(ip3), rem(netip.MustParseAddr("10.0.0.9")))
	// The append of the link's remote rewrote state/flags like any
	// NLM_F_APPEND update.
	if e.State() != StateReachable|StatePermanent || e.Flags() != FlagSelf {
		t.Fatalf("state %#x flags %v", e.State(), e.Flags())
	}
	// Removing the remote deletes only its own remote.
	wantErr(t, tb.SetDefaultRemote(netip.Addr{}, 0), nil)
	wantRemotes(t, mustGet(t, tb, zero), rem(ip2), rem(ip3))
}

func TestChangelinkRemoteRecreatesDeletedDefaultEntry(t *testing.T) {
	tb, _ := newTable(t, func(c *Config) { c.Remote = ip1 })
	wantErr(t, tb.Delete(Request{MAC: zero}), nil)
	wantErr(t, tb.SetDefaultRemote(ip2, 0), nil) // old one absent: ENOENT ignored
	wantRemotes(t, mustGet(t, tb, zero), rem(ip2))
	// Changing only the lower device moves the remote.
	wantErr(t, tb.SetDefaultRemote(ip2, 5), nil)
	wantRemotes(t, mustGet(t, tb, zero), Remote{IP: ip2, Port: devPort, VNI: devVNI, Ifindex: 5})
	// Sole remote removed → entry destroyed.
	wantErr(t, tb.SetDefaultRemote(netip.Addr{}, 0), nil)
	wantAbsent(t, tb, zero)
}

func TestChangelinkRemoteFamilyChangeIsEOPNOTSUPP(t *testing.T) {
	// vxlan_nl2conf: "New group address family does not match old group".
	tb, _ := newTable(t, func(c *Config) { c.Remote = ip1 })
	err := tb.SetDefaultRemote(ip6a, 0)
	wantErr(t, err, ErrNotSupported)
	if err.Error() != "Error: New group address family does not match old group." {
		t.Fatalf("err = %q", err)
	}
}

func TestGetMissIsENOENTWithExtack(t *testing.T) {
	// vxlan_fdb_get: "Fdb entry not found".
	tb, _ := newTable(t, nil)
	_, err := tb.Get(macA, devVNI)
	wantErr(t, err, ErrNotFound)
	if err.Error() != "Error: Fdb entry not found." {
		t.Fatalf("err = %q", err)
	}
}

func TestAgeingZeroMeans300Seconds(t *testing.T) {
	// vxlan_config_validate: age_interval 0 → FDB_AGE_DEFAULT.
	tb, _ := newTable(t, nil)
	if tb.Ageing() != 300*time.Second {
		t.Fatalf("Ageing = %v", tb.Ageing())
	}
	tb.SetAgeing(30 * time.Second)
	tb.SetAgeing(0)
	if tb.Ageing() != 300*time.Second {
		t.Fatalf("Ageing after SetAgeing(0) = %v", tb.Ageing())
	}
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := New(Config{VNI: header.MaxVNI + 1}); err == nil {
		t.Fatal("VNI out of range accepted")
	}
	if _, err := New(Config{Remote: ip6a}); err == nil {
		t.Fatal("IPv6 remote on an IPv4 link accepted")
	}
	tb, err := New(Config{})
	if err != nil || tb.Port() != DefaultPort {
		t.Fatalf("New(zero) = %v, port %d", err, tb.Port())
	}
}
