package fdb

import (
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/vtepd/vtep/header"
)

// State holds neighbour (NUD) state bits, as in ndm_state
// (include/uapi/linux/neighbour.h).
type State uint16

// NUD state bits used by the vxlan FDB.
const (
	StateReachable State = 0x02 // NUD_REACHABLE: dynamic
	StateStale     State = 0x04 // NUD_STALE: set on entries destroyed by ageing
	StateNoARP     State = 0x40 // NUD_NOARP: static
	StatePermanent State = 0x80 // NUD_PERMANENT: permanent

	// stateStatic is the set of bits that make an entry static: never aged,
	// never migrated by learning.
	stateStatic = StatePermanent | StateNoARP
)

// IsStatic reports whether s has NUD_PERMANENT or NUD_NOARP set.
func (s State) IsStatic() bool { return s&stateStatic != 0 }

// String returns the word `bridge fdb show` prints for s (bridge/fdb.c
// state_n2a): "permanent", "static", "stale", "" for reachable, or
// "state=0x…".
func (s State) String() string {
	switch {
	case s&StatePermanent != 0:
		return "permanent"
	case s&StateNoARP != 0:
		return "static"
	case s&StateStale != 0:
		return "stale"
	case s&StateReachable != 0:
		return ""
	}
	return "state=0x" + strconv.FormatUint(uint64(s), 16)
}

// Flags holds neighbour flag bits (ndm_flags, NTF_*), widened to 16 bits
// for the driver-internal added-by-user marker.
type Flags uint16

// NTF flag bits.
const (
	FlagUse        Flags = 0x01 // NTF_USE: refresh "updated"; never stored
	FlagSelf       Flags = 0x02 // NTF_SELF
	FlagMaster     Flags = 0x04 // NTF_MASTER
	FlagExtLearned Flags = 0x10 // NTF_EXT_LEARNED: not aged
	FlagOffloaded  Flags = 0x20 // NTF_OFFLOADED
	FlagSticky     Flags = 0x40 // NTF_STICKY: stored, no vxlan meaning
	FlagRouter     Flags = 0x80 // NTF_ROUTER: route short-circuit, NA router bit

	// FlagAddedByUser is NTF_VXLAN_ADDED_BY_USER, which vxlan_fdb_add sets
	// on every entry created or updated through RTM_NEWNEIGH. It never
	// reaches a dump (ndm_flags is 8 bits wide).
	FlagAddedByUser Flags = 0x100
)

var flagWords = [...]struct {
	f Flags
	w string
}{
	{FlagSelf, "self"},
	{FlagRouter, "router"},
	{FlagExtLearned, "extern_learn"},
	{FlagOffloaded, "offload"},
	{FlagMaster, "master"},
	{FlagSticky, "sticky"},
}

