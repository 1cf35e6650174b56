package fdb

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtep/header"
)

// This file is the vxlan driver's multicast database (drivers/net/vxlan/
// vxlan_mdb.c, `bridge mdb` on a vxlan device): which remote VTEPs receive
// the IPv4/IPv6 multicast of a group, instead of flooding it to the
// all-zeros FDB entry's remotes.

// FilterMode is an MDB remote's filter mode (MCAST_EXCLUDE, MCAST_INCLUDE).
type FilterMode uint8

// Filter modes, with the values of include/uapi/linux/in.h.
const (
	FilterExclude FilterMode = 0
	FilterInclude FilterMode = 1
)

func (m FilterMode) String() string {
	if m == FilterInclude {
		return "include"
	}
	return "exclude"
}

// ProtoStatic is RTPROT_STATIC, the routing protocol of entries added
// without `proto`; requests may not use a lower one.
const ProtoStatic = 4

// MDBKey identifies an MDB entry (struct vxlan_mdb_entry_key). Group is a
// multicast address, or the unspecified address of its family for the
// catch-all entry; Source is the invalid Addr for (*, G) entries.
type MDBKey struct {
	Group  netip.Addr
	Source netip.Addr
	SrcVNI header.VNI
}

// IsStarG reports whether k is a (*, G) entry: a group and no source.
func (k MDBKey) IsStarG() bool { return !k.Group.IsUnspecified() && !k.Source.IsValid() }

// IsSG reports whether k is an (S, G) entry.
func (k MDBKey) IsSG() bool { return !k.Group.IsUnspecified() && k.Source.IsValid() }

// MDBRequest is an RTM_NEWMDB or RTM_DELMDB for a vxlan device: the
// br_mdb_entry and its MDBE_ATTR_* attributes. Zero values mean the
// attribute is absent except where a presence bit is given.
type MDBRequest struct {
	// Group is the br_mdb_entry address: an IPv4 or IPv6 multicast group,
	// or 0.0.0.0 / :: for the catch-all entry of that family.
	Group netip.Addr
	// Permanent is MDB_PERMANENT; add and replace require it.
	Permanent bool
	// Source is MDBE_ATTR_SOURCE: it makes an (S, G) entry.
	Source netip.Addr
	// Mode is MDBE_ATTR_GROUP_MODE when HasMode; (*, G) entries only.
	Mode    FilterMode
	HasMode bool
	// Sources is MDBE_ATTR_SRC_LIST; (*, G) entries with a mode only.
	Sources []netip.Addr
	// Proto is MDBE_ATTR_RTPROT; 0 means RTPROT_STATIC.
	Proto uint8
	// Dst is MDBE_ATTR_DST, the remote VTEP; required.
	Dst netip.Addr
	// Port is MDBE_ATTR_DST_PORT; 0 means the link's port.
	Port uint16
	// VNI is MDBE_ATTR_VNI when HasVNI; otherwise the link's VNI.
	VNI    header.VNI
	HasVNI bool
	// SrcVNI is MDBE_ATTR_SRC_VNI when HasSrcVNI; otherwise the link's
	// VNI. Transmit looks entries up with the link's VNI unless the link
	// is in external mode.
	SrcVNI    header.VNI
	HasSrcVNI bool
	// Ifindex is MDBE_ATTR_IFINDEX (`via DEV`); 0 means none.
	Ifindex int
}

// MDBRemote is one remote of an MDB entry (struct vxlan_mdb_remote).
type MDBRemote struct {
	Remote
	// Blocked marks an (S, G) remote that a (*, G) EXCLUDE source list
	// created: traffic from that source is not sent to it.
	Blocked bool
	Mode    FilterMode
	Proto   uint8
	// Sources is the source list of a (*, G) remote, newest first.
	Sources []netip.Addr
}

// MDBEntry is one MDB entry with its remotes, newest first, as a dump
// shows them. It is a copy.
type MDBEntry struct {
	Key     MDBKey
	Remotes []MDBRemote
}

