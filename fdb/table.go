package fdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/nexthop"
)

// Defaults and timer intervals.
const (
	// DefaultPort is the UDP destination port used when Config.Port is 0.
	// vtep defaults to the IANA port (RFC 7348 §5); the kernel's default
	// is 8472.
	DefaultPort uint16 = 4789
	// DefaultAgeing is FDB_AGE_DEFAULT, used when the ageing time is 0.
	DefaultAgeing = 300 * time.Second
	// AgeSweepInterval is FDB_AGE_INTERVAL, the longest time between two
	// ageing sweeps.
	AgeSweepInterval = 10 * time.Second
	// CoarseTick is how often [Table.Run] refreshes the hot-path clock.
	CoarseTick = time.Second
	// CoarseResolution is the hot-path clock's resolution, like a jiffy at
	// HZ=1000: lookups of one entry within the same millisecond store its
	// "used" time once, so cores do not fight over its cache line.
	CoarseResolution = time.Millisecond
)

// Clock returns a monotonic time in nanoseconds. Only differences between
// its values matter.
type Clock func() int64

// Config is the part of a VXLAN link's configuration the FDB needs.
type Config struct {
	// VNI is the device VNI (`id`). It is the VNI of entries that give none
	// and, outside external mode, of every key.
	VNI header.VNI
	// Port is the device UDP destination port (`dstport`); 0 means
	// DefaultPort.
	Port uint16
	// IPv6 says the underlay family is IPv6 (the family of `remote`,
	// `group` or `local`). Every dst must be of this family.
	IPv6 bool
	// External is collect-metadata mode (`external`): keys carry the source
	// VNI.
	External bool
	// Ageing is the lifetime of dynamic entries (`ageing`), rounded down to
	// whole seconds; 0 means DefaultAgeing.
	Ageing time.Duration
	// MaxAddress limits the number of entries, the default entry and static
	// entries included (`maxaddress`); 0 means unlimited.
	MaxAddress uint32
	// Remote is the default destination (`remote` or `group`). When valid and
	// not unspecified, New installs the all-zeros entry for it.
	Remote netip.Addr
	// RemoteIfindex is the lower device (`dev`), the outgoing interface of
	// the default entry only.
	RemoteIfindex int
	// Clock supplies time; nil means the process's monotonic clock.
	Clock Clock
	// IfindexExists validates `via DEV`; nil accepts any positive index.
	IfindexExists func(ifindex int) bool
	// Nexthops holds the kernel's nexthops that entries with `nhid` point
	// to. nil means there are none: every `nhid` is refused.
	Nexthops *nexthop.Table
}

// Table is the FDB of one VXLAN link. It is safe for concurrent use.
//
// Lookups and learning of known addresses go through a lock-free hash index
// (see index); everything that adds, removes or changes entries holds mu.
type Table struct {
	vni       header.VNI
	port      uint16
	ipv6      bool
	external  bool
	maxAddr   uint32
	clock     Clock
	ifindexOK func(int) bool
	nexthops  *nexthop.Table
	seed      [3]uint64

	idx    atomic.Pointer[index]
	coarse atomic.Int64 // hot-path time, advanced by Tick and every operation
	ageing atomic.Int64 // ns
	count  atomic.Int64
	kick   chan struct{} // wakes Run when the ageing time changes

	eventsDropped atomic.Uint64

	mu            sync.Mutex // guards following, and every write to entries
	head          *Entry     // newest first, as the kernel's fdb_list
	remote        netip.Addr // default destination, unspecified if none
	remoteIfindex int
	subs          []*subscriber

	mdb mdb // the multicast database (mdb.go), with a lock of its own
}

