package underlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtep/checksum"
)

// NetworkOptions configures a simulated underlay network (NewNetwork).
// Probabilities are in [0, 1]; the zero value is a perfect network.
type NetworkOptions struct {
	// Seed seeds the random source behind Loss, Reorder and Duplicate
	// (math/rand/v2 PCG), so a run is reproducible.
	Seed uint64
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Reorder is the probability that a packet is held back and delivered
	// after the next packet to the same Conn (or by Flush).
	Reorder float64
	// Duplicate is the probability that a packet is delivered twice.
	Duplicate float64
	// QueueLen is the receive queue length of each Conn, like a socket
	// receive buffer counted in packets; a packet arriving at a full queue
	// is dropped and counted. Zero means 1024.
	QueueLen int
	// MTU, when non-zero, is the largest outer IP packet the network
	// carries; larger ones are dropped and counted (as if DF were set
	// everywhere; the simulated network never fragments).
	MTU int
	// InterfaceMTU overrides MTU for packets sent out of the given
	// interfaces (by WriteVia), as routes through other devices do.
	InterfaceMTU map[int]int
	// MulticastLoopback delivers multicast to member Conns on the sending
	// host too, as IP_MULTICAST_LOOP (on by default in Linux) does.
	MulticastLoopback bool
	// VerifyChecksums makes every Conn behave like a kernel UDP socket on
	// receive: packets with a bad UDP checksum are dropped, and IPv6
	// packets with a zero checksum are dropped unless the Conn was opened
	// with AcceptZeroChecksum6 (UDP_NO_CHECK6_RX). Conns then report
	// RXChecksumVerified() == true. Off, Conns deliver packets as written
	// and the datapath verifies checksums itself.
	VerifyChecksums bool
	// Capture, when set, is called for every packet written to the
	// network, before faults are applied, and for every delivery. It must
	// not keep ev.Packet.
	Capture func(ev CaptureEvent)
}

// CaptureEvent describes a packet seen by the simulated network.
type CaptureEvent struct {
	// Kind says what happened to the packet.
	Kind CaptureKind
	// Host is the sending host (Kind Sent) or the receiving host.
	Host string
	// Port is the receiving Conn's port (deliveries only).
	Port uint16
	// Packet is the whole outer IP packet. It is only valid during the call.
	Packet []byte
	// Ifindex is the output interface of a sent packet (WriteVia), 0 when
	// the route chooses.
	Ifindex int
}

// CaptureKind is the kind of a CaptureEvent.
type CaptureKind uint8

// Capture kinds.
const (
	CaptureSent CaptureKind = iota
	CaptureDelivered
	CaptureDropped
)

func (k CaptureKind) String() string {
	switch k {
	case CaptureSent:
		return "sent"
	case CaptureDelivered:
		return "delivered"
	case CaptureDropped:
		return "dropped"
	}
	return fmt.Sprintf("CaptureKind(%d)", uint8(k))
}

// NetworkStats counts what happened to packets in a simulated network.
type NetworkStats struct {
	Sent       uint64 // packets written by Conns
	Delivered  uint64 // packets put on a receive queue (duplicates count twice)
	Lost       uint64 // dropped by the Loss knob
	Duplicated uint64 // extra copies made by the Duplicate knob
	Reordered  uint64 // packets held back by the Reorder knob
	NoRoute    uint64 // no host owns the destination, or no Conn is bound to the port
	QueueFull  uint64 // receive queue full
	TooBig     uint64 // larger than MTU
	Malformed  uint64 // not an IPv4/IPv6 + UDP packet
	BadCsum    uint64 // dropped by VerifyChecksums
	Truncated  uint64 // did not fit the reader's buffer (delivered cut short)
}

// Errors returned by the in-memory network.
var (
	// ErrAddrInUse is returned (wrapped) by Listen when the port is taken.
	ErrAddrInUse = errors.New("underlay: address already in use")
	// ErrAddrNotAvail is returned (wrapped) by AddHost when an address
	// already belongs to another host.
	ErrAddrNotAvail = errors.New("underlay: address already assigned")
)

