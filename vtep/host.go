package vtep

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/mroute"
	"github.com/vtepd/vtep/nexthop"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// Errors returned by Host and Link.
var (
	// ErrExist is the class of "already exists" errors: a duplicate link
	// name or VNI. errors.Is(err, syscall.EEXIST) also holds.
	ErrExist error = &errnoError{errno: syscall.EEXIST, text: "vtep: already exists"}
	// ErrNotFound is returned for an unknown link. errors.Is(err,
	// syscall.ENODEV) also holds.
	ErrNotFound error = &errnoError{errno: syscall.ENODEV, text: "vtep: no such link"}
	// ErrClosed is returned by operations on a closed Host or deleted Link.
	ErrClosed = errors.New("vtep: closed")
)

type errnoError struct {
	errno syscall.Errno
	text  string
}

func (e *errnoError) Error() string { return e.text }
func (e *errnoError) Unwrap() error { return e.errno }

// VNIInUseError is returned by Host.AddLink when another link already
// receives the VNI on the same socket (same destination port, address
// family and receive flags), which the kernel refuses with EEXIST
// (vxlan_config_validate, vxlan_vni_in_use). It matches ErrExist.
type VNIInUseError struct {
	VNI  header.VNI
	Link string // the link that has it
}

func (e *VNIInUseError) Error() string {
	return fmt.Sprintf("VNI %d already in use by %s (duplicate VNI)", uint32(e.VNI), e.Link)
}

// Unwrap returns ErrExist.
func (e *VNIInUseError) Unwrap() error { return ErrExist }

// RecvFlags are the link flags that decide how a socket parses what it
// receives; links share a socket only when these are equal
// (VXLAN_F_RCV_FLAGS, vxlan_find_sock).
type RecvFlags = config.Flags

// SocketKey identifies a shared VXLAN socket, the kernel's vxlan_sock:
// one per (address family, UDP port, receive flags, bound device).
type SocketKey struct {
	IPv6  bool
	Port  uint16
	Flags RecvFlags // a subset of config.RcvFlags
	// Bind is the interface index of the L3 master device (VRF) of the
	// links' lower device, which the sockets are bound to and whose
	// routing table their packets use (sk_bound_dev_if); 0 for none.
	Bind int
}

func (k SocketKey) String() string {
	fam := "udp4"
	if k.IPv6 {
		fam = "udp6"
	}
	if k.Bind != 0 {
		return fmt.Sprintf("%s:%d%%%d[%v]", fam, k.Port, k.Bind, k.Flags)
	}
	return fmt.Sprintf("%s:%d[%v]", fam, k.Port, k.Flags)
}