// MDBFlushFilter selects the remotes `bridge mdb flush` deletes
// (vxlan_mdb_flush_desc); zero fields match everything. An entry goes when
// its last remote does.
type MDBFlushFilter struct {
	SrcVNI header.VNI
	Proto  uint8
	Dst    netip.Addr
	Port   uint16
	VNI    header.VNI
	// NotPermanent is `nopermanent`: vxlan entries are all permanent, so
	// the kernel refuses it.
	NotPermanent bool
}

// Extended-ack messages of vxlan_mdb.c (NL_SET_ERR_MSG_MOD adds "vxlan: ").
const (
	msgMDBPermanent     = "vxlan: MDB entry must be permanent"
	msgMDBGroupFamily   = "vxlan: Group address must be an IPv4 / IPv6 address"
	msgMDBNoDst         = "vxlan: Missing remote destination IP address"
	msgMDBNotMulticast  = "vxlan: Group address is not multicast"
	msgMDBZeroSource    = "vxlan: Source cannot be specified for the all-zeros entry"
	msgMDBModeStarG     = "vxlan: Filter mode can only be set for (*, G) entries"
	msgMDBListStarG     = "vxlan: Source list can only be set for (*, G) entries"
	msgMDBListNoMode    = "vxlan: Source list cannot be set without filter mode"
	msgMDBIncludeEmpty  = "vxlan: Cannot add (*, G) INCLUDE with an empty source list"
	msgMDBNoIfindex     = "vxlan: Outgoing interface not found"
	msgMDBRemoteExists  = "vxlan: Replace not specified and MDB remote entry already exists"
	msgMDBSourceExists  = "vxlan: Source entry already exists"
	msgMDBNotFound      = "vxlan: Did not find MDB entry"
	msgMDBRemoteMissing = "vxlan: Did not find MDB remote entry"
	msgMDBGetNotFound   = "vxlan: MDB entry not found"
	msgMDBOnlyPermanent = "vxlan: Only permanent MDB entries are supported"
)

func mdbFamily(is6 bool) string {
	if is6 {
		return "IPv6"
	}
	return "IPv4"
}

func mdbSourceMsg(is6 bool) string {
	return "vxlan: " + mdbFamily(is6) + " multicast source address is not allowed"
}

func mdbSourceLenMsg(is6 bool) string {
	return "vxlan: " + mdbFamily(is6) + " invalid source address length"
}

// mdbRemote is the table's own remote; the entry lists are replaced, never
// modified in place, once published.
type mdbRemote struct {
	r       Remote
	blocked bool
	mode    FilterMode
	proto   uint8
	srcs    []netip.Addr // newest first
}

type mdbEntry struct {
	key     MDBKey
	remotes []*mdbRemote // newest first
}

// mdbState is the control-plane copy of the MDB, guarded by Table.mdbMu.
type mdbState struct {
	list []*mdbEntry // newest first, as vxlan->mdb_list
	idx  map[MDBKey]*mdbEntry
	// events are the notifications of the request being applied, in the
	// order vxlan_mdb_remote_notify sends them; they go out only if the
	// request succeeds.
	events []mdbEvent
}

// mdbEvent is one RTM_NEWMDB or RTM_DELMDB: an entry seen through one
// remote.
type mdbEvent struct {
	typ EventType
	e   MDBEntry
}

// note records a notification about remote r of entry e.
func (s *mdbState) note(typ EventType, e *mdbEntry, r *mdbRemote) {
	s.events = append(s.events, mdbEvent{typ, MDBEntry{Key: e.key, Remotes: []MDBRemote{r.export()}}})
}

// mdbFwd is the transmit view of the MDB: for each entry, the remotes a
// frame is sent to, in list order. It is immutable once published.
type mdbFwd struct {
	// m holds each entry's remotes without the blocked ones and those
	// of a (*, G) in INCLUDE mode.
	m map[MDBKey][]Remote
}

// mdb holds a Table's multicast database.
type mdb struct {
	mu    sync.Mutex
	state mdbState
	fwd   atomic.Pointer[mdbFwd] // nil when there are no entries (no VXLAN_F_MDB)
}

// mdbConfig is the resolved request (struct vxlan_mdb_config).
type mdbConfig struct {
	key     MDBKey
	srcs    []netip.Addr
	remote  Remote
	blocked bool
	mode    FilterMode
	proto   uint8
	replace bool
}

