package underlay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vtepd/vtep/internal/sys"
)

// SendMode selects how a LinuxConn puts packets on the wire.
type SendMode int

const (
	// SendAuto uses SendRaw when a raw socket can be opened (CAP_NET_RAW)
	// and SendUDP otherwise.
	SendAuto SendMode = iota
	// SendRaw sends the exact outer packet the datapath built through a raw
	// IP socket (IPv4 IP_HDRINCL, IPv6 IPPROTO_RAW): source port, TTL, TOS,
	// DF, IPv4 ID, flow label and UDP checksum are all the datapath's, as
	// with the kernel's vxlan driver. The kernel only fills an IPv4 ID of 0
	// and the IPv4 header checksum. A run of equal-size datagrams of one
	// flow goes out as one UDP_SEGMENT send from a UDP socket bound to that
	// flow's own source address and port (see flow_linux.go), so GSO does
	// not cost the per-flow source port; the kernel then picks the IPv4 IDs.
	// A packet larger than the route MTU is refused by raw sockets (and a
	// run of them by UDP_SEGMENT); when its DF bit is clear it is sent as a
	// plain datagram from its flow's socket instead, a run of them in one
	// sendmmsg, so the kernel fragments it and it keeps its source port.
	// Only a packet no flow socket can send (no UDP checksum, an IPv6 flow
	// label, a group, a port already bound) goes through the bound UDP
	// socket, with the bound port as source port.
	SendRaw
	// SendUDP sends the UDP payload from the bound UDP socket. The source
	// port is the bound port (not the datapath's per-flow port), the IPv4
	// ID is the kernel's; TOS, TTL, source address and flow label come
	// from the packet through ancillary data and sin6_flowinfo; DF and a
	// zero UDP checksum are per-socket settings kept in step with each
	// packet. Equal-size datagrams to one destination go out as one
	// UDP_SEGMENT (GSO) send.
	SendUDP
)

func (m SendMode) String() string {
	switch m {
	case SendAuto:
		return "auto"
	case SendRaw:
		return "raw"
	case SendUDP:
		return "udp"
	}
	return fmt.Sprintf("SendMode(%d)", int(m))
}

// Options configures ListenUDP.
type Options struct {
	// Family is 4 or 6.
	Family int
	// Port is the UDP port to bind (on the wildcard address, as the
	// kernel's vxlan socket); 0 picks a free one (tests).
	Port uint16
	// Device, if set, binds the socket to that device (SO_BINDTODEVICE),
	// as the kernel binds its vxlan socket to an l3mdev master.
	Device string
	// ReusePort sets SO_REUSEPORT so that several Conns (one per worker)
	// share the port.
	ReusePort bool
	// RecvBuffer and SendBuffer are the socket buffer sizes; 0 means 7 MiB
	// (the FORCE variants are tried first), negative keeps the default.
	RecvBuffer, SendBuffer int
	// ZeroChecksum6RX accepts IPv6 datagrams with a zero UDP checksum
	// (UDP_NO_CHECK6_RX; the vxlan option udp6zerocsumrx).
	ZeroChecksum6RX bool
	// DisableGRO and DisableGSO turn off UDP_GRO on receive and UDP_SEGMENT
	// on send.
	DisableGRO, DisableGSO bool
	// Send selects the transmit path.
	Send SendMode
	// BatchSize is what BatchSize reports and the most packets one
	// recvmmsg/sendmmsg handles; 0 means 64.
	BatchSize int
	// SteerBySourcePort, with ReusePort and when 2 or more, makes the
	// port's SO_REUSEPORT group hand a datagram to its socket number
	// (source port mod SteerBySourcePort), in the order the sockets were
	// opened (sys.SteerBySourcePort), instead of choosing by the flow
	// hash. Either way a flow keeps to one socket; this way a sender can
	// choose it (flow.SourcePortIn).
	SteerBySourcePort int
	// WaitInThread makes reads and writes that have to wait block their OS
	// thread in ppoll(2) on the socket, which Go's network poller then
	// does not watch; see tap.Options.WaitInThread.
	WaitInThread bool
}

// DefaultSocketBuffer is the default SO_RCVBUF/SO_SNDBUF (wireguard-go's
// value, which measurably cuts retransmits at 10 Gb/s).
const DefaultSocketBuffer = 7 << 20

// Header sizes of the rebuilt outer headers.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
)