// Opener opens underlay sockets for a Host. The in-memory network
// (internal/netlab) and the Linux implementation plug in here.
//
// The Conn must accept IPv6 packets with a zero UDP checksum when
// key.Flags has config.FlagUDPZeroCsum6RX (UDP_NO_CHECK6_RX). A Conn that
// verifies UDP checksums before delivering packets, as kernel sockets do,
// should implement ChecksumVerifier so that the datapath does not verify
// them again.
type Opener interface {
	Open(key SocketKey) (underlay.Conn, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(key SocketKey) (underlay.Conn, error)

// Open implements Opener.
func (f OpenerFunc) Open(key SocketKey) (underlay.Conn, error) { return f(key) }

// ChecksumVerifier is an optional interface of underlay.Conn: a Conn whose
// RXChecksumVerified returns true drops packets with a bad UDP checksum
// (and IPv6 packets with a zero one, unless opened with
// FlagUDPZeroCsum6RX) itself, like a kernel UDP socket.
type ChecksumVerifier interface {
	RXChecksumVerified() bool
}

// ChecksumOffloader is an optional interface of underlay.Conn: a Conn
// whose TXChecksumOffload returns true computes outer UDP checksums
// itself. The datapath then writes the folded pseudo-header sum into the
// checksum field of packets that need one (as a CHECKSUM_PARTIAL packet
// carries it) and zero into those that must go without, instead of
// summing the payload.
type ChecksumOffloader interface {
	TXChecksumOffload() bool
}

// MulticastRouter is the kernel's multicast routing for the packets of
// links with "mcroute" (VXLAN_F_MC_ROUTE, which sets IPSKB_MCROUTE /
// IP6SKB_MCROUTE): RouteMulticast decides, as ip_mr_output and
// ip6_mr_output do, what happens to a packet from src to group with TTL
// (hop limit) ttl that goes out of interface oif, or as routed when oif is
// 0. For mroute.Forward it appends the interfaces to send a copy out of to
// outs and returns the extended slice. It is called on the transmit path
// and must not block.
type MulticastRouter interface {
	RouteMulticast(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int)
}

// MulticastReporter is an optional interface of a MulticastRouter that
// lets the datapath do what the kernel does with a packet multicast
// routing has no entry for (ipmr_cache_unresolved, ip6mr_cache_unresolved):
// hold it, ask the routing daemon for a route, and send it once the route
// is in (ipmr_cache_resolve). Without it such a packet is dropped.
//
//   - Report is given every packet that multicast routing forwards
//     (mroute.Forward, whether or not a copy leaves) and every packet the
//     Host holds (mroute.Unresolved), with src, group and oif as given to
//     RouteMulticast; pkt is the whole outer packet, IP header on, without
//     its IPv4 header checksum. It shows the packet to the kernel's
//     multicast routing without sending it anywhere
//     (underlay.MulticastReporter.Report), so that the kernel does what it
//     would have done with the packet itself: count it in its cache entry
//     (ip_mr_output_finish: the packets, bytes and last use that `ip -s
//     mroute` and SIOCGETSGCNT report, and that daemons expire idle
//     entries by), or queue it and ask the routing daemon for a route
//     (IGMPMSG_NOCACHE, MRT6MSG_NOCACHE, once per (S, G)); then count it
//     when the route comes, and over IPv6 tell the daemon when the route's
//     incoming interface is not oif's (MRT6MSG_WRONGMIF). It is called on
//     the transmit path, must not block, and must not keep pkt.
//   - ResolveHeld decides, for a packet held from RouteMulticast(src,
//     group, oif, ttl), what the routes have now become
//     (mroute.Table.Resolve): mroute.Unresolved to keep waiting, else
//     mroute.Forward with the interfaces to send a copy out of, appended
//     to outs (none: the packet is dropped).
//   - SendResolved sends such a copy, the whole outer packet as it is to
//     leave (TTL already less one), out of interface oif, without looping
//     it back (underlay.MulticastReporter.Send).
//
// The Host holds at most 4 packets of 10 (S, G)s per family, for 10 s
// from the first, as the kernel does; [Host.ResolveMulticast] plays them
// through ResolveHeld and SendResolved.
type MulticastReporter interface {
	Report(src, group netip.Addr, oif int, pkt []byte)
	ResolveHeld(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int)
	SendResolved(pkt []byte, oif int) error
}

// MulticastRouterFunc adapts a function to MulticastRouter.
type MulticastRouterFunc func(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int)

// RouteMulticast implements MulticastRouter.
func (f MulticastRouterFunc) RouteMulticast(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	return f(outs, src, group, oif, ttl)
}

// PathMTUer is an optional interface of underlay.Conn: PathMTU returns
// the MTU of the route to dst out of interface oif, 0 for any (dst_mtu of
// the route the kernel's vxlan looks up with flowi_oif set to the remote's
// interface, with any path MTU learned for it), or 0 when unknown. A Conn
// may answer from a cache a second or so old. The datapath calls it from
// its transmit routines, at most once per batch and remote.
type PathMTUer interface {
	PathMTU(dst netip.Addr, oif int) int
}

// HostOptions configures NewHost.
type HostOptions struct {
	// Opener opens the underlay sockets. Required.
	Opener Opener
	// Neighbors is the neighbour table used by proxy ARP/ND and route
	// short-circuit; nil means an empty MemNeighbors.
	Neighbors Neighbors
	// LocalAddrs are this host's own underlay addresses. A remote that is
	// one of them (or a loopback address) is "local": frames to it are
	// delivered straight to the local link (local bypass) unless the link
	// has nolocalbypass. The first address of each family is also the
	// outer source of links without "local".
	LocalAddrs []netip.Addr
	// Ifindex resolves a lower device name ("dev") to an interface index
	// for multicast joins; nil or 0 lets the Conn choose.
	Ifindex func(name string) int
	// L3Master returns the interface index of the L3 master device (a
	// VRF) that is the interface ifindex or the first one above it in the
	// chain of masters, 0 if there is none
	// (l3mdev_master_upper_ifindex_by_index). A link's sockets are bound
	// to that device of its lower device, as vxlan_sock_add binds the
	// kernel's, so that an underlay in a VRF works; it is asked when the
	// link is added and each time it comes up (vxlan_open). nil: no VRFs.
	L3Master func(ifindex int) int
	// Nexthops holds the kernel's nexthops that FDB entries with `nhid`
	// point to; nil gives the Host an empty table. Update it with
	// [Host.SetNexthops], which also deletes the entries of removed
	// nexthops.
	Nexthops *nexthop.Table
	// MulticastRouter routes the packets that links with "mcroute" send
	// to multicast groups; nil sends them as without mcroute.
	MulticastRouter MulticastRouter
	// FDBClock is the clock of the links' forwarding databases (see
	// fdb.Config.Clock); nil is the process's monotonic clock.
	FDBClock fdb.Clock
	// HashSeed seeds the flow hash (outer source ports); 0 picks a random
	// seed.
	HashSeed uint64
	// DefaultTTL is the outer TTL / hop limit of links with "ttl auto"
	// (and of "ttl inherit" links sending non-IP frames): what the route's
	// ip4_dst_hoplimit / ip6_dst_hoplimit would give. 0 means 64, the
	// default of net.ipv4.ip_default_ttl and net.ipv6.conf.*.hop_limit.
	DefaultTTL uint8
	// BufferSize is the size of each datapath buffer, headroom included;
	// it bounds the largest frame and outer packet. 0 means
	// tap.Headroom+65535.
	BufferSize int
	// Workers is the number of underlay Conns, and receive routines, per
	// socket: the Opener is called this many times for each SocketKey,
	// and the Conns must share the port (SO_REUSEPORT) so that the system
	// spreads received packets over them by flow. A link's transmit
	// routines (one per overlay queue, see MultiQueue) write to them in
	// turn. 0 means 1.
	Workers int
	// Logger receives rare events (read errors, link changes); nil
	// discards them. The datapath never logs per packet.
	Logger *slog.Logger
	// MACs generates link MAC addresses when config.Link.Address is zero;
	// nil uses crypto/rand (eth_hw_addr_random).
	MACs func() header.MAC
	// PinThread, if not nil, gives every datapath routine an OS thread of
	// its own: the routine locks its goroutine to a thread and calls
	// PinThread(w) on it, w being its worker (the overlay queue of a
	// transmit routine, the Conn of a receive routine). vtepd binds the
	// thread to worker w's CPU there. Such a thread is meant to wait for
	// its queue or socket in the kernel rather than in Go's poller
	// (tap.Options.WaitInThread, underlay.Options.WaitInThread), and a
	// thread blocked in a system call keeps its P until the runtime's
	// monitor takes it back, so the Host raises GOMAXPROCS by one for each
	// such routine while it runs (up to five times what it was without).
	// An error is logged once; the routine then runs unbound.
	PinThread func(worker int) error
	// SourcePortByQueue makes a link choose the outer source port of a
	// frame read from overlay queue q of n in the class q modulo n
	// (flow.SourcePortIn): the nearest such port to the kernel's hashed
	// choice. A peer whose sockets are steered by source port
	// (underlay.Options.SteerBySourcePort) then receives the flow on its
	// worker q, and writes it to its overlay queue q, from which the
	// replies leave in the same class: both directions of the flow stay on
	// worker q at both ends.
	SourcePortByQueue bool
	// Injector, if not nil, sends TCP super-frames read from a link's
	// overlay queues whole, as tunnel GSO packets (see Injector), to
	// unicast remotes; each transmit routine uses the injector queue of
	// its overlay queue. Nil: super-frames are segmented, and every
	// datagram goes through the link's sockets.
	Injector Injector
	// FastPath, if not nil, moves the frames of eligible links to known
	// unicast destinations into the kernel (see FastPath): a routine per
	// link keeps its program's table in step with the FDB.
	FastPath FastPath
}

// Host is one network namespace's worth of VXLAN links: the links by
// name, the sockets they share, the host's own addresses and its
// neighbour table. Its methods are safe for concurrent use.
type Host struct {
	opener    Opener
	neigh     Neighbors
	ifindex   func(string) int
	l3master  func(int) int
	clock     fdb.Clock
	nexthops  *nexthop.Table
	mrouter   MulticastRouter
	mreport   MulticastReporter // mrouter's, if it is one
	mchold    mcHold            // packets waiting for a multicast route
	seed      uint64
	ttl       uint8
	bufSize   int
	workers   int
	log       *slog.Logger
	macs      func() header.MAC
	pin       func(worker int) error
	portByQ   bool // HostOptions.SourcePortByQueue
	inj       Injector
	fast      FastPath
	pinLogged atomic.Bool

	locals atomic.Pointer[[]netip.Addr]

	mu      sync.Mutex // guards following
	links   map[string]*Link
	sockets map[SocketKey]*socket
	closed  bool

	wg    sync.WaitGroup // datapath goroutines
	stats HostStats
}

// NewHost returns a Host with no links.
func NewHost(opts HostOptions) (*Host, error) {
	if opts.Opener == nil {
		return nil, errors.New("vtep: HostOptions.Opener is required")
	}
	h := &Host{
		opener:   opts.Opener,
		neigh:    opts.Neighbors,
		ifindex:  opts.Ifindex,
		l3master: opts.L3Master,
		clock:    opts.FDBClock,
		nexthops: opts.Nexthops,
		mrouter:  opts.MulticastRouter,
		seed:     opts.HashSeed,
		ttl:      opts.DefaultTTL,
		bufSize:  opts.BufferSize,
		workers:  max(opts.Workers, 1),
		log:      opts.Logger,
		macs:     opts.MACs,
		pin:      opts.PinThread,
		portByQ:  opts.SourcePortByQueue,
		inj:      opts.Injector,
		fast:     opts.FastPath,
		links:    make(map[string]*Link),
		sockets:  make(map[SocketKey]*socket),
	}
	if h.neigh == nil {
		h.neigh = NewMemNeighbors()
	}
	if h.nexthops == nil {
		h.nexthops = new(nexthop.Table)
	}
	h.mreport, _ = h.mrouter.(MulticastReporter)
	if h.seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		h.seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	if h.ttl == 0 {
		h.ttl = 64
	}
	if h.bufSize <= 0 {
		h.bufSize = tap.Headroom + 65535
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.macs == nil {
		h.macs = randomMAC
	}
	h.SetLocalAddrs(opts.LocalAddrs)
	return h, nil
}

// pinRoutine gives the calling datapath routine of worker w its own
// thread (HostOptions.PinThread) and returns what the routine runs when it
// ends; without PinThread it does nothing.
func (h *Host) pinRoutine(w int) (done func()) {
	if h.pin == nil {
		return func() {}
	}
	// Never unlocked: the thread's affinity is no longer the process's,
	// so the runtime must end the thread with the goroutine.
	runtime.LockOSThread()
	if err := h.pin(w); err != nil && !h.pinLogged.Swap(true) {
		h.log.Warn("cannot bind a datapath thread to its CPU; running unbound", "worker", w, "err", err)
	}
	addPinned(1)
	return func() { addPinned(-1) }
}

// pinnedProcs counts the pinned routines of all Hosts in the process.
var pinnedProcs struct {
	mu   sync.Mutex
	base int // GOMAXPROCS without pinned routines
	n    int
}

// addPinned counts d more pinned routines and raises GOMAXPROCS by their
// count (up to maxExtraProcsPerBase times) over what it was without any.
func addPinned(d int) {
	p := &pinnedProcs
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.base = runtime.GOMAXPROCS(0)
	}
	p.n += d
	if p.n == 0 && os.Getenv("GOMAXPROCS") == "" {
		// Back to the runtime's own choice, which follows the CPU limit
		// and affinity (setting GOMAXPROCS stops that).
		runtime.SetDefaultGOMAXPROCS()
		return
	}
	// Bounded, so that many links do not multiply the runtime's per-P
	// work (GC workers): past the bound, a P held by a sleeping thread
	// is taken back by the runtime's monitor after a tick.
	runtime.GOMAXPROCS(p.base + min(p.n, maxExtraProcsPerBase*p.base))
}

// maxExtraProcsPerBase bounds the GOMAXPROCS raise for pinned routines
// to this many times the GOMAXPROCS without them: room for one link with
// a worker per CPU, each with a transmit routine and a receive routine
// per socket family, twice over.
const maxExtraProcsPerBase = 4

// randomMAC returns a random unicast, locally administered address
// (eth_random_addr).
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] &^= 0x01 // unicast
	m[0] |= 0x02  // locally administered
	return m
}