// Network is a simulated IP network carrying UDP. Hosts own addresses;
// Conns bind (host, family, port); a packet written to a Conn is routed by
// its destination address to the owning host and the Conn bound to its
// destination port there, or, for a multicast destination, to every Conn
// on that port that joined the group. It is safe for concurrent use.
type Network struct {
	opts NetworkOptions

	mu     sync.RWMutex // guards following
	hosts  map[string]*MemHost
	owners map[netip.Addr]*MemHost

	randMu sync.Mutex // guards rnd
	rnd    *rand.Rand

	stats struct {
		sent, delivered, lost, duplicated, reordered, noRoute, queueFull, tooBig, malformed, badCsum, truncated atomic.Uint64
	}

	pool sync.Pool // *memPacket
}

// NewNetwork returns an empty simulated network.
func NewNetwork(opts NetworkOptions) *Network {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 1024
	}
	n := &Network{
		opts:   opts,
		hosts:  make(map[string]*MemHost),
		owners: make(map[netip.Addr]*MemHost),
		rnd:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	n.pool.New = func() any { return &memPacket{data: make([]byte, 0, 2048)} }
	return n
}

// SetFaults changes the Loss, Reorder and Duplicate probabilities.
func (n *Network) SetFaults(loss, reorder, duplicate float64) {
	n.randMu.Lock()
	n.opts.Loss, n.opts.Reorder, n.opts.Duplicate = loss, reorder, duplicate
	n.randMu.Unlock()
}

// Stats returns the network's counters.
func (n *Network) Stats() NetworkStats {
	s := &n.stats
	return NetworkStats{
		Sent: s.sent.Load(), Delivered: s.delivered.Load(), Lost: s.lost.Load(),
		Duplicated: s.duplicated.Load(), Reordered: s.reordered.Load(), NoRoute: s.noRoute.Load(),
		QueueFull: s.queueFull.Load(), TooBig: s.tooBig.Load(), Malformed: s.malformed.Load(),
		BadCsum: s.badCsum.Load(), Truncated: s.truncated.Load(),
	}
}

// AddHost adds a host owning addrs. Host names are unique.
func (n *Network) AddHost(name string, addrs ...netip.Addr) (*MemHost, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.hosts[name]; ok {
		return nil, fmt.Errorf("underlay: host %q already exists", name)
	}
	h := &MemHost{net: n, name: name, conns: make(map[bindKey][]*MemConn)}
	n.hosts[name] = h
	for _, a := range addrs {
		if err := h.addAddrLocked(a); err != nil {
			delete(n.hosts, name)
			return nil, err
		}
	}
	return h, nil
}

// Host returns the host with the given name, or nil.
func (n *Network) Host(name string) *MemHost {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.hosts[name]
}

// Flush delivers every packet held back by the Reorder knob.
func (n *Network) Flush() {
	n.mu.RLock()
	var conns []*MemConn
	for _, h := range n.hosts {
		for _, g := range h.conns {
			conns = append(conns, g...)
		}
	}
	n.mu.RUnlock()
	for _, c := range conns {
		c.mu.Lock()
		p := c.held
		c.held = nil
		c.mu.Unlock()
		if p != nil {
			c.enqueue(p)
		}
	}
}

// MemHost is a host on a simulated Network.
type MemHost struct {
	net  *Network
	name string

	// guarded by net.mu
	addrs []netip.Addr
	conns map[bindKey][]*MemConn // more than one: SO_REUSEPORT
}

type bindKey struct {
	ipv6 bool
	port uint16
}

// Name returns the host's name.
func (h *MemHost) Name() string { return h.name }

// Addrs returns the host's addresses.
func (h *MemHost) Addrs() []netip.Addr {
	h.net.mu.RLock()
	defer h.net.mu.RUnlock()
	return slices.Clone(h.addrs)
}

// AddAddr gives the host another address.
func (h *MemHost) AddAddr(a netip.Addr) error {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	return h.addAddrLocked(a)
}

func (h *MemHost) addAddrLocked(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("underlay: invalid host address %v", a)
	}
	if o, ok := h.net.owners[a]; ok {
		return fmt.Errorf("underlay: %v on host %s: %w", a, o.name, ErrAddrNotAvail)
	}
	h.net.owners[a] = h
	h.addrs = append(h.addrs, a)
	return nil
}