// Limits of UDP GSO (see offloads-and-gro.md §6.1).
const (
	gsoMaxSegments = 64
	maxGROSize     = 65535
	groSlots       = 8
)

// closedErr is returned by I/O after Close.
var closedErr = fmt.Errorf("underlay: %w", net.ErrClosed)

// Stats are a LinuxConn's counters, updated atomically.
type Stats struct {
	RxPackets   atomic.Uint64 // packets returned by Read
	RxCoalesced atomic.Uint64 // GRO buffers split into several packets
	RxTruncated atomic.Uint64 // datagrams dropped: MSG_TRUNC/MSG_CTRUNC
	TxPackets   atomic.Uint64 // packets sent
	TxGSOSends  atomic.Uint64 // UDP_SEGMENT sends (each carries ≥2 packets)
	TxFallback  atomic.Uint64 // raw-mode packets sent from a UDP socket instead (too big, DF clear)
	TxMalformed atomic.Uint64 // packets dropped: outer header not IPv4/IPv6+UDP of this family
	TxErrors    atomic.Uint64 // packets the kernel refused (EMSGSIZE, unreachable, ...)
	// TxFlowSockets counts per-flow GSO sockets opened (SendRaw), and
	// TxFlowSocketFailures flows that could not get one (port in use).
	TxFlowSockets, TxFlowSocketFailures atomic.Uint64
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	RxPackets, RxCoalesced, RxTruncated                      uint64
	TxPackets, TxGSOSends, TxFallback, TxMalformed, TxErrors uint64
	TxFlowSockets, TxFlowSocketFailures                      uint64
}

// LinuxConn is a Conn over Linux UDP sockets (and, in SendRaw mode, a raw
// IP socket for transmit). Read may be called from one goroutine at a time;
// Write is safe for concurrent use.
type LinuxConn struct {
	family int
	port   uint16
	batch  int
	mode   SendMode
	device string
	netns  sys.NetNS // where ListenUDP ran: flow sockets are created there
	// inThread: sockets wait in their thread, not Go's poller
	// (Options.WaitInThread).
	inThread bool
	// steered: the reuseport group steers by source port
	// (Options.SteerBySourcePort).
	steered bool

	udp   io.Closer
	udpRC syscall.RawConn
	raw   io.Closer // SendRaw only
	rawRC syscall.RawConn

	gro     bool
	gso     atomic.Bool
	zero6rx bool

	closed atomic.Bool
	stats  Stats

	rmu sync.Mutex
	r   receiver

	wmu sync.Mutex
	w   sender

	pmtu pmtuCache // PathMTU

	mcMu  sync.Mutex
	mcIf  int
	mcRef map[mcKey]int
}

type mcKey struct {
	group   netip.Addr
	ifindex int
}

var _ Conn = (*LinuxConn)(nil)