// SetLocalAddrs replaces the host's own underlay addresses.
func (h *Host) SetLocalAddrs(addrs []netip.Addr) {
	a := make([]netip.Addr, 0, len(addrs))
	for _, x := range addrs {
		if x.IsValid() {
			a = append(a, x.Unmap())
		}
	}
	h.locals.Store(&a)
}

// LocalAddrs returns the host's own underlay addresses.
func (h *Host) LocalAddrs() []netip.Addr { return slices.Clone(*h.locals.Load()) }

// isLocal reports whether ip is one of the host's addresses or a loopback
// address: a route to it would be RTCF_LOCAL.
func (h *Host) isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, a := range *h.locals.Load() {
		if a == ip {
			return true
		}
	}
	return false
}

// sourceFor returns the host's first address of the family, the outer
// source a route lookup would pick for a link without "local".
func (h *Host) sourceFor(v6 bool) netip.Addr {
	for _, a := range *h.locals.Load() {
		if a.Is6() == v6 && !a.IsLoopback() {
			return a
		}
	}
	return netip.Addr{}
}

// Stats returns the host's counters: packets dropped before they could be
// matched to a link.
func (h *Host) Stats() Snapshot { return h.stats.Snapshot() }

// Neighbors returns the host's neighbour table.
func (h *Host) Neighbors() Neighbors { return h.neigh }