// String lists the flags the way `bridge fdb show` does, space separated,
// in its order (self, router, extern_learn, offload, master, sticky); the
// use and added-by-user bits are not printed by iproute2 and are shown as
// "use" and "added_by_user" here.
func (f Flags) String() string {
	var b strings.Builder
	add := func(w string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	for _, fw := range flagWords {
		if f&fw.f != 0 {
			add(fw.w)
		}
	}
	if f&FlagUse != 0 {
		add("use")
	}
	if f&FlagAddedByUser != 0 {
		add("added_by_user")
	}
	return b.String()
}

// Key identifies an entry: the inner Ethernet address and the source VNI
// (struct vxlan_fdb_key). Outside external mode a Table stores every entry
// under the device VNI, whatever VNI a caller passes.
//
// Key is comparable and pointer-free (2026-11: a packed key keeps the hot index
// free of GC-scanned words; see [Table]).
type Key struct {
	MAC    header.MAC
	SrcVNI header.VNI
}

// Remote is one tunnel destination of an entry (struct vxlan_rdst),
// identified by the whole 4-tuple.
type Remote struct {
	// IP is the remote VTEP. The unspecified address of the underlay
	// family means "bridge-local": the kernel does not transmit to it.
	IP netip.Addr
	// Port is the UDP destination port.
	Port uint16
	// VNI is the VNI sent to this remote.
	VNI header.VNI
	// Ifindex is the outgoing underlay interface (`via DEV`), 0 for none.
	Ifindex int
}

// BridgeLocal reports whether r points at the local bridge (IP is 0.0.0.0
// or ::), which vxlan_xmit_one drops unless route short-circuit applied.
func (r Remote) BridgeLocal() bool { return r.IP.IsUnspecified() }

// TxPort returns the UDP destination port for r: r.Port, or devPort when it
// is 0 (vxlan_xmit_one: rdst->remote_port ?: cfg->dst_port).
func (r Remote) TxPort(devPort uint16) uint16 {
	if r.Port != 0 {
		return r.Port
	}
	return devPort
}

// TxVNI returns the VNI to put in the header for r: r.VNI, or fallback when
// it is 0 (vxlan_xmit_one: rdst->remote_vni ?: default_vni). The kernel's
// fallback is the tunnel key's VNI in external mode and 0 otherwise.
func (r Remote) TxVNI(fallback header.VNI) header.VNI {
	if r.VNI != 0 {
		return r.VNI
	}
	return fallback
}

// Entry is one FDB entry (struct vxlan_fdb). Entries returned by a Table
// are live: their methods read the current state with atomic loads and may
// be called concurrently with updates. An Entry that has been deleted stays
// readable but no longer changes.
type Entry struct {
	key  Key    // immutable
	hash uint64 // immutable

	sf      atomic.Uint32 // State | Flags<<16; written under Table.mu
	remotes atomic.Pointer[remoteSet]
	first   atomic.Uint64 // remoteTag of the first remote, 0 if it has none
	nhid    atomic.Uint32 // nexthop group ID of a nexthop entry, else 0
	used    atomic.Int64  // last TX lookup, clock ns
	updated atomic.Int64  // last RX refresh or change, clock ns

	// Guarded by Table.mu.
	prev, next *Entry // Table.head list, newest first (fdb_list)
	linked     bool
}

// Key returns the entry's key.
func (e *Entry) Key() Key { return e.key }

// MAC returns the entry's Ethernet address.
func (e *Entry) MAC() header.MAC { return e.key.MAC }

// State returns the entry's NUD state bits.
func (e *Entry) State() State { return State(e.sf.Load()) }

// Flags returns the entry's NTF flag bits, including [FlagAddedByUser].
func (e *Entry) Flags() Flags { return Flags(e.sf.Load() >> 16) }

// IsRouter reports whether NTF_ROUTER is set.
func (e *Entry) IsRouter() bool { return e.Flags()&FlagRouter != 0 }

// NHID returns the nexthop group ID of a nexthop entry (`nhid`), or 0. A
// nexthop entry has no remotes: transmit picks a gateway from the group
// (vxlan_xmit_nh).
func (e *Entry) NHID() uint32 { return e.nhid.Load() }

// Remotes returns the entry's remotes in list order. The slice is shared
// and immutable: callers must not modify it. It is empty only for a
// nexthop entry.
func (e *Entry) Remotes() []Remote {
	if p := e.remotes.Load(); p != nil {
		return p.list
	}
	return nil
}

// firstOrZero returns the first remote, or the zero Remote for a nexthop
// entry (events and deletions report it).
func (e *Entry) firstOrZero() Remote {
	r, _ := e.FirstRemote()
	return r
}

// FirstRemote returns the first remote (first_remote_rcu); false for a
// nexthop entry.
func (e *Entry) FirstRemote() (Remote, bool) {
	rs := e.Remotes()
	if len(rs) == 0 {
		return Remote{}, false
	}
	return rs[0], true
}

// Used returns the clock time of the last transmit lookup.
func (e *Entry) Used() int64 { return e.used.Load() }

// Updated returns the clock time of the last change or receive refresh;
// ageing counts from it.
func (e *Entry) Updated() int64 { return e.updated.Load() }

func (e *Entry) setStateFlags(s State, f Flags) { e.sf.Store(uint32(s) | uint32(f)<<16) }

// setRemotes publishes a new remote list. The entry takes ownership of rs.
func (e *Entry) setRemotes(rs []Remote) {
	if len(rs) == 1 {
		e.setRemote(rs[0])
		return
	}
	e.remotes.Store(&remoteSet{list: rs})
	e.first.Store(remoteTag(rs[0].IP, rs[0].Ifindex))
}

// replaceFirst publishes the entry's remote list with its first remote
// replaced by r (vxlan_fdb_replace, and migration on learning). The list
// must not be empty.
func (e *Entry) replaceFirst(r Remote) {
	rs := e.Remotes()
	if len(rs) == 1 {
		e.setRemote(r)
		return
	}
	n := append([]Remote(nil), rs...)
	n[0] = r
	e.setRemotes(n)
}

// setRemote publishes a list of one remote (one allocation).
func (e *Entry) setRemote(r Remote) {
	s := &remoteSet{one: [1]Remote{r}}
	s.list = s.one[:]
	e.remotes.Store(s)
	e.first.Store(remoteTag(r.IP, r.Ifindex))
}

// remoteTag packs an IPv4 address and an ifindex into one word, so that
// learning can compare a source with an entry's first remote without
// loading the remote list (one cache miss less per received frame). It is
// 0 for anything that does not fit: IPv6 addresses, ifindex >= 2^31.
func remoteTag(ip netip.Addr, ifindex int) uint64 {
	if !ip.Is4() || ifindex < 0 || ifindex >= 1<<31 {
		return 0
	}
	a := ip.As4()
	return 1<<63 | uint64(ifindex)<<32 | uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
}

// remoteSet is an immutable remote list. A single remote, the common case,
// lives inside the set, so reaching it from an entry costs one pointer load
// and the set one allocation.
type remoteSet struct {
	list []Remote
	one  [1]Remote
}

// LearnResult is the outcome of [Table.Learn].
type LearnResult uint8

// Learn results, following vxlan_snoop.
const (
	// LearnKnown: the entry exists and its first remote already has this
	// source IP and ifindex; its "updated" time was refreshed.
	LearnKnown LearnResult = iota
	// LearnCreated: a new dynamic entry was created.
	LearnCreated
	// LearnMigrated: a dynamic entry's first remote IP was rewritten to the
	// new source (port, VNI and ifindex kept).
	LearnMigrated
	// LearnEntryExists: a static or permanent entry, or a nexthop entry,
	// points elsewhere. The caller drops the frame
	// (SKB_DROP_REASON_VXLAN_ENTRY_EXISTS).
	LearnEntryExists
	// LearnInvalidSource: the source MAC is multicast or all zeros. The
	// caller drops the frame (SKB_DROP_REASON_MAC_INVALID_SOURCE).
	LearnInvalidSource
	// LearnFull: no entry exists and the table is at maxaddress; nothing
	// was created and the frame is not dropped (the kernel ignores ENOSPC).
	LearnFull
)

var learnNames = [...]string{"known", "created", "migrated", "entry-exists", "invalid-source", "full"}

func (r LearnResult) String() string {
	if int(r) < len(learnNames) {
		return learnNames[r]
	}
	return "LearnResult(" + strconv.Itoa(int(r)) + ")"
}

// Drop reports whether the caller must drop the frame.
func (r LearnResult) Drop() bool { return r == LearnEntryExists || r == LearnInvalidSource }
