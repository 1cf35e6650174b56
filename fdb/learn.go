package fdb

import (
	"net/netip"

	"github.com/vtepd/vtep/header"
)

// Lookup returns the entry for mac, or nil (vxlan_find_mac_tx). srcVNI is
// the VNI of the frame's tunnel key in external mode and is ignored
// otherwise. A hit refreshes the entry's "used" time from the hot-path
// clock. Lookup takes no lock and does not allocate.
func (t *Table) Lookup(mac header.MAC, srcVNI header.VNI) *Entry {
	e := t.find(t.key(mac, srcVNI))
	if e != nil {
		t.touch(e)
	}
	return e
}

func (t *Table) touch(e *Entry) {
	// Skip the store when nothing changed, so concurrent lookups of one
	// entry do not bounce its cache line between cores.
	if now := t.coarse.Load(); e.used.Load() != now {
		e.used.Store(now)
	}
}

// Resolve returns where a frame to dst goes, as steps 5 and 7 of vxlan_xmit:
// the entry for dst, or else the default (all-zeros) entry, in which case
// flood is true. Broadcast and multicast destinations resolve the same way.
// A nil entry means there is no target (drop, SKB_DROP_REASON_NO_TX_TARGET,
// after an L2-miss notification if enabled and dst is not multicast). Every
// remote of the returned entry gets a copy of the frame, in list order.
func (t *Table) Resolve(dst header.MAC, srcVNI header.VNI) (e *Entry, flood bool) {
	if e = t.Lookup(dst, srcVNI); e != nil {
		return e, false
	}
	if e = t.Lookup(header.ZeroMAC, srcVNI); e != nil {
		return e, true
	}
	return nil, false
}

// Learn records that frames from mac arrive from the VTEP src (vxlan_snoop).
// srcVNI is the frame's VNI. ifindex is the underlay interface the frame
// came in on; it is recorded only when src is an IPv6 link-local address.
//
// An existing entry has its "updated" time refreshed; if its first remote
// already has src and that ifindex the result is LearnKnown, which takes no
// lock and does not allocate. A static or permanent entry pointing elsewhere
// yields LearnEntryExists (drop the frame). Otherwise the first remote's IP is
// rewritten to src, keeping its port, VNI and ifindex (LearnMigrated). An
// absent entry is created as REACHABLE with flags SELF and a remote
// {src, device port, device VNI, ifindex} (LearnCreated), unless the table
// is at maxaddress (LearnFull). src must be a valid address.
func (t *Table) Learn(mac header.MAC, srcVNI header.VNI, src netip.Addr, ifindex int) LearnResult {
	if !mac.IsValidUnicast() {
		return LearnInvalidSource
	}
	if !(src.Is6() && (src.IsLinkLocalUnicast() || src.IsLinkLocalMulticast())) {
		ifindex = 0
	}
	src = src.WithZone("")
	k := t.key(mac, srcVNI)
	if e := t.find(k); e != nil {
		if now := t.coarse.Load(); e.updated.Load() != now {
			e.updated.Store(now)
		}
		if r := learnCheck(e, src, ifindex); r != LearnMigrated {
			return r
		}
	} else if t.maxAddr != 0 && t.count.Load() >= int64(t.maxAddr) {
		// Full: do not take the lock for every frame of a MAC flood.
		return LearnFull
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.learnLocked(k, src, ifindex)
}

// learnCheck classifies a hit: known, entry-exists, or needs migration.
func learnCheck(e *Entry, src netip.Addr, ifindex int) LearnResult {
	// The first remote is replaced before its tag; a reader racing with a
	// change may see either, which is as good as reading just before or
	// just after the change.
	tag, first := remoteTag(src, ifindex), e.first.Load()
	switch {
	case tag != 0 && first == tag:
		return LearnKnown
	case tag != 0 && first != 0:
		// Both IPv4 and different: no need to load the remote list.
	default:
		if r, ok := e.FirstRemote(); ok && r.IP == src && r.Ifindex == ifindex {
			return LearnKnown
		}
	}
	// "Don't migrate static entries, drop packets"
	if e.State().IsStatic() {
		return LearnEntryExists
	}
	// "Don't override an fdb with nexthop with a learnt entry"
	if e.NHID() != 0 {
		return LearnEntryExists
	}
	return LearnMigrated
}

// learnLocked migrates or creates under the lock, after looking the key up
// again: another writer may have changed or removed the entry since the
// lock-free check.
func (t *Table) learnLocked(k Key, src netip.Addr, ifindex int) LearnResult {
	now := t.coarse.Load()
	if e := t.find(k); e != nil {
		r := learnCheck(e, src, ifindex)
		if r != LearnMigrated {
			return r
		}
		prev := e.Remotes()[0]
		nr := prev
		nr.IP = src
		e.replaceFirst(nr)
		e.updated.Store(now)
		t.emitLocked(e, EventMigrated, nr, prev, now)
		return LearnMigrated
	}
	e, err := t.createLocked(k, StateReachable, FlagSelf,
		Remote{IP: src, Port: t.port, VNI: t.vni, Ifindex: ifindex}, 0, now)
	if err != nil {
		return LearnFull
	}
	t.emitLocked(e, EventLearned, e.Remotes()[0], Remote{}, now)
	return LearnCreated
}