// ListenUDP opens a UDP socket bound like the kernel's vxlan socket
// (udp_sock_create in vxlan_create_sock): the wildcard address and port,
// IPV6_V6ONLY for IPv6, optionally bound to a device.
func ListenUDP(opts Options) (*LinuxConn, error) {
	c := &LinuxConn{family: opts.Family, batch: opts.BatchSize, mode: opts.Send, zero6rx: opts.ZeroChecksum6RX, device: opts.Device, inThread: opts.WaitInThread}
	if c.batch <= 0 {
		c.batch = 64
	}
	var af int
	switch opts.Family {
	case 4:
		af = sys.AF_INET
	case 6:
		af = sys.AF_INET6
	default:
		return nil, fmt.Errorf("underlay: address family must be 4 or 6, not %d", opts.Family)
	}
	name := fmt.Sprintf("udp%d:%d", opts.Family, opts.Port)
	var groOK, gsoOK bool
	var steered bool
	rc, closer, err := sys.SocketConn(af, sys.SOCK_DGRAM, sys.IPPROTO_UDP, name, func(fd int) error {
		if opts.ReusePort {
			if err := sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_REUSEPORT, 1); err != nil {
				return err
			}
		}
		setBuffers(fd, opts.RecvBuffer, opts.SendBuffer)
		if opts.Device != "" {
			if err := sys.SetString(fd, sys.SOL_SOCKET, sys.SO_BINDTODEVICE, opts.Device); err != nil {
				return fmt.Errorf("underlay: binding to device %s: %w", opts.Device, err)
			}
		}
		if af == sys.AF_INET {
			for _, o := range []int{sys.IP_RECVTOS, sys.IP_RECVTTL, sys.IP_PKTINFO} {
				if err := sys.SetInt(fd, sys.SOL_IP, o, 1); err != nil {
					return err
				}
			}
			// The kernel's vxlan never loops its multicast back to the
			// host: setup_udp_tunnel_sock clears the IPv4 bit, and
			// sk_mc_loop is false for both families inside a device's
			// transmit (dev_recursion_level). With multicast routing
			// on the host the looped copy would be forwarded as if it
			// came in by dev (TestMCRoute nomcroute, both families).
			if err := sys.SetInt(fd, sys.SOL_IP, sys.IP_MULTICAST_LOOP, 0); err != nil {
				return err
			}
		} else {
			if err := sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_V6ONLY, 1); err != nil {
				return err
			}
			for _, o := range []int{sys.IPV6_RECVTCLASS, sys.IPV6_RECVHOPLIMIT, sys.IPV6_RECVPKTINFO, sys.IPV6_FLOWINFO} {
				if err := sys.SetInt(fd, sys.SOL_IPV6, o, 1); err != nil {
					return err
				}
			}
			if err := sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_MULTICAST_LOOP, 0); err != nil { // as IPv4
				return err
			}
			if opts.ZeroChecksum6RX {
				if err := sys.SetInt(fd, sys.SOL_UDP, sys.UDP_NO_CHECK6_RX, 1); err != nil {
					return err
				}
			}
		}
		// UDP_GRO: getsockopt(UDP_GRO) only exists from 5.12 (wireguard-go
		// gates on the version for the same reason).
		if !opts.DisableGRO && sys.KernelAtLeast(5, 12) {
			if sys.SetInt(fd, sys.SOL_UDP, sys.UDP_GRO, 1) == nil {
				v, err := sys.GetInt(fd, sys.SOL_UDP, sys.UDP_GRO)
				groOK = err == nil && v == 1
			}
		}
		if !opts.DisableGSO {
			_, err := sys.GetInt(fd, sys.SOL_UDP, sys.UDP_SEGMENT)
			gsoOK = err == nil
		}
		var err error
		if af == sys.AF_INET {
			err = sys.Bind4(fd, [4]byte{}, opts.Port)
		} else {
			err = sys.Bind6(fd, [16]byte{}, opts.Port)
		}
		if err == nil && opts.ReusePort && opts.SteerBySourcePort >= 2 {
			// Without it (an old kernel, a seccomp filter) the group
			// spreads by hash: no locality, still in order.
			steered = sys.SteerBySourcePort(fd, af == sys.AF_INET6, opts.SteerBySourcePort) == nil
		}
		return err
	}, opts.WaitInThread)
	if err != nil {
		if errors.Is(err, sys.EADDRINUSE) {
			// Also ErrAddrInUse, as the in-memory network reports it.
			return nil, fmt.Errorf("underlay: listen udp%d port %d: %w (%w)", opts.Family, opts.Port, err, ErrAddrInUse)
		}
		return nil, fmt.Errorf("underlay: listen udp%d port %d: %w", opts.Family, opts.Port, err)
	}
	c.udpRC, c.udp, c.steered = rc, closer, steered
	c.gro = groOK
	c.gso.Store(gsoOK)
	c.udpRC.Control(func(fd uintptr) { c.port, err = sys.LocalPort(int(fd)) })
	if err != nil {
		c.udp.Close()
		return nil, err
	}

	if c.mode == SendAuto || c.mode == SendRaw {
		rawRC, raw, err := openRaw(af, opts.Device, opts.SendBuffer, opts.WaitInThread)
		switch {
		case err == nil:
			c.rawRC, c.raw = rawRC, raw
			c.mode = SendRaw
		case c.mode == SendRaw:
			c.udp.Close()
			return nil, err
		default:
			c.mode = SendUDP
		}
	}
	if c.mode == SendRaw {
		if c.netns, err = sys.CurrentNetNS(); err != nil {
			c.Close()
			return nil, fmt.Errorf("underlay: %w", err)
		}
	}
	c.r.init(c)
	c.w.init(c)
	c.pmtu.init(c.family, c.port, c.device)
	return c, nil
}