// ListenConfig describes a Conn to open on a MemHost.
type ListenConfig struct {
	// IPv6 selects the address family (false: IPv4).
	IPv6 bool
	// Port is the UDP port to bind.
	Port uint16
	// AcceptZeroChecksum6 accepts IPv6 packets with a zero UDP checksum
	// when the network verifies checksums (UDP_NO_CHECK6_RX).
	AcceptZeroChecksum6 bool
	// BatchSize is what BatchSize reports; zero means 64.
	BatchSize int
	// ReusePort lets several Conns bind the same (family, port), as
	// SO_REUSEPORT does when every socket of the group sets it: a unicast
	// packet goes to one of them, chosen by a hash of its source and
	// destination addresses and ports, so that one flow always reaches
	// the same Conn; a multicast packet goes to every one of them when
	// any of them joined the group (as with IP_MULTICAST_ALL, Linux's
	// default, every socket bound to the port gets a copy).
	ReusePort bool
}

// Listen binds a Conn on the host. Only one Conn may bind a (family,
// port), unless all of them set ReusePort.
func (h *MemHost) Listen(cfg ListenConfig) (*MemConn, error) {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	k := bindKey{cfg.IPv6, cfg.Port}
	if g := h.conns[k]; len(g) > 0 && (!cfg.ReusePort || !g[0].cfg.ReusePort) {
		fam := "udp4"
		if cfg.IPv6 {
			fam = "udp6"
		}
		return nil, fmt.Errorf("underlay: listen %s :%d on %s: %w", fam, cfg.Port, h.name, ErrAddrInUse)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	c := &MemConn{
		host:   h,
		cfg:    cfg,
		queue:  make(chan *memPacket, h.net.opts.QueueLen),
		closed: make(chan struct{}),
		groups: make(map[netip.Addr]int),
	}
	h.conns[k] = append(h.conns[k], c)
	return c, nil
}

// MemConn is a Conn on a simulated network. It implements Conn.
type MemConn struct {
	host      *MemHost
	cfg       ListenConfig
	queue     chan *memPacket
	closed    chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex // guards following
	held   *memPacket // reordered packet waiting for the next one
	groups map[netip.Addr]int
}

var _ Conn = (*MemConn)(nil)

type memPacket struct {
	data    []byte
	ifindex int // the interface it was sent by and arrives on
}

// Read implements Conn. Packets longer than the space in bufs[i] are cut
// short (and counted as Truncated), as recvmmsg does with MSG_TRUNC.
func (c *MemConn) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return c.read(bufs, sizes, nil, offset)
}

// ReadInfo is Read that also fills info[i] (InfoReader): Verified when
// packet i carried a non-zero UDP checksum that the network verified (only
// with NetworkOptions.VerifyChecksums), as LinuxConn.ReadInfo reports for
// datagrams the kernel coalesced, and Ifindex, the interface it arrived
// on. The simulated network is one segment whose interface indexes are
// shared by all hosts: a packet sent with WriteVia by interface N arrives
// on interface N, one sent without arrives on 0 (unknown).
// len(info) >= len(bufs).
func (c *MemConn) ReadInfo(bufs [][]byte, sizes []int, info []RxInfo, offset int) (int, error) {
	if len(info) < len(bufs) {
		bufs = bufs[:len(info)]
	}
	return c.read(bufs, sizes, info, offset)
}

func (c *MemConn) read(bufs [][]byte, sizes []int, info []RxInfo, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	var p *memPacket
	select {
	case p = <-c.queue:
	case <-c.closed:
		return 0, fmt.Errorf("underlay: read: %w", net.ErrClosed)
	}
	n := 0
	for {
		m := copy(bufs[n][offset:], p.data)
		if m < len(p.data) {
			c.host.net.stats.truncated.Add(1)
		}
		sizes[n] = m
		if info != nil {
			info[n] = RxInfo{Verified: c.host.net.opts.VerifyChecksums && hasUDPChecksum(p.data), Ifindex: p.ifindex}
		}
		c.host.net.putPacket(p)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case p = <-c.queue:
		default:
			return n, nil
		}
	}
}

// Write implements Conn: each bufs[i][offset:] is a whole IPv4 or IPv6
// packet carrying UDP. An unspecified source address is replaced by the
// host's first address of the family (as a route lookup would choose), with
// the IPv4 header and UDP checksums fixed up. Packets that cannot be
// routed are dropped and counted, not reported as errors, as on a real
// network; a packet of the wrong family fails the call.
func (c *MemConn) Write(bufs [][]byte, offset int) (int, error) {
	return c.WriteVia(bufs, nil, offset)
}