// Nexthops returns the table of kernel nexthops the links' FDB entries
// may point to.
func (h *Host) Nexthops() *nexthop.Table { return h.nexthops }

// SetNexthops replaces the known nexthops with a full dump of the
// kernel's (RTM_GETNEXTHOP) and deletes, in every link, the FDB entries
// that point to a nexthop that is gone, as vxlan_nexthop_event does on
// NEXTHOP_EVENT_DEL. Groups that changed take effect for the next frame.
// It returns the number of FDB entries deleted.
func (h *Host) SetNexthops(nhs []nexthop.Nexthop) (deleted int) {
	removed := h.nexthops.Set(nhs)
	if len(removed) == 0 {
		return 0
	}
	for _, l := range h.Links() {
		for _, id := range removed {
			n, _ := l.fdb.Flush(fdb.FlushFilter{NHID: id})
			deleted += n
		}
	}
	return deleted
}

// Link returns the link with the given name, or nil.
func (h *Host) Link(name string) *Link {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.links[name]
}

// Links returns the host's links, sorted by name.
func (h *Host) Links() []*Link {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := make([]*Link, 0, len(h.links))
	for _, l := range h.links {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *Link) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return ls
}

// socketKeys returns the keys of the sockets a link with cfg uses, bound
// to device bind: one for its family, or both families in external mode
// (vxlan_sock_add).
func socketKeys(cfg *config.Link, bind int) []SocketKey {
	fl := cfg.Flags() & config.RcvFlags
	port := cfg.Port()
	if cfg.External {
		// IPv6 first, as vxlan_sock_add opens them.
		return []SocketKey{{IPv6: true, Port: port, Flags: fl, Bind: bind}, {IPv6: false, Port: port, Flags: fl, Bind: bind}}
	}
	return []SocketKey{{IPv6: cfg.IsIPv6(), Port: port, Flags: fl, Bind: bind}}
}