// mdbParse checks r as vxlan_mdb_config_init does and resolves its
// defaults.
func (t *Table) mdbParse(op string, r *MDBRequest, del bool) (mdbConfig, error) {
	c := mdbConfig{mode: FilterExclude, proto: ProtoStatic}
	fail := func(err error, msg string) (mdbConfig, error) { return mdbConfig{}, opErr(op, header.MAC{}, err, msg) }
	if !del && !r.Permanent {
		return fail(ErrInvalid, msgMDBPermanent)
	}
	g := r.Group.WithZone("")
	if !g.IsValid() || g.Is4In6() {
		return fail(ErrInvalid, msgMDBGroupFamily)
	}
	if !r.Dst.IsValid() {
		return fail(ErrInvalid, msgMDBNoDst)
	}
	src := r.Source.WithZone("")
	if src.IsValid() {
		if src.Is6() != g.Is6() || src.Is4In6() {
			return fail(ErrInvalid, mdbSourceLenMsg(g.Is6()))
		}
		if src.IsMulticast() {
			return fail(ErrInvalid, mdbSourceMsg(g.Is6()))
		}
		if src.IsUnspecified() {
			// The kernel keys such an entry with a source family
			// that transmit lookups never have, so it never
			// matches; vtep treats it as no source.
			src = netip.Addr{}
		}
	}
	c.key = MDBKey{Group: g, Source: src, SrcVNI: t.vni}
	if !g.IsMulticast() && !g.IsUnspecified() {
		return fail(ErrInvalid, msgMDBNotMulticast)
	}
	if g.IsUnspecified() && r.Source.IsValid() {
		return fail(ErrInvalid, msgMDBZeroSource)
	}
	if c.key.IsSG() {
		c.mode = FilterInclude
	}
	if r.HasMode {
		if !c.key.IsStarG() {
			return fail(ErrInvalid, msgMDBModeStarG)
		}
		if r.Mode > FilterInclude {
			return fail(ErrInvalid, "")
		}
		c.mode = r.Mode
	}
	if r.Sources != nil {
		if !c.key.IsStarG() {
			return fail(ErrInvalid, msgMDBListStarG)
		}
		if !r.HasMode {
			return fail(ErrInvalid, msgMDBListNoMode)
		}
		for _, s := range r.Sources {
			s = s.WithZone("")
			if !s.IsValid() || s.Is6() != g.Is6() || s.Is4In6() {
				return fail(ErrInvalid, mdbSourceLenMsg(g.Is6()))
			}
			if s.IsMulticast() {
				return fail(ErrInvalid, mdbSourceMsg(g.Is6()))
			}
			c.srcs = append(c.srcs, s)
		}
	}
	if c.key.IsStarG() && len(c.srcs) == 0 && c.mode == FilterInclude {
		return fail(ErrInvalid, msgMDBIncludeEmpty)
	}
	if r.Proto != 0 {
		if r.Proto < ProtoStatic {
			return fail(ErrInvalid, "")
		}
		c.proto = r.Proto
	}
	c.remote = Remote{IP: r.Dst.WithZone(""), Port: t.port, VNI: t.vni}
	if r.Port != 0 {
		c.remote.Port = r.Port
	}
	if r.HasVNI {
		if !r.VNI.IsValid() {
			return fail(ErrInvalid, "")
		}
		c.remote.VNI = r.VNI
	}
	if r.Ifindex != 0 {
		if r.Ifindex < 0 || (t.ifindexOK != nil && !t.ifindexOK(r.Ifindex)) {
			return fail(ErrInvalid, msgMDBNoIfindex)
		}
		c.remote.Ifindex = r.Ifindex
	}
	if r.HasSrcVNI {
		if !r.SrcVNI.IsValid() {
			return fail(ErrInvalid, "")
		}
		c.key.SrcVNI = r.SrcVNI
	}
	return c, nil
}

// MDBAdd is `bridge mdb add` (NLM_F_CREATE|NLM_F_EXCL; the vxlan driver
// only refuses a remote that exists, not an entry).
func (t *Table) MDBAdd(r MDBRequest) error { return t.mdbUpdate("add", r, false) }