// WriteVia is Write with output interfaces (ViaWriter): packet i arrives
// on interface oifs[i] of its receiver (see ReadInfo). A nil oifs is Write.
func (c *MemConn) WriteVia(bufs [][]byte, oifs []int, offset int) (int, error) {
	select {
	case <-c.closed:
		return 0, fmt.Errorf("underlay: write: %w", net.ErrClosed)
	default:
	}
	for i, b := range bufs {
		oif := 0
		if oifs != nil {
			oif = oifs[i]
		}
		if err := c.host.net.send(c, b[offset:], oif); err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}

// BatchSize implements Conn.
func (c *MemConn) BatchSize() int { return c.cfg.BatchSize }

// PathMTU returns the MTU out of interface oif: its InterfaceMTU, or else
// the network's MTU (NetworkOptions.MTU), 0 when it has none.
func (c *MemConn) PathMTU(dst netip.Addr, oif int) int { return c.host.net.mtu(oif) }

// mtu is the largest packet the network carries out of interface oif, or 0.
func (n *Network) mtu(oif int) int {
	if m, ok := n.opts.InterfaceMTU[oif]; ok && oif != 0 {
		return m
	}
	return n.opts.MTU
}

// LocalPort implements Conn.
func (c *MemConn) LocalPort() uint16 { return c.cfg.Port }

// RXChecksumVerified reports whether the network verifies UDP checksums
// before delivery (NetworkOptions.VerifyChecksums), as a kernel socket does.
func (c *MemConn) RXChecksumVerified() bool { return c.host.net.opts.VerifyChecksums }

// RXPayloadVerified reports whether every packet Read returns carried a
// non-zero UDP checksum that the network verified: with VerifyChecksums,
// on an IPv6 Conn that does not accept zero checksums (IPv4 always
// accepts them, RFC 768).
func (c *MemConn) RXPayloadVerified() bool {
	return c.host.net.opts.VerifyChecksums && c.cfg.IPv6 && !c.cfg.AcceptZeroChecksum6
}

// JoinGroup implements Conn. Joins are counted: each JoinGroup needs a
// LeaveGroup. The interface index is ignored.
func (c *MemConn) JoinGroup(group netip.Addr, ifindex int) error {
	group = group.Unmap()
	if !group.IsMulticast() {
		return fmt.Errorf("underlay: join %v: not a multicast address", group)
	}
	if group.Is6() != c.cfg.IPv6 {
		return fmt.Errorf("underlay: join %v: address family mismatch", group)
	}
	c.mu.Lock()
	c.groups[group]++
	c.mu.Unlock()
	return nil
}

// LeaveGroup implements Conn.
func (c *MemConn) LeaveGroup(group netip.Addr, ifindex int) error {
	group = group.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[group] == 0 {
		return fmt.Errorf("underlay: leave %v: not a member", group)
	}
	c.groups[group]--
	if c.groups[group] == 0 {
		delete(c.groups, group)
	}
	return nil
}

func (c *MemConn) member(group netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[group] > 0
}

// Close implements Conn: it unbinds the port and unblocks Read.
func (c *MemConn) Close() error {
	c.closeOnce.Do(func() {
		n := c.host.net
		n.mu.Lock()
		k := bindKey{c.cfg.IPv6, c.cfg.Port}
		if g := slices.DeleteFunc(c.host.conns[k], func(o *MemConn) bool { return o == c }); len(g) > 0 {
			c.host.conns[k] = g
		} else {
			delete(c.host.conns, k)
		}
		n.mu.Unlock()
		close(c.closed)
		c.mu.Lock()
		if c.held != nil {
			n.putPacket(c.held)
			c.held = nil
		}
		c.mu.Unlock()
	})
	return nil
}

func (n *Network) getPacket(b []byte) *memPacket {
	p := n.pool.Get().(*memPacket)
	p.data = append(p.data[:0], b...)
	return p
}

func (n *Network) putPacket(p *memPacket) { n.pool.Put(p) }

func (n *Network) capture(kind CaptureKind, host string, port uint16, pkt []byte) {
	if n.opts.Capture != nil {
		n.opts.Capture(CaptureEvent{Kind: kind, Host: host, Port: port, Packet: pkt})
	}
}

// roll returns the outcome of the fault knobs for one packet.
func (n *Network) roll() (lose, dup, reorder bool) {
	n.randMu.Lock()
	defer n.randMu.Unlock()
	o := &n.opts
	if o.Loss > 0 && n.rnd.Float64() < o.Loss {
		return true, false, false
	}
	dup = o.Duplicate > 0 && n.rnd.Float64() < o.Duplicate
	reorder = o.Reorder > 0 && n.rnd.Float64() < o.Reorder
	return false, dup, reorder
}

func (n *Network) send(from *MemConn, pkt []byte, oif int) error {
	n.stats.sent.Add(1)
	var dst netip.Addr
	var udpOff int
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		if from.cfg.IPv6 {
			return errors.New("underlay: write: IPv4 packet on an IPv6 Conn")
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || pkt[9] != 17 || len(pkt) < ihl+8 {
			n.stats.malformed.Add(1)
			return nil
		}
		if netip.AddrFrom4([4]byte(pkt[12:16])).IsUnspecified() {
			n.fillSource(from.host, pkt, false, ihl)
		}
		dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		udpOff = ihl
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		if !from.cfg.IPv6 {
			return errors.New("underlay: write: IPv6 packet on an IPv4 Conn")
		}
		if pkt[6] != 17 || len(pkt) < 48 {
			n.stats.malformed.Add(1)
			return nil
		}
		if netip.AddrFrom16([16]byte(pkt[8:24])).IsUnspecified() {
			n.fillSource(from.host, pkt, true, 40)
		}
		dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		udpOff = 40
	default:
		n.stats.malformed.Add(1)
		return nil
	}
	if n.opts.Capture != nil {
		n.opts.Capture(CaptureEvent{Kind: CaptureSent, Host: from.host.name, Port: from.cfg.Port, Packet: pkt, Ifindex: oif})
	}
	if mtu := n.mtu(oif); mtu > 0 && len(pkt) > mtu {
		n.stats.tooBig.Add(1)
		n.capture(CaptureDropped, from.host.name, 0, pkt)
		return nil
	}
	port := binary.BigEndian.Uint16(pkt[udpOff+2:])
	k := bindKey{from.cfg.IPv6, port}

	n.mu.RLock()
	if dst.IsMulticast() {
		var targets []*MemConn
		for _, h := range n.hosts {
			if h == from.host && !n.opts.MulticastLoopback {
				continue
			}
			g := h.conns[k]
			if slices.ContainsFunc(g, func(c *MemConn) bool { return c.member(dst) }) {
				targets = append(targets, g...)
			}
		}
		n.mu.RUnlock()
		if len(targets) == 0 {
			n.stats.noRoute.Add(1)
			return nil
		}
		for _, c := range targets {
			n.deliver(c, pkt, udpOff, oif)
		}
		return nil
	}
	var to *MemConn
	if h := n.owners[dst]; h != nil {
		to = pick(h.conns[k], pkt, udpOff)
	}
	n.mu.RUnlock()
	if to == nil {
		n.stats.noRoute.Add(1)
		n.capture(CaptureDropped, from.host.name, port, pkt)
		return nil
	}
	n.deliver(to, pkt, udpOff, oif)
	return nil
}

// pick chooses the Conn of a SO_REUSEPORT group that receives a unicast
// packet: by a hash of its addresses and ports, so that a flow sticks to
// one Conn (the kernel's reuseport_select_sock with udp_ehashfn).
func pick(g []*MemConn, pkt []byte, udpOff int) *MemConn {
	switch len(g) {
	case 0:
		return nil
	case 1:
		return g[0]
	}
	// FNV-1a over the source and destination addresses and ports.
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, x := range b {
			h = (h ^ uint32(x)) * 16777619
		}
	}
	if udpOff == 40 {
		mix(pkt[8:40])
	} else {
		mix(pkt[12:20])
	}
	mix(pkt[udpOff : udpOff+4])
	return g[h%uint32(len(g))]
}

