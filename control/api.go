package control

import (
	"net/netip"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// APIVersion is the version of the wire protocol; it is the first element
// of every path ("/v1/...").
const APIVersion = 1

// VersionInfo is the answer to GET /v1/version.
type VersionInfo struct {
	// Version is the daemon's version string.
	Version string `json:"version"`
	// API is APIVersion.
	API int `json:"api"`
	// Go is the Go release the daemon was built with.
	Go string `json:"go"`
}

// Interface flags (IFF_*, include/uapi/linux/if.h), for LinkInfo.Flags.
const (
	IFFUp         = 0x1
	IFFBroadcast  = 0x2
	IFFDebug      = 0x4
	IFFLoopback   = 0x8
	IFFPointToPnt = 0x10
	IFFNoTrailers = 0x20
	IFFRunning    = 0x40
	IFFNoARP      = 0x80
	IFFPromisc    = 0x100
	IFFAllMulti   = 0x200
	IFFMaster     = 0x400
	IFFSlave      = 0x800
	IFFMulticast  = 0x1000
	IFFPortSel    = 0x2000
	IFFAutoMedia  = 0x4000
	IFFDynamic    = 0x8000
	IFFLowerUp    = 0x10000
	IFFDormant    = 0x20000
	IFFEcho       = 0x40000
)

// LinkInfo describes one vtep link: its interface as the kernel reports it
// (the TAP that carries the link's name) and the link's VXLAN
// configuration and counters.
type LinkInfo struct {
	// Index is the interface index.
	Index int `json:"ifindex"`
	// Name is the interface name.
	Name string `json:"ifname"`
	// Flags are the interface flags (IFF_*), as the kernel reports them.
	Flags uint32 `json:"flags"`
	// MTU is the interface MTU.
	MTU int `json:"mtu"`
	// Qdisc is the root qdisc's kind, or "".
	Qdisc string `json:"qdisc,omitempty"`
	// Master is the name of the interface's master (a bridge), or "".
	Master string `json:"master,omitempty"`
	// OperState is the RFC 2863 operational state as ip prints it (UP,
	// DOWN, UNKNOWN, ...).
	OperState string `json:"operstate"`
	// TxQLen is the transmit queue length.
	TxQLen int `json:"txqlen"`
	// Address is the interface's Ethernet address.
	Address header.MAC `json:"address"`
	// Promiscuity and AllMulti are the interface's counts.
	Promiscuity int `json:"promiscuity"`
	AllMulti    int `json:"allmulti"`
	// NumTxQueues and NumRxQueues are the interface's queue counts.
	NumTxQueues int `json:"num_tx_queues,omitempty"`
	NumRxQueues int `json:"num_rx_queues,omitempty"`

	// Up says whether the vtep link is administratively up, that is,
	// whether its datapath forwards.
	Up bool `json:"up"`
	// Args is the link's VXLAN configuration as the words after `type
	// vxlan` (config.Link.Args), which parse back into it exactly.
	Args []string `json:"args"`
	// Stats are the link's counters, when asked for.
	Stats *LinkStats `json:"stats,omitempty"`
}

// Config returns the link's configuration, parsed from Args, with Name
// set.
func (li *LinkInfo) Config() (config.Link, error) {
	l, err := config.ParseArgs(li.Args)
	if err != nil {
		return config.Link{}, err
	}
	l.Name = li.Name
	return l, nil
}

// Counter is one named counter.
type Counter struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// LinkStats are a link's counters in a fixed order: the kernel's link
// statistics first (rx_packets … tx_carrier_errors), then vtep's own, then
// one "drop_<reason>" counter per drop reason, then, from a daemon on
// Linux TAP and UDP sockets, the I/O layer's: the TAP's summed over its
// queues ("tap_read_*", "tap_write_*", and its GRO engine's "tap_gro_*",
// flushes by reason as "tap_gro_flush_<reason>") and the UDP sockets'
// summed over the sockets of the link's port, which links on the same
// port share ("udp_*", e.g. "udp_gso_sends", "udp_gro_splits").
type LinkStats struct {
	Counters []Counter `json:"counters"`
}

// Get returns the named counter, or 0.
func (s *LinkStats) Get(name string) uint64 {
	if s == nil {
		return 0
	}
	for _, c := range s.Counters {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

// LinkAddRequest is the body of POST /v1/links: `ip link add NAME [up]
// type vxlan ARGS`.
type LinkAddRequest struct {
	Name string `json:"name"`
	// Args are the words after `type vxlan` (config.ParseArgs), which may
	// include "mtu MTU" and "address LLADDR".
	Args []string `json:"args"`
	// Up sets the link up once it exists.
	Up bool `json:"up,omitempty"`
}

// LinkSetRequest is the body of PATCH /v1/links/{name}: `ip link set NAME
// [up|down] [mtu MTU] [address LLADDR] [type vxlan ARGS]`. Zero fields
// change nothing.
type LinkSetRequest struct {
	// Up, when set, brings the link up or down.
	Up *bool `json:"up,omitempty"`
	// MTU, when non-zero, is the new MTU.
	MTU int `json:"mtu,omitempty"`
	// Address, when set, is the new Ethernet address.
	Address *header.MAC `json:"address,omitempty"`
	// Args are the words after `type vxlan`, applied with the kernel's
	// changelink rules (config.Link.Change).
	Args []string `json:"args,omitempty"`
}

// LinkChange is what the handler asks a Backend to change on a link,
// after checking the request against the link's configuration.
type LinkChange struct {
	// Config, when non-nil, is the link's new configuration. It is
	// canonical, valid, and config.CanChange accepts it; the backend still
	// checks what depends on the system (the lower device's MTU).
	Config *config.Link
	// Up, when non-nil, is the new administrative state. It is applied
	// after Config.
	Up *bool
}

// FDBOp is a `bridge fdb` verb.
type FDBOp string

// FDB verbs.
const (
	FDBAdd     FDBOp = "add"     // NLM_F_CREATE|NLM_F_EXCL
	FDBAppend  FDBOp = "append"  // NLM_F_CREATE|NLM_F_APPEND
	FDBReplace FDBOp = "replace" // NLM_F_CREATE|NLM_F_REPLACE
	FDBDel     FDBOp = "del"     // RTM_DELNEIGH
)

// FDBRequest is the body of POST /v1/fdb: `bridge fdb OP LLADDR dev DEV
// [dst IP] [port N] [vni N] [src_vni N] [via DEV] [nhid N] [self|master]
// [permanent|static|dynamic] [router] [extern_learn] [sticky] [use]`.
type FDBRequest struct {
	Op  FDBOp      `json:"op"`
	Dev string     `json:"dev"`
	MAC header.MAC `json:"mac"`
	// Dst is the remote VTEP; required except for del.
	Dst netip.Addr `json:"dst,omitzero"`
	// Port is the remote's UDP port; 0 means the link's.
	Port uint16 `json:"port,omitempty"`
	// VNI is the remote's VNI; nil means the link's.
	VNI *uint32 `json:"vni,omitempty"`
	// SrcVNI is the entry's source VNI (external links); nil means the
	// link's.
	SrcVNI *uint32 `json:"src_vni,omitempty"`
	// Via names the underlay interface for this remote.
	Via string `json:"via,omitempty"`
	// NHID points the entry to a kernel FDB nexthop group (`ip nexthop
	// add id N group … fdb`) instead of a dst; it excludes dst, port and
	// vni.
	NHID uint32 `json:"nhid,omitempty"`
	// State is "permanent" (also the default), "static" or "dynamic".
	State string `json:"state,omitempty"`
	// Master addresses the bridge FDB of the port instead of the
	// device's own (`master`); vtep links have no such FDB.
	Master bool `json:"master,omitempty"`
	// Self is the default; it is kept for symmetry with the CLI.
	Self        bool `json:"self,omitempty"`
	Router      bool `json:"router,omitempty"`
	ExternLearn bool `json:"extern_learn,omitempty"`
	Sticky      bool `json:"sticky,omitempty"`
	Use         bool `json:"use,omitempty"`
}

// FlushRequest is the body of POST /v1/fdb/flush: `bridge fdb flush dev
// DEV [filters]`, as the fields of the kernel's vxlan_fdb_flush_desc (see
// fdb.FlushFilter for how bridge's words map to them).
type FlushRequest struct {
	Dev       string     `json:"dev"`
	State     fdb.State  `json:"state,omitempty"`
	StateMask fdb.State  `json:"state_mask,omitempty"`
	Flags     fdb.Flags  `json:"flags,omitempty"`
	FlagsMask fdb.Flags  `json:"flags_mask,omitempty"`
	SrcVNI    uint32     `json:"src_vni,omitempty"`
	NHID      uint32     `json:"nhid,omitempty"`
	VNI       uint32     `json:"vni,omitempty"`
	Port      uint16     `json:"port,omitempty"`
	Dst       netip.Addr `json:"dst,omitzero"`
	// Master asks for the bridge FDB (not supported).
	Master bool `json:"master,omitempty"`
}

// FlushResult is the answer to POST /v1/fdb/flush.
type FlushResult struct {
	// Deleted is the number of entries destroyed.
	Deleted int `json:"deleted"`
}

// FDBEntry is one line of `bridge fdb show`: an FDB entry seen through one
// of its remotes (fdb.Neigh), on a link.
type FDBEntry struct {
	Dev     string     `json:"dev"`
	MAC     header.MAC `json:"mac"`
	State   fdb.State  `json:"state"`
	Flags   fdb.Flags  `json:"flags"`
	Dst     netip.Addr `json:"dst,omitzero"`
	Port    uint16     `json:"port,omitempty"`
	VNI     *uint32    `json:"vni,omitempty"`
	SrcVNI  *uint32    `json:"src_vni,omitempty"`
	Ifindex int        `json:"ifindex,omitempty"`
	// Via is the name of interface Ifindex, when known.
	Via string `json:"via,omitempty"`
	// NHID is the nexthop group of a nexthop entry, which has no Dst.
	NHID uint32 `json:"nhid,omitempty"`
	// Used and Updated are the times since the last transmit lookup and
	// the last update.
	Used    time.Duration `json:"used,omitempty"`
	Updated time.Duration `json:"updated,omitempty"`
	// Deleted marks an entry in a delete event.
	Deleted bool `json:"deleted,omitempty"`
}

// EntryFromNeigh converts one message of an FDB dump on link dev. via is
// the name of n.Ifindex, or "".
func EntryFromNeigh(dev string, n fdb.Neigh, via string) FDBEntry {
	e := FDBEntry{
		Dev: dev, MAC: n.MAC, State: n.State, Flags: n.Flags, Dst: n.Dst, Port: n.Port,
		Ifindex: n.Ifindex, Via: via, NHID: n.NHID, Used: n.Used, Updated: n.Updated, Deleted: n.Deleted,
	}
	if n.HasVNI {
		v := uint32(n.VNI)
		e.VNI = &v
	}
	if n.HasSrcVNI {
		v := uint32(n.SrcVNI)
		e.SrcVNI = &v
	}
	return e
}

// Neigh returns e as an fdb.Neigh, for printing with fdb's formatters.
func (e *FDBEntry) Neigh() fdb.Neigh {
	n := fdb.Neigh{
		Deleted: e.Deleted, MAC: e.MAC, State: e.State, Flags: e.Flags, Dst: e.Dst, Port: e.Port,
		Ifindex: e.Ifindex, NHID: e.NHID, Used: e.Used, Updated: e.Updated,
	}
	if e.VNI != nil {
		n.VNI, n.HasVNI = header.VNI(*e.VNI), true
	}
	if e.SrcVNI != nil {
		n.SrcVNI, n.HasSrcVNI = header.VNI(*e.SrcVNI), true
	}
	return n
}

// Neighbour states (NUD_*, include/uapi/linux/neighbour.h), for
// Neighbor.State.
const (
	NUDIncomplete = 0x01
	NUDReachable  = 0x02
	NUDStale      = 0x04
	NUDDelay      = 0x08
	NUDProbe      = 0x10
	NUDFailed     = 0x20
	NUDNoARP      = 0x40
	NUDPermanent  = 0x80
)

// Neighbor is one entry of the neighbour table of a link's interface: what
// `ip neigh show dev NAME` lists, and what proxy ARP/ND and route
// short-circuit answer from.
type Neighbor struct {
	Dev    string     `json:"dev"`
	IP     netip.Addr `json:"dst"`
	LLAddr header.MAC `json:"lladdr"`
	// State holds NUD_* bits.
	State  uint16 `json:"state"`
	Router bool   `json:"router,omitempty"`
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds. The FDB kinds follow fdb.EventType.
const (
	EventAdded         EventKind = "added"          // entry created by a request
	EventLearned       EventKind = "learned"        // entry created by learning
	EventUpdated       EventKind = "updated"        // state, flags or remotes changed by a request
	EventMigrated      EventKind = "migrated"       // learning moved the entry to another VTEP
	EventDeleted       EventKind = "deleted"        // entry destroyed by a request, a flush or link down
	EventRemoteDeleted EventKind = "remote_deleted" // one remote removed
	EventAged          EventKind = "aged"           // entry destroyed by ageing
	EventL2Miss        EventKind = "l2miss"         // no FDB entry for a destination MAC
	EventL3Miss        EventKind = "l3miss"         // no neighbour for an IP address
)

// IsFDB reports whether k is an FDB (or MDB) event.
func (k EventKind) IsFDB() bool { return k != EventL2Miss && k != EventL3Miss }

// Event is one line of GET /v1/monitor.
type Event struct {
	Time time.Time `json:"time"`
	Kind EventKind `json:"kind"`
	Dev  string    `json:"dev"`
	// FDB is the entry an FDB event is about, through the remote it
	// concerns (see fdb.Event.Remote).
	FDB *FDBEntry `json:"fdb,omitempty"`
	// MDB is the entry an MDB event is about, through the remote it
	// concerns (one RTM_NEWMDB or RTM_DELMDB); its kind is added,
	// updated (a replace) or deleted.
	MDB *MDBEntry `json:"mdb,omitempty"`
	// PrevDst is the remote a migration moved the entry away from.
	PrevDst netip.Addr `json:"prev_dst,omitzero"`
	// MAC is the unknown destination of an l2miss.
	MAC header.MAC `json:"mac,omitzero"`
	// IP is the unknown address of an l3miss.
	IP netip.Addr `json:"ip,omitzero"`
}

// EventFilter selects events for GET /v1/monitor. With none of FDB, MDB
// and Miss set, every event is selected.
type EventFilter struct {
	FDB  bool
	MDB  bool
	Miss bool
	// Dev, if set, selects one link's events.
	Dev string
}

// Match reports whether ev passes the filter.
func (f EventFilter) Match(ev *Event) bool {
	if f.Dev != "" && ev.Dev != f.Dev {
		return false
	}
	if !f.FDB && !f.MDB && !f.Miss {
		return true
	}
	if ev.MDB != nil {
		return f.MDB
	}
	if ev.Kind.IsFDB() {
		return f.FDB
	}
	return f.Miss
}