func setBuffers(fd, rcv, snd int) {
	if rcv == 0 {
		rcv = DefaultSocketBuffer
	}
	if snd == 0 {
		snd = DefaultSocketBuffer
	}
	if rcv > 0 {
		if sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_RCVBUFFORCE, rcv) != nil {
			sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_RCVBUF, rcv)
		}
	}
	if snd > 0 {
		if sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_SNDBUFFORCE, snd) != nil {
			sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_SNDBUF, snd)
		}
	}
}

// openRaw opens the transmit-only raw socket: IPPROTO_RAW implies
// IP_HDRINCL (IPv4) and header inclusion for IPv6 (inet6_create sets
// hdrincl for IPPROTO_RAW). IPPROTO_RAW sockets never receive.
func openRaw(af int, dev string, sndbuf int, inThread bool) (syscall.RawConn, io.Closer, error) {
	rc, closer, err := sys.SocketConn(af, sys.SOCK_RAW, sys.IPPROTO_RAW, "raw", func(fd int) error {
		setBuffers(fd, -1, sndbuf)
		if dev != "" {
			if err := sys.SetString(fd, sys.SOL_SOCKET, sys.SO_BINDTODEVICE, dev); err != nil {
				return err
			}
		}
		if af == sys.AF_INET {
			sys.SetInt(fd, sys.SOL_IP, sys.IP_MULTICAST_LOOP, 0) // setup_udp_tunnel_sock
			return sys.SetInt(fd, sys.SOL_IP, sys.IP_HDRINCL, 1)
		}
		sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_MULTICAST_LOOP, 0)
		// The source each packet names (IPV6_PKTINFO) need not be an
		// address of the host, nor past DAD: the kernel's vxlan does not
		// check its own.
		return sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_FREEBIND, 1)
	}, inThread)
	if err != nil {
		return nil, nil, fmt.Errorf("underlay: raw socket: %w", err)
	}
	return rc, closer, nil
}

// SteeredBySourcePort reports whether Options.SteerBySourcePort took
// effect: false when not asked for or the kernel refused the program, and
// then the group spreads datagrams by the flow hash.
func (c *LinuxConn) SteeredBySourcePort() bool { return c.steered }

// BatchSize returns the preferred number of buffers per Read and Write.
func (c *LinuxConn) BatchSize() int { return c.batch }

// LocalPort returns the bound UDP port.
func (c *LinuxConn) LocalPort() uint16 { return c.port }

// Family returns 4 or 6.
func (c *LinuxConn) Family() int { return c.family }

// SendMode returns the transmit path in use (SendRaw or SendUDP).
func (c *LinuxConn) SendMode() SendMode { return c.mode }

// GRO reports whether UDP_GRO is on for receive.
func (c *LinuxConn) GRO() bool { return c.gro }

// GSO reports whether UDP_SEGMENT sends are in use (from the bound socket
// in SendUDP mode, from per-flow sockets in SendRaw mode). It turns off for
// good when the kernel answers a UDP_SEGMENT send with EIO (udp_send_skb:
// an egress device without checksum offload before Linux 6.11, an IPsec
// route); the refused datagrams and all later ones then go out as plain
// sends, none lost or sent twice. A send refused because its segment size
// exceeds the path MTU is resent as plain datagrams, which IP fragments
// (DF clear), and GSO stays on.
func (c *LinuxConn) GSO() bool { return c.gso.Load() }

// RXChecksumVerified reports that every packet Read returns had its UDP
// checksum verified by the kernel (or had a zero checksum the socket was
// told to accept: always for IPv4, with ZeroChecksum6RX for IPv6). The
// rebuilt UDP header therefore carries checksum 0: callers must not check
// it again.
func (c *LinuxConn) RXChecksumVerified() bool { return true }

// TXChecksumOffload reports that Write computes outer UDP checksums: the
// datapath puts the folded pseudo-header sum in the checksum field of a
// packet that needs one (as CHECKSUM_PARTIAL), or zero for one that must go
// without. The raw path completes the sum over the datagram; UDP sockets
// and GSO sends let the kernel (or the NIC) compute it.
func (c *LinuxConn) TXChecksumOffload() bool { return true }

// RXPayloadVerified reports whether every packet Read returns was covered
// by a non-zero UDP checksum that the kernel verified, so that the inner
// frame's integrity is guaranteed and its own checksums need not be
// checked again (tap Queue.WriteMeta, gro.Meta.Verified). The socket API
// does not say whether a datagram's checksum was zero, so this holds only
// for IPv6 without ZeroChecksum6RX (where a zero checksum is dropped); IPv4
// always accepts zero checksums (RFC 768), which common VXLAN senders use.
func (c *LinuxConn) RXPayloadVerified() bool { return c.family == 6 && !c.zero6rx }