// MDBReplace is `bridge mdb replace` (NLM_F_CREATE|NLM_F_REPLACE): an
// existing remote of the entry with r.Dst is rewritten, source list
// included.
func (t *Table) MDBReplace(r MDBRequest) error { return t.mdbUpdate("replace", r, true) }

func (t *Table) mdbUpdate(op string, r MDBRequest, replace bool) error {
	c, err := t.mdbParse(op, &r, false)
	if err != nil {
		return err
	}
	c.replace = replace
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	// Work on a copy, so that a request that fails halfway (a source
	// entry that exists) leaves nothing changed, as the kernel unwinds.
	s := m.state.clone()
	if err := s.add(&c); err != nil {
		return opErr(op, header.MAC{}, err.err, err.msg)
	}
	t.mdbCommit(s)
	return nil
}

// MDBDel is `bridge mdb del`: the remote r.Dst of the entry (group, source,
// src_vni), with the (S, G) remotes its source list created.
func (t *Table) MDBDel(r MDBRequest) error {
	c, err := t.mdbParse("del", &r, true)
	if err != nil {
		return err
	}
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state.clone()
	if err := s.del(c.key, c.remote.IP); err != nil {
		return opErr("del", header.MAC{}, err.err, err.msg)
	}
	t.mdbCommit(s)
	return nil
}

// MDBFlush is `bridge mdb flush` (vxlan_mdb_del_bulk). It returns the
// number of remotes deleted.
func (t *Table) MDBFlush(f MDBFlushFilter) (int, error) {
	if f.NotPermanent {
		return 0, opErr("flush", header.MAC{}, ErrInvalid, msgMDBOnlyPermanent)
	}
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state.clone()
	n := 0
	for _, e := range slices.Clone(s.list) {
		if f.SrcVNI != 0 && f.SrcVNI != e.key.SrcVNI {
			continue
		}
		for _, rm := range slices.Clone(e.remotes) {
			if f.Dst.IsValid() && f.Dst.WithZone("") != rm.r.IP {
				continue
			}
			if f.VNI != 0 && f.VNI != rm.r.TxVNI(e.key.SrcVNI) {
				continue
			}
			if f.Port != 0 && f.Port != rm.r.Port {
				continue
			}
			if f.Proto != 0 && f.Proto != rm.proto {
				continue
			}
			if s.idx[e.key] == nil || !slices.Contains(s.idx[e.key].remotes, rm) {
				continue // removed with a (*, G) source list
			}
			n++
			s.removeRemote(e, rm)
		}
	}
	t.mdbCommit(s)
	return n, nil
}

// MDBGet is `bridge mdb get`: the entry with the key, with all its
// remotes.
func (t *Table) MDBGet(k MDBKey) (MDBEntry, error) {
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.state.idx[k]
	if e == nil {
		return MDBEntry{}, opErr("get", header.MAC{}, ErrNotFound, msgMDBGetNotFound)
	}
	return e.export(), nil
}

// MDBEntries returns every entry, newest first, as `bridge mdb show` lists
// them.
func (t *Table) MDBEntries() []MDBEntry {
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]MDBEntry, 0, len(m.state.list))
	for _, e := range m.state.list {
		out = append(out, e.export())
	}
	return out
}

// MDBLen returns the number of entries.
func (t *Table) MDBLen() int {
	m := &t.mdb
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.state.list)
}

// HasMDB reports whether the MDB has an entry (VXLAN_F_MDB); transmit
// skips MDB lookups otherwise.
func (t *Table) HasMDB() bool { return t.mdb.fwd.Load() != nil }