// bindOf returns the device the sockets of a link with cfg are bound to:
// the L3 master device of its lower device (vxlan_sock_add's
// l3mdev_master_upper_ifindex_by_index), or 0.
func (h *Host) bindOf(cfg *config.Link) int {
	if h.l3master == nil || h.ifindex == nil || cfg.Dev == "" {
		return 0
	}
	ifindex := h.ifindex(cfg.Dev)
	if ifindex == 0 {
		return 0
	}
	return h.l3master(ifindex)
}

// acquireSocketsLocked opens (or shares) the sockets of keys, all or none,
// except that an external link's IPv6 socket is left out on a host
// without IPv6: vxlan_sock_add ignores EAFNOSUPPORT from the IPv6 socket
// of a metadata device and goes on with the IPv4 one alone.
func (h *Host) acquireSocketsLocked(keys []SocketKey) (*linkSockets, error) {
	ls := &linkSockets{}
	var socks []*socket
	for _, k := range keys {
		s, err := h.acquireSocketLocked(k)
		if err != nil && k.IPv6 && len(keys) > 1 && errors.Is(err, syscall.EAFNOSUPPORT) {
			continue
		}
		if err != nil {
			for _, s := range socks {
				h.releaseSocketLocked(s)
			}
			return nil, err
		}
		socks = append(socks, s)
		ls.bind = k.Bind
		if k.IPv6 {
			ls.s6 = s
		} else {
			ls.s4 = s
		}
	}
	return ls, nil
}