// fillSource writes the host's first address of the family as the source
// address and fixes the checksums, like the route lookup's source choice.
func (n *Network) fillSource(h *MemHost, pkt []byte, v6 bool, udpOff int) {
	n.mu.RLock()
	var src netip.Addr
	for _, a := range h.addrs {
		if a.Is6() == v6 {
			src = a
			break
		}
	}
	n.mu.RUnlock()
	if !src.IsValid() {
		return
	}
	udp := pkt[udpOff:]
	var old []byte
	if v6 {
		old = pkt[8:24]
	} else {
		old = pkt[12:16]
	}
	s := src.AsSlice()
	csum := binary.BigEndian.Uint16(udp[6:])
	for i := 0; i < len(s); i += 2 {
		o, w := binary.BigEndian.Uint16(old[i:]), binary.BigEndian.Uint16(s[i:])
		if csum != 0 {
			csum = checksum.Update(csum, o, w)
		}
		if !v6 {
			hc := binary.BigEndian.Uint16(pkt[10:])
			binary.BigEndian.PutUint16(pkt[10:], checksum.Update(hc, o, w))
		}
	}
	if csum == 0 && binary.BigEndian.Uint16(udp[6:]) != 0 {
		csum = 0xffff
	}
	copy(old, s)
	binary.BigEndian.PutUint16(udp[6:], csum)
}