// MDBLookup finds the entry for a multicast packet from source to group
// sent on srcVNI, as vxlan_mdb_entry_skb_get does: (S, G), then (*, G),
// then the catch-all entry of the family unless the group is link-local
// (which is flooded with broadcast and unknown unicast). found reports
// whether an entry matched; remotes are the ones the packet goes to, in
// order, possibly none (the packet is then dropped). The slice is shared:
// callers must not modify it.
func (t *Table) MDBLookup(group, source netip.Addr, srcVNI header.VNI) (remotes []Remote, found bool) {
	f := t.mdb.fwd.Load()
	if f == nil {
		return nil, false
	}
	k := MDBKey{Group: group, Source: source, SrcVNI: srcVNI}
	if rs, ok := f.m[k]; ok {
		return rs, true
	}
	k.Source = netip.Addr{}
	if rs, ok := f.m[k]; ok {
		return rs, true
	}
	if isLinkLocalMulticast(group) {
		return nil, false
	}
	if group.Is4() {
		k.Group = netip.IPv4Unspecified()
	} else {
		k.Group = netip.IPv6Unspecified()
	}
	rs, ok := f.m[k]
	return rs, ok
}

// isLinkLocalMulticast is ipv4_is_local_multicast (224.0.0.0/24), or an
// IPv6 multicast address of link-local scope (ipv6_addr_type reports
// IPV6_ADDR_LINKLOCAL for scope 2 whatever the flags).
func isLinkLocalMulticast(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] == 224 && b[1] == 0 && b[2] == 0
	}
	b := a.As16()
	return b[0] == 0xff && b[1]&0x0f == 2
}

// mdbErr is an errno and extended-ack message, wrapped into an OpError by
// the caller.
type mdbErr struct {
	err error
	msg string
}

func (s *mdbState) clone() mdbState {
	c := mdbState{list: make([]*mdbEntry, len(s.list)), idx: make(map[MDBKey]*mdbEntry, len(s.list))}
	for i, e := range s.list {
		ne := &mdbEntry{key: e.key, remotes: make([]*mdbRemote, len(e.remotes))}
		for j, r := range e.remotes {
			nr := *r
			nr.srcs = slices.Clone(r.srcs)
			ne.remotes[j] = &nr
		}
		c.list[i] = ne
		c.idx[e.key] = ne
	}
	return c
}

func (e *mdbEntry) remote(ip netip.Addr) *mdbRemote {
	for _, r := range e.remotes {
		if r.r.IP == ip {
			return r
		}
	}
	return nil
}

// add is __vxlan_mdb_add: find or create the entry, then add or replace
// the remote with its (S, G) companions.
func (s *mdbState) add(c *mdbConfig) *mdbErr {
	e := s.idx[c.key]
	if e == nil {
		e = &mdbEntry{key: c.key}
		s.list = slices.Insert(s.list, 0, e)
		s.idx[c.key] = e
	}
	err := s.addRemote(e, c)
	if err != nil && len(e.remotes) == 0 {
		s.dropEntry(e)
	}
	return err
}

// addRemote is vxlan_mdb_remote_add and vxlan_mdb_remote_replace.
func (s *mdbState) addRemote(e *mdbEntry, c *mdbConfig) *mdbErr {
	r := e.remote(c.remote.IP)
	if r != nil {
		if !c.replace {
			return &mdbErr{ErrExist, msgMDBRemoteExists}
		}
		// Replace (vxlan_mdb_remote_replace): the new parameters and
		// source list; sources no longer listed lose their (S, G)
		// remotes.
		old := slices.Clone(r.srcs)
		r.r = c.remote
		if err := s.addSources(e, r, c); err != nil {
			return err
		}
		for _, src := range old {
			if !slices.Contains(c.srcs, src) {
				r.srcs = slices.DeleteFunc(r.srcs, func(a netip.Addr) bool { return a == src })
				s.delCompanion(e.key, src, r.r.IP)
			}
		}
		r.blocked, r.mode, r.proto = c.blocked, c.mode, c.proto
		s.note(EventMDBReplaced, e, r)
		return nil
	}
	r = &mdbRemote{r: c.remote, blocked: c.blocked, mode: c.mode, proto: c.proto}
	if err := s.addSources(e, r, c); err != nil {
		return err
	}
	e.remotes = slices.Insert(e.remotes, 0, r)
	s.note(EventMDBAdded, e, r)
	return nil
}