// AddLink creates a link from cfg with dev as its overlay port, like `ip
// link add NAME type vxlan ...`. The link owns dev from now on: DelLink
// and Close close it. The link starts administratively down, with no
// sockets; SetUp(true) opens them and brings it up. AddLink fails if cfg
// is invalid, the name is taken, or another link that would receive on
// the same socket has the VNI (a *VNIInUseError, vxlan_vni_in_use).
func (h *Host) AddLink(cfg config.Link, dev tap.Device) (*Link, error) {
	if dev == nil {
		return nil, errors.New("vtep: AddLink: nil overlay device")
	}
	if cfg.Name == "" {
		return nil, fmt.Errorf("vtep: AddLink: link has no name: %w", config.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Canonical()

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if _, ok := h.links[cfg.Name]; ok {
		return nil, fmt.Errorf("vtep: link %s: %w", cfg.Name, ErrExist)
	}
	if err := h.vniInUseLocked(nil, &cfg, cfg.VNI); err != nil {
		return nil, err
	}
	if cfg.Address.IsZero() {
		cfg.Address = h.macs()
	}

	l, err := newLink(h, cfg, dev)
	if err != nil {
		return nil, err
	}
	// The sockets are opened when the link comes up (vxlan_open).
	l.socks.Store(&linkSockets{})
	h.links[cfg.Name] = l
	ctx, cancel := context.WithCancel(context.Background())
	l.stopFDB = cancel
	h.wg.Add(1 + len(l.ports))
	for q := range l.ports {
		go l.routineTransmit(q)
	}
	go l.routineFDB(ctx)
	if h.fast != nil {
		h.wg.Add(1)
		go l.routineFast(ctx)
	}
	h.log.Info("link added", "link", cfg.Name, "vni", uint32(cfg.VNI), "port", cfg.Port())
	return l, nil
}

// vniInUseLocked reports whether a link other than self receives vni on
// the socket cfg would use (vxlan_config_validate / vxlan_vni_in_use).
func (h *Host) vniInUseLocked(self *Link, cfg *config.Link, vni header.VNI) error {
	for _, o := range h.links {
		if o == self {
			continue
		}
		oc := o.Config()
		if !config.SameReceiver(oc, *cfg) {
			continue
		}
		if oc.VNIFilter {
			if _, ok := o.vniFilter.Load().stats[vni]; !ok {
				continue
			}
		} else if oc.VNI != vni {
			continue
		}
		return &VNIInUseError{VNI: vni, Link: o.name}
	}
	return nil
}

func (h *Host) acquireSocketLocked(k SocketKey) (*socket, error) {
	if s, ok := h.sockets[k]; ok {
		s.refs++
		return s, nil
	}
	for other := range h.sockets {
		if other.IPv6 == k.IPv6 && other.Port == k.Port && other.Bind == k.Bind {
			// vxlan_sock_add opens a second socket for other receive
			// flags, and binding it fails. Several workers' sockets
			// (SO_REUSEPORT) would join the first ones' group instead.
			return nil, fmt.Errorf("vtep: open socket %v: port used by socket %v with other receive flags: %w (%w)", k, other, syscall.EADDRINUSE, underlay.ErrAddrInUse)
		}
	}
	conns := make([]underlay.Conn, 0, h.workers)
	for range h.workers {
		conn, err := h.opener.Open(k)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("vtep: open socket %v: %w", k, err)
		}
		conns = append(conns, conn)
	}
	s := newSocket(h, k, conns)
	h.sockets[k] = s
	h.wg.Add(len(conns))
	for w := range conns {
		go s.routineReceive(w)
	}
	return s, nil
}

func (h *Host) releaseSocketLocked(s *socket) {
	s.refs--
	if s.refs > 0 {
		s.rebuildLocked()
		return
	}
	delete(h.sockets, s.key)
	s.close()
}

// DelLink deletes the link: it is brought down, which lets go of its
// sockets (closing them when no other link uses them), and its overlay
// port is closed. Miss subscriptions are closed.
func (h *Host) DelLink(name string) error {
	h.mu.Lock()
	l, ok := h.links[name]
	if !ok {
		h.mu.Unlock()
		return fmt.Errorf("vtep: link %s: %w", name, ErrNotFound)
	}
	delete(h.links, name)
	h.mu.Unlock()
	l.destroy()
	return nil
}

// findLink returns the link that would receive a packet for vni from
// interface ifindex on the socket (family, port, flags) bound to ifindex:
// the target of local bypass (vxlan_find_vni). As in the kernel, the
// socket must be bound to that very interface: the remote's, or the
// sending link's bound device when the remote names none.
func (h *Host) findLink(v6 bool, port uint16, flags config.Flags, vni header.VNI, ifindex int) *Link {
	h.mu.Lock()
	s := h.sockets[SocketKey{IPv6: v6, Port: port, Flags: flags & config.RcvFlags, Bind: ifindex}]
	h.mu.Unlock()
	if s == nil {
		return nil
	}
	l, _ := s.lookup(vni, ifindex)
	return l
}

// Close deletes every link, closes every socket and waits for the
// datapath goroutines to exit.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wg.Wait()
		return nil
	}
	h.closed = true
	names := make([]string, 0, len(h.links))
	for n := range h.links {
		names = append(names, n)
	}
	h.mu.Unlock()
	for _, n := range names {
		h.DelLink(n)
	}
	h.wg.Wait()
	h.closeHeld()
	return nil
}