func (n *Network) deliver(to *MemConn, pkt []byte, udpOff, oif int) {
	if n.opts.VerifyChecksums && !udpChecksumOK(pkt, udpOff, to.cfg.AcceptZeroChecksum6) {
		n.stats.badCsum.Add(1)
		n.capture(CaptureDropped, to.host.name, to.cfg.Port, pkt)
		return
	}
	lose, dup, reorder := n.roll()
	if lose {
		n.stats.lost.Add(1)
		n.capture(CaptureDropped, to.host.name, to.cfg.Port, pkt)
		return
	}
	copies := 1
	if dup {
		copies = 2
		n.stats.duplicated.Add(1)
	}
	for range copies {
		p := n.getPacket(pkt)
		p.ifindex = oif
		if reorder {
			reorder = false
			n.stats.reordered.Add(1)
			to.mu.Lock()
			prev := to.held
			to.held = p
			to.mu.Unlock()
			if prev != nil {
				to.enqueue(prev)
			}
			continue
		}
		to.enqueue(p)
		to.mu.Lock()
		prev := to.held
		to.held = nil
		to.mu.Unlock()
		if prev != nil {
			to.enqueue(prev)
		}
	}
}

func (c *MemConn) enqueue(p *memPacket) {
	n := c.host.net
	select {
	case <-c.closed:
		n.putPacket(p)
		return
	default:
	}
	// Once queued, p belongs to the reader, which may recycle it at
	// once; a capture hook sees a copy.
	var trace []byte
	if n.opts.Capture != nil {
		trace = append([]byte(nil), p.data...)
	}
	select {
	case c.queue <- p:
		n.stats.delivered.Add(1)
		if trace != nil {
			n.capture(CaptureDelivered, c.host.name, c.cfg.Port, trace)
		}
	default:
		n.stats.queueFull.Add(1)
		n.capture(CaptureDropped, c.host.name, c.cfg.Port, p.data)
		n.putPacket(p)
	}
}

// hasUDPChecksum reports whether the outer packet pkt (IPv4 or IPv6, then
// UDP) carries a non-zero UDP checksum.
func hasUDPChecksum(pkt []byte) bool {
	off := 40 // the IPv6 fixed header
	if len(pkt) > 0 && pkt[0]>>4 == 4 {
		off = int(pkt[0]&0x0f) * 4
	}
	return len(pkt) >= off+8 && (pkt[off+6] != 0 || pkt[off+7] != 0)
}

// udpChecksumOK checks a UDP checksum the way the kernel's UDP receive path
// does: IPv4 zero means "none" (RFC 768); IPv6 zero is an error (RFC 8200
// §8.1) unless zero6ok (RFC 6936, UDP_NO_CHECK6_RX).
func udpChecksumOK(pkt []byte, udpOff int, zero6ok bool) bool {
	udp := pkt[udpOff:]
	v6 := udpOff == 40 && pkt[0]>>4 == 6
	if binary.BigEndian.Uint16(udp[6:]) == 0 {
		return !v6 || zero6ok
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return false
	}
	var ps uint16
	if v6 {
		ps = checksum.Pseudo(pkt[8:24], pkt[24:40], 17, uint32(ulen))
	} else {
		ps = checksum.Pseudo(pkt[12:16], pkt[16:20], 17, uint32(ulen))
	}
	return checksum.Sum(udp[:ulen], ps) == 0xffff
}