// New returns a table for the link described by cfg, with the default
// entry installed when cfg.Remote is set.
func New(cfg Config) (*Table, error) {
	if !cfg.VNI.IsValid() {
		return nil, fmt.Errorf("fdb: %w", &header.ErrVNIRange{Value: uint64(cfg.VNI)})
	}
	if cfg.Ageing < 0 {
		return nil, fmt.Errorf("fdb: negative ageing time %v", cfg.Ageing)
	}
	if cfg.Remote.IsValid() && cfg.Remote.Is6() != cfg.IPv6 {
		return nil, fmt.Errorf("fdb: remote %v is not of the underlay family", cfg.Remote)
	}
	t := &Table{
		vni:       cfg.VNI,
		port:      cfg.Port,
		ipv6:      cfg.IPv6,
		external:  cfg.External,
		maxAddr:   cfg.MaxAddress,
		clock:     cfg.Clock,
		ifindexOK: cfg.IfindexExists,
		nexthops:  cfg.Nexthops,
		seed:      [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()},
		kick:      make(chan struct{}, 1),
	}
	if t.port == 0 {
		t.port = DefaultPort
	}
	if t.clock == nil {
		base := time.Now()
		t.clock = func() int64 { return int64(time.Since(base)) }
	}
	t.ageing.Store(int64(normAgeing(cfg.Ageing)))
	t.idx.Store(newIndex(minIndexSize))
	t.remote = t.any()
	if cfg.Remote.IsValid() && !cfg.Remote.IsUnspecified() {
		if err := t.SetDefaultRemote(cfg.Remote, cfg.RemoteIfindex); err != nil {
			return nil, err
		}
	}
	t.Tick()
	return t, nil
}

func normAgeing(d time.Duration) time.Duration {
	d = d.Truncate(time.Second)
	if d <= 0 {
		return DefaultAgeing // vxlan_config_validate: age_interval 0 → 300
	}
	return d
}

// VNI returns the device VNI.
func (t *Table) VNI() header.VNI { return t.vni }

// Port returns the device UDP destination port.
func (t *Table) Port() uint16 { return t.port }

// External reports whether the table is in external (collect-metadata)
// mode.
func (t *Table) External() bool { return t.external }

// IPv6 reports whether the underlay family is IPv6.
func (t *Table) IPv6() bool { return t.ipv6 }

// Len returns the number of entries (the kernel's addrcnt).
func (t *Table) Len() int { return int(t.count.Load()) }

// Ageing returns the ageing time.
func (t *Table) Ageing() time.Duration { return time.Duration(t.ageing.Load()) }