// addSources is vxlan_mdb_remote_srcs_add: each listed source goes on the
// remote's list (at its head, unless a replace finds it there already) and
// gets an (S, G) remote of its own, INCLUDE, blocked when the (*, G) is
// EXCLUDE.
func (s *mdbState) addSources(e *mdbEntry, r *mdbRemote, c *mdbConfig) *mdbErr {
	for _, src := range c.srcs {
		if slices.Contains(r.srcs, src) {
			if !c.replace {
				return &mdbErr{ErrExist, msgMDBSourceExists}
			}
		} else {
			r.srcs = slices.Insert(r.srcs, 0, src)
		}
		sg := mdbConfig{
			key:     MDBKey{Group: e.key.Group, Source: src, SrcVNI: e.key.SrcVNI},
			remote:  c.remote,
			mode:    FilterInclude,
			blocked: c.mode == FilterExclude,
			proto:   c.proto,
			replace: c.replace,
		}
		if err := s.add(&sg); err != nil {
			return err
		}
	}
	return nil
}

// delCompanion removes the (S, G) remote ip that a (*, G) source list
// created (vxlan_mdb_remote_src_fwd_del), if it is there.
func (s *mdbState) delCompanion(g MDBKey, src, ip netip.Addr) {
	k := MDBKey{Group: g.Group, Source: src, SrcVNI: g.SrcVNI}
	if e := s.idx[k]; e != nil {
		if r := e.remote(ip); r != nil {
			s.removeRemote(e, r)
		}
	}
}

// del is __vxlan_mdb_del.
func (s *mdbState) del(k MDBKey, ip netip.Addr) *mdbErr {
	e := s.idx[k]
	if e == nil {
		return &mdbErr{ErrNotFound, msgMDBNotFound}
	}
	r := e.remote(ip)
	if r == nil {
		return &mdbErr{ErrNotFound, msgMDBRemoteMissing}
	}
	s.removeRemote(e, r)
	return nil
}

// removeRemote is vxlan_mdb_remote_del followed by vxlan_mdb_entry_put:
// the remote and its sources' (S, G) remotes go, then the entry if it has
// no remote left.
func (s *mdbState) removeRemote(e *mdbEntry, r *mdbRemote) {
	i := slices.Index(e.remotes, r)
	if i < 0 {
		return
	}
	s.note(EventMDBDeleted, e, r)
	e.remotes = slices.Delete(e.remotes, i, i+1)
	for _, src := range r.srcs {
		s.delCompanion(e.key, src, r.r.IP)
	}
	if len(e.remotes) == 0 {
		s.dropEntry(e)
	}
}

func (s *mdbState) dropEntry(e *mdbEntry) {
	if s.idx[e.key] != e {
		return
	}
	delete(s.idx, e.key)
	if i := slices.Index(s.list, e); i >= 0 {
		s.list = slices.Delete(s.list, i, i+1)
	}
}

// publish makes s the MDB and rebuilds the transmit view.
func (m *mdb) publish(s mdbState) {
	m.state = s
	if len(s.list) == 0 {
		m.fwd.Store(nil)
		return
	}
	f := &mdbFwd{m: make(map[MDBKey][]Remote, len(s.list))}
	for _, e := range s.list {
		var rs []Remote
		for _, r := range e.remotes {
			// vxlan_mdb_xmit skips blocked remotes and the remotes of
			// a (*, G) in INCLUDE mode (their sources have (S, G)
			// remotes of their own).
			if r.blocked || (e.key.IsStarG() && r.mode == FilterInclude) {
				continue
			}
			rs = append(rs, r.r)
		}
		f.m[e.key] = rs
	}
	m.fwd.Store(f)
}

func (e *mdbEntry) export() MDBEntry {
	out := MDBEntry{Key: e.key, Remotes: make([]MDBRemote, len(e.remotes))}
	for i, r := range e.remotes {
		out.Remotes[i] = r.export()
	}
	return out
}

func (r *mdbRemote) export() MDBRemote {
	return MDBRemote{Remote: r.r, Blocked: r.blocked, Mode: r.mode, Proto: r.proto, Sources: slices.Clone(r.srcs)}
}

// commit makes s the MDB and sends its request's notifications.
func (t *Table) mdbCommit(s mdbState) {
	evs := s.events
	s.events = nil
	t.mdb.publish(s)
	if len(evs) == 0 {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		t.sendLocked(Event{Type: ev.typ, MDB: &ev.e, Time: now})
	}
}