// Stats returns a copy of the counters.
func (c *LinuxConn) Stats() StatsSnapshot {
	s := &c.stats
	return StatsSnapshot{
		RxPackets: s.RxPackets.Load(), RxCoalesced: s.RxCoalesced.Load(), RxTruncated: s.RxTruncated.Load(),
		TxPackets: s.TxPackets.Load(), TxGSOSends: s.TxGSOSends.Load(), TxFallback: s.TxFallback.Load(),
		TxMalformed: s.TxMalformed.Load(), TxErrors: s.TxErrors.Load(),
		TxFlowSockets: s.TxFlowSockets.Load(), TxFlowSocketFailures: s.TxFlowSocketFailures.Load(),
	}
}

// JoinGroup joins group on ifindex (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP)
// and makes ifindex the interface multicast is sent from. Like the kernel
// (vxlan_igmp_join), joining a group already joined is not an error; joins
// are reference-counted so that LeaveGroup leaves only on the last one.
func (c *LinuxConn) JoinGroup(group netip.Addr, ifindex int) error {
	return c.membership(group, ifindex, true)
}

// LeaveGroup leaves a group joined with JoinGroup.
func (c *LinuxConn) LeaveGroup(group netip.Addr, ifindex int) error {
	return c.membership(group, ifindex, false)
}

func (c *LinuxConn) membership(group netip.Addr, ifindex int, join bool) error {
	group = group.Unmap()
	if !group.IsMulticast() || (group.Is4() != (c.family == 4)) {
		return fmt.Errorf("underlay: %s is not an IPv%d multicast group", group, c.family)
	}
	c.mcMu.Lock()
	defer c.mcMu.Unlock()
	if c.mcRef == nil {
		c.mcRef = map[mcKey]int{}
	}
	k := mcKey{group, ifindex}
	if join && c.mcRef[k] > 0 {
		c.mcRef[k]++
		return nil
	}
	if !join {
		if c.mcRef[k] == 0 {
			return fmt.Errorf("underlay: group %s on ifindex %d was not joined", group, ifindex)
		}
		if c.mcRef[k]--; c.mcRef[k] > 0 {
			return nil
		}
		delete(c.mcRef, k)
	}
	var err error
	cerr := c.udpRC.Control(func(fd uintptr) {
		if c.family == 4 {
			err = sys.JoinGroup4(int(fd), group.As4(), ifindex, join)
		} else {
			err = sys.JoinGroup6(int(fd), group.As16(), ifindex, join)
		}
	})
	if cerr != nil {
		return c.ioErr("multicast", cerr)
	}
	if err != nil && join && errors.Is(err, sys.EADDRINUSE) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("underlay: group %s ifindex %d: %w", group, ifindex, err)
	}
	if join {
		c.mcRef[k] = 1
	}
	if join && ifindex != 0 && ifindex != c.mcIf {
		c.mcIf = ifindex
		return c.setMulticastIf(ifindex)
	}
	return nil
}

func (c *LinuxConn) setMulticastIf(ifindex int) error {
	var err error
	set := func(fd uintptr) {
		if c.family == 4 {
			err = sys.SetMulticastIf4(int(fd), ifindex)
		} else {
			err = sys.SetInt(int(fd), sys.SOL_IPV6, sys.IPV6_MULTICAST_IF, ifindex)
		}
	}
	c.udpRC.Control(set)
	if err == nil && c.rawRC != nil {
		c.rawRC.Control(set)
	}
	return err
}

// Close closes the sockets; a blocked Read returns net.ErrClosed.
func (c *LinuxConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.udp.Close()
	c.w.flows.closeAll()
	c.pmtu.close()
	if c.mode == SendRaw {
		c.netns.Close()
	}
	if c.raw != nil {
		if e := c.raw.Close(); err == nil {
			err = e
		}
	}
	return err
}

func (c *LinuxConn) ioErr(op string, err error) error {
	if c.closed.Load() || errors.Is(err, os.ErrClosed) {
		return closedErr
	}
	return fmt.Errorf("underlay: %s udp%d port %d: %w", op, c.family, c.port, err)
}