// SetAgeing changes the ageing time (`ip link set … type vxlan ageing N`);
// 0 means DefaultAgeing. A running [Table.Run] sweeps at once, as
// vxlan_changelink re-arms the timer for "now".
func (t *Table) SetAgeing(d time.Duration) {
	d = normAgeing(d)
	if t.ageing.Swap(int64(d)) != int64(d) {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// Tick advances the hot-path clock to Clock(), rounded down to
// CoarseResolution. The datapath calls it once per batch; [Table.Run] calls
// it every CoarseTick. Lookup and Learn stamp entries with this clock.
func (t *Table) Tick() { t.advance(t.clock()) }

// Now returns the hot-path clock's time.
func (t *Table) Now() int64 { return t.coarse.Load() }

func (t *Table) advance(now int64) {
	now -= now % int64(CoarseResolution)
	for {
		old := t.coarse.Load()
		if now <= old || t.coarse.CompareAndSwap(old, now) {
			return
		}
	}
}

// now reads the clock for a control-plane operation.
func (t *Table) now() int64 {
	n := t.clock()
	t.advance(n)
	return n
}

func (t *Table) any() netip.Addr {
	if t.ipv6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// key returns the key an entry for (mac, srcVNI) is stored under.
func (t *Table) key(mac header.MAC, srcVNI header.VNI) Key {
	if !t.external {
		srcVNI = t.vni
	}
	return Key{MAC: mac, SrcVNI: srcVNI}
}

// hashKey is a seeded hash of k (two rounds of 64×64→128 multiply-fold, as
// in wyhash). The seed is random per table, so a sender choosing source
// MACs cannot aim for long probe chains.
func (t *Table) hashKey(k Key) uint64 {
	m := uint64(binary.LittleEndian.Uint32(k.MAC[:4])) | uint64(binary.LittleEndian.Uint16(k.MAC[4:]))<<32
	hi, lo := bits.Mul64(m^t.seed[0], uint64(k.SrcVNI)^t.seed[1])
	hi, lo = bits.Mul64(hi^lo^t.seed[2], 0x9e3779b97f4a7c15)
	return hi ^ lo
}

func (t *Table) find(k Key) *Entry { return t.idx.Load().find(k, t.hashKey(k)) }

// isDefault reports whether e is the link's default entry
// (vxlan_fdb_is_default_entry).
func (t *Table) isDefault(e *Entry) bool { return e.key.MAC.IsZero() && e.key.SrcVNI == t.vni }

// createLocked inserts a new entry (vxlan_fdb_create): a nexthop entry when
// nhid is not 0, else one with the remote r.
func (t *Table) createLocked(k Key, s State, f Flags, r Remote, nhid uint32, now int64) (*Entry, error) {
	if t.maxAddr != 0 && t.count.Load() >= int64(t.maxAddr) {
		return nil, ErrNoSpace
	}
	e := &Entry{key: k, hash: t.hashKey(k)}
	e.setStateFlags(s, f)
	if nhid != 0 {
		e.nhid.Store(nhid)
	} else {
		e.setRemote(r)
	}
	e.used.Store(now)
	e.updated.Store(now)
	x := t.idx.Load()
	if !x.hasRoom() {
		x = x.rebuilt(1)
		x.insert(e)
		t.idx.Store(x)
	} else {
		x.insert(e)
	}
	e.next = t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	e.linked = true
	t.count.Add(1)
	return e, nil
}

// destroyLocked removes e (vxlan_fdb_destroy).
func (t *Table) destroyLocked(e *Entry) {
	if !e.linked {
		return
	}
	x := t.idx.Load()
	x.remove(e)
	if x.tooSparse() {
		t.idx.Store(x.rebuilt(0))
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.linked = false
	t.count.Add(-1)
}

// Op holds the netlink request flags that select what an RTM_NEWNEIGH does.
type Op uint8

// Request flags.
const (
	OpCreate  Op = 1 << iota // NLM_F_CREATE: create the entry if absent
	OpExcl                   // NLM_F_EXCL: fail with ErrExist if present
	OpReplace                // NLM_F_REPLACE: replace the first remote
	OpAppend                 // NLM_F_APPEND: add a remote (multicast/zero MAC)
)

func (op Op) name() string {
	switch {
	case op&OpExcl != 0:
		return "add"
	case op&OpReplace != 0:
		return "replace"
	case op&OpAppend != 0:
		return "append"
	}
	return "update"
}

// Request is an RTM_NEWNEIGH or RTM_DELNEIGH for the vxlan driver: the
// ndmsg state and flags plus the NDA_* attributes. Zero values mean the
// attribute is absent, except for VNI and SrcVNI, which have presence bits
// because 0 is a VNI a request may carry.
type Request struct {
	MAC   header.MAC // NDA_LLADDR
	State State      // ndm_state
	Flags Flags      // ndm_flags
	// Dst is NDA_DST. Add, Append and Replace require it; the unspecified
	// address makes a bridge-local remote.
	Dst netip.Addr
	// Port is NDA_PORT; 0 means the device port.
	Port uint16
	// VNI is NDA_VNI when HasVNI; otherwise the device VNI.
	VNI    header.VNI
	HasVNI bool
	// SrcVNI is NDA_SRC_VNI when HasSrcVNI; otherwise the device VNI. Only
	// external mode keys entries by it.
	SrcVNI    header.VNI
	HasSrcVNI bool
	// Ifindex is NDA_IFINDEX (`via DEV`); 0 means none.
	Ifindex int
	// NHID is NDA_NH_ID: the entry forwards through this FDB nexthop
	// group (`ip nexthop add id N group … fdb`) instead of remotes. It
	// excludes Dst, Port, VNI and Ifindex.
	NHID uint32
}

// parsed is the outcome of vxlan_fdb_parse: every attribute resolved.
type parsed struct {
	ip      netip.Addr
	port    uint16
	srcVNI  header.VNI
	vni     header.VNI
	ifindex int
	nhid    uint32
}

func (p *parsed) remote() Remote {
	return Remote{IP: p.ip, Port: p.port, VNI: p.vni, Ifindex: p.ifindex}
}

// parse resolves a request's attributes with the kernel's defaults
// (vxlan_fdb_parse).
func (t *Table) parse(op string, r *Request) (parsed, error) {
	var p parsed
	if r.NHID != 0 && (r.Dst.IsValid() || r.HasVNI || r.Ifindex != 0 || r.Port != 0) {
		return p, opErr(op, r.MAC, ErrInvalid, msgNHExclusive)
	}
	if r.Dst.IsValid() {
		p.ip = r.Dst.WithZone("")
	} else {
		p.ip = t.any()
	}
	p.port = t.port
	if r.Port != 0 {
		p.port = r.Port
	}
	p.vni = t.vni
	if r.HasVNI {
		if !r.VNI.IsValid() {
			return p, opErr(op, r.MAC, ErrInvalid, "invalid VNI")
		}
		p.vni = r.VNI
	}
	p.srcVNI = t.vni
	if r.HasSrcVNI {
		if !r.SrcVNI.IsValid() {
			return p, opErr(op, r.MAC, ErrInvalid, "invalid src VNI")
		}
		p.srcVNI = r.SrcVNI
	}
	if r.Ifindex != 0 {
		if r.Ifindex < 0 || (t.ifindexOK != nil && !t.ifindexOK(r.Ifindex)) {
			return p, opErr(op, r.MAC, ErrNoDevice, msgDeviceNotFound)
		}
		p.ifindex = r.Ifindex
	}
	p.nhid = r.NHID
	return p, nil
}

// Add is `bridge fdb add` (NLM_F_CREATE|NLM_F_EXCL).
func (t *Table) Add(r Request) error { return t.Update(OpCreate|OpExcl, r) }

// Append is `bridge fdb append` (NLM_F_CREATE|NLM_F_APPEND). For a
// multicast or all-zeros MAC it adds the remote if that 4-tuple is new; for
// a unicast MAC that exists it only updates state and flags.
func (t *Table) Append(r Request) error { return t.Update(OpCreate|OpAppend, r) }

// Replace is `bridge fdb replace` (NLM_F_CREATE|NLM_F_REPLACE). For a
// unicast MAC it overwrites the first remote unless the 4-tuple is already
// in the list; a multicast or all-zeros MAC fails with ErrNotSupported.
func (t *Table) Replace(r Request) error { return t.Update(OpCreate|OpReplace, r) }

// Update performs an RTM_NEWNEIGH from user space with the given request
// flags (vxlan_fdb_add → vxlan_fdb_update). The entry is marked
// FlagAddedByUser.
func (t *Table) Update(op Op, r Request) error {
	name := op.name()
	if r.State&(StatePermanent|StateReachable) == 0 {
		e := opErr(name, r.MAC, ErrInvalidState, "")
		e.Log = fmt.Sprintf("RTM_NEWNEIGH with invalid state %#x", uint16(r.State))
		return e
	}
	if !r.Dst.IsValid() && r.NHID == 0 {
		return opErr(name, r.MAC, ErrInvalid, "")
	}
	p, err := t.parse(name, &r)
	if err != nil {
		return err
	}
	if p.ip.Is6() != t.ipv6 {
		return opErr(name, r.MAC, ErrFamily, "")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.updateLocked(name, op, r.MAC, &p, r.State, r.Flags|FlagAddedByUser, t.now(), EventAdded)
}

// updateLocked is vxlan_fdb_update.
func (t *Table) updateLocked(name string, op Op, mac header.MAC, p *parsed, s State, ndmFlags Flags, now int64, created EventType) error {
	k := t.key(mac, p.srcVNI)
	if e := t.find(k); e != nil {
		if op&OpExcl != 0 {
			return opErr(name, mac, ErrExist, "")
		}
		return t.updateExistingLocked(name, op, e, p, s, ndmFlags, now)
	}
	if op&OpCreate == 0 {
		return opErr(name, mac, ErrNotFound, "")
	}
	// vxlan_fdb_update_create: "Disallow replace to add a multicast entry".
	if op&OpReplace != 0 && !mac.IsValidUnicast() {
		return opErr(name, mac, ErrNotSupported, "")
	}
	if p.nhid != 0 {
		// vxlan_fdb_create: the address limit comes before the nexthop.
		if t.maxAddr != 0 && t.count.Load() >= int64(t.maxAddr) {
			return opErr(name, mac, ErrNoSpace, "")
		}
		if err := t.checkNexthop(name, mac, p.nhid); err != nil {
			return err
		}
	}
	e, err := t.createLocked(k, s, ndmFlags&^FlagUse, p.remote(), p.nhid, now)
	if err != nil {
		return opErr(name, mac, err, "")
	}
	t.emitLocked(e, created, e.firstOrZero(), Remote{}, now)
	return nil
}

// checkNexthop is the validation of vxlan_fdb_nh_update: nhid must name an
// FDB nexthop group of the link's family.
func (t *Table) checkNexthop(name string, mac header.MAC, nhid uint32) error {
	var err error
	if t.nexthops == nil {
		err = nexthop.ErrNotExist
	} else {
		err = t.nexthops.CheckFDB(nhid, t.ipv6)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nexthop.ErrFamily):
		return opErr(name, mac, ErrFamily, err.Error())
	}
	return opErr(name, mac, ErrInvalid, err.Error())
}

// updateExistingLocked is vxlan_fdb_update_existing. Note the kernel's
// order: state and flags change before a refused replace returns
// EOPNOTSUPP, and that change is kept.
func (t *Table) updateExistingLocked(name string, op Op, e *Entry, p *parsed, s State, ndmFlags Flags, now int64) error {
	fdbFlags := ndmFlags &^ FlagUse
	notify := false
	if p.nhid != 0 && e.NHID() == 0 {
		return opErr(name, e.key.MAC, ErrNotSupported, msgNHOverNonNH)
	}
	if p.nhid != 0 && op&OpAppend != 0 {
		return opErr(name, e.key.MAC, ErrNotSupported, msgNHAppend)
	}
	// "Do not allow an externally learned entry to take over an entry
	// added by the user."
	if fdbFlags&FlagExtLearned == 0 || e.Flags()&FlagAddedByUser == 0 {
		if e.State() != s || e.Flags() != fdbFlags {
			e.setStateFlags(s, fdbFlags)
			notify = true
		}
	}
	unicast := e.key.MAC.IsValidUnicast()
	rd, prev := Remote{}, Remote{}
	haveRd := false
	if op&OpReplace != 0 {
		if !unicast {
			return opErr(name, e.key.MAC, ErrNotSupported, msgReplaceNonUnicast)
		}
		if p.nhid != 0 {
			// vxlan_fdb_nh_update: the same group is no change.
			if p.nhid != e.NHID() {
				if err := t.checkNexthop(name, e.key.MAC, p.nhid); err != nil {
					return err
				}
				e.nhid.Store(p.nhid)
				notify = true
			}
		}
		// vxlan_fdb_replace; a nexthop entry has no remote to replace.
		nr := p.remote()
		rs := e.Remotes()
		if indexRemote(rs, nr) < 0 && len(rs) > 0 {
			prev = rs[0]
			e.replaceFirst(nr)
			rd, haveRd, notify = nr, true, true
		}
	}
	if op&OpAppend != 0 && !unicast && e.NHID() == 0 {
		// vxlan_fdb_append. The kernel also appends a dst to a multicast
		// nexthop entry, where no transmit or dump ever reads it; vtep
		// ignores it.
		nr := p.remote()
		rs := e.Remotes()
		if indexRemote(rs, nr) < 0 {
			n := make([]Remote, len(rs), len(rs)+1)
			copy(n, rs)
			e.setRemotes(append(n, nr))
			rd, haveRd, notify = nr, true, true
		}
	}
	if ndmFlags&FlagUse != 0 {
		e.updated.Store(now)
	}
	if notify {
		if !haveRd {
			rd = e.firstOrZero()
		}
		e.updated.Store(now)
		t.emitLocked(e, EventUpdated, rd, prev, now)
	}
	return nil
}

func indexRemote(rs []Remote, r Remote) int {
	for i := range rs {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// Delete is `bridge fdb del` (vxlan_fdb_delete). Without Dst (or with the
// unspecified address) it destroys the entry. With Dst it removes the remote
// (Dst, Port, VNI, Ifindex), defaults applied, and destroys the entry if that
// was its only remote; if no remote matches it returns nil and deletes
// nothing. An absent entry is ErrNotFound.
func (t *Table) Delete(r Request) error {
	p, err := t.parse("del", &r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deleteLocked("del", r.MAC, &p, t.now())
}

// deleteLocked is __vxlan_fdb_delete.
func (t *Table) deleteLocked(name string, mac header.MAC, p *parsed, now int64) error {
	e := t.find(t.key(mac, p.srcVNI))
	if e == nil {
		return opErr(name, mac, ErrNotFound, "")
	}
	rs := e.Remotes()
	if !p.ip.IsUnspecified() {
		i := indexRemote(rs, p.remote())
		if i < 0 {
			return nil
		}
		if len(rs) > 1 {
			t.removeRemoteLocked(e, i, now)
			return nil
		}
	}
	t.destroyLocked(e)
	t.emitLocked(e, EventDeleted, e.firstOrZero(), Remote{}, now)
	return nil
}

// removeRemoteLocked drops remote i of an entry with more than one remote
// (vxlan_fdb_dst_destroy).
func (t *Table) removeRemoteLocked(e *Entry, i int, now int64) {
	rs := e.Remotes()
	if len(rs) == 2 {
		e.setRemote(rs[1-i])
	} else {
		n := make([]Remote, 0, len(rs)-1)
		n = append(n, rs[:i]...)
		e.setRemotes(append(n, rs[i+1:]...))
	}
	t.emitLocked(e, EventRemoteDeleted, rs[i], Remote{}, now)
}

// Get is `bridge fdb get` (vxlan_fdb_get): the entry for mac under srcVNI
// (the device VNI outside external mode). It does not refresh "used".
func (t *Table) Get(mac header.MAC, srcVNI header.VNI) (*Entry, error) {
	if e := t.find(t.key(mac, srcVNI)); e != nil {
		return e, nil
	}
	return nil, opErr("get", mac, ErrNotFound, msgNotFound)
}

// FlushFilter selects what [Table.Flush] deletes. It carries the fields of
// the kernel's struct vxlan_fdb_flush_desc; zero fields do not filter.
//
// iproute2's `bridge fdb flush` words map to it as follows: permanent →
// State|=PERMANENT, StateMask|=PERMANENT; nopermanent → StateMask|=PERMANENT;
// static → State|=NOARP, StateMask|=NOARP|PERMANENT; nostatic →
// StateMask|=NOARP; dynamic → StateMask|=NOARP|PERMANENT; nodynamic →
// State|=NOARP, StateMask|=NOARP; extern_learn/router/offloaded set the flag
// in Flags and FlagsMask, their no- forms only in FlagsMask; self is added
// when neither self nor master is given.
type FlushFilter struct {
	// An entry matches when State&StateMask == State (if StateMask != 0).
	// Only PERMANENT and NOARP may be set in State.
	State, StateMask State
	// An entry matches when Flags&FlagsMask == Flags (if FlagsMask != 0),
	// with SELF and MASTER removed from Flags. Only EXT_LEARNED, OFFLOADED
	// and ROUTER may be set in Flags. FlagsMask is 8 bits wide.
	Flags, FlagsMask Flags
	// SrcVNI, when non-zero, matches the key's VNI.
	SrcVNI header.VNI
	// NHID, when non-zero, matches the nexthop entries of that group only.
	// Deleting a nexthop flushes its entries this way
	// (vxlan_nexthop_event).
	NHID uint32
	// VNI, Port and Dst, when set, match individual remotes: matching
	// remotes are removed and the entry is destroyed when its last remote
	// matches.
	VNI  header.VNI
	Port uint16
	Dst  netip.Addr

	ignoreDefault bool
}

// Flush is `bridge fdb flush dev DEV …` (vxlan_fdb_delete_bulk). It may
// delete the default entry. It returns the number of entries destroyed.
func (t *Table) Flush(f FlushFilter) (int, error) {
	f.Flags &^= FlagSelf | FlagMaster
	if f.Flags&^(FlagExtLearned|FlagOffloaded|FlagRouter) != 0 {
		return 0, opErr("flush", header.MAC{}, ErrInvalid, msgFlushFlags)
	}
	if f.State&^stateStatic != 0 {
		return 0, opErr("flush", header.MAC{}, ErrInvalid, msgFlushState)
	}
	f.FlagsMask &= 0xff
	f.ignoreDefault = false
	if f.Dst.IsValid() {
		f.Dst = f.Dst.WithZone("")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flushLocked(&f, t.now()), nil
}

// FlushDown deletes what vxlan_stop deletes when the link goes down: every
// entry that is neither PERMANENT nor NOARP, except the default entry. It
// returns the number of entries destroyed.
func (t *Table) FlushDown() int {
	f := FlushFilter{StateMask: stateStatic, ignoreDefault: true}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flushLocked(&f, t.now())
}

// flushLocked is vxlan_flush.
func (t *Table) flushLocked(f *FlushFilter, now int64) int {
	matchRemotes := f.VNI != 0 || f.Port != 0 || f.Dst.IsValid()
	n := 0
	var next *Entry
	for e := t.head; e != nil; e = next {
		next = e.next
		if f.StateMask != 0 && e.State()&f.StateMask != f.State {
			continue
		}
		if f.FlagsMask != 0 && e.Flags()&f.FlagsMask != f.Flags {
			continue
		}
		if f.ignoreDefault && t.isDefault(e) {
			continue
		}
		if f.SrcVNI != 0 && e.key.SrcVNI != f.SrcVNI {
			continue
		}
		if f.NHID != 0 && e.NHID() != f.NHID {
			continue
		}
		rs := e.Remotes()
		if matchRemotes {
			destroy := false
			for i := 0; i < len(rs); i++ {
				r := rs[i]
				if (f.VNI != 0 && r.VNI != f.VNI) || (f.Port != 0 && r.Port != f.Port) ||
					(f.Dst.IsValid() && r.IP != f.Dst) {
					continue
				}
				if len(rs) == 1 {
					destroy = true
					break
				}
				t.removeRemoteLocked(e, i, now)
				rs = e.Remotes()
				i--
			}
			if !destroy {
				continue
			}
		}
		t.destroyLocked(e)
		t.emitLocked(e, EventDeleted, e.firstOrZero(), Remote{}, now)
		n++
	}
	return n
}

// SetDefaultRemote changes the link's default destination (`remote` or
// `group`) and lower device, and the all-zeros entry with it, as
// vxlan_changelink does: the new remote is appended to the all-zeros entry
// (creating it if needed, state REACHABLE|PERMANENT, flags SELF) and then the
// old remote is deleted from it, so remotes appended by the user survive
// (selftest test_vxlan_fdb_changelink.sh). An invalid or unspecified ip
// removes the default destination. The family may not change.
func (t *Table) SetDefaultRemote(ip netip.Addr, ifindex int) error {
	if ip.IsValid() {
		ip = ip.WithZone("")
		if ip.Is6() != t.ipv6 {
			return opErr("link", header.ZeroMAC, ErrNotSupported, msgGroupFamily)
		}
	} else {
		ip = t.any()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old, oldIfindex := t.remote, t.remoteIfindex
	if ip == old && ifindex == oldIfindex {
		return nil
	}
	now := t.now()
	if !ip.IsUnspecified() {
		p := parsed{ip: ip, port: t.port, srcVNI: t.vni, vni: t.vni, ifindex: ifindex}
		if err := t.updateLocked("link", OpCreate|OpAppend, header.ZeroMAC, &p,
			StateReachable|StatePermanent, FlagSelf, now, EventAdded); err != nil {
			return err
		}
	}
	if !old.IsUnspecified() {
		p := parsed{ip: old, port: t.port, srcVNI: t.vni, vni: t.vni, ifindex: oldIfindex}
		if err := t.deleteLocked("link", header.ZeroMAC, &p, now); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	t.remote, t.remoteIfindex = ip, ifindex
	return nil
}

// DefaultRemote returns the link's default destination and lower device;
// the address is unspecified when there is none.
func (t *Table) DefaultRemote() (netip.Addr, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote, t.remoteIfindex
}
