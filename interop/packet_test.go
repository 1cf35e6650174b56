package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// This file replaces the selftests' mausezahn (frame injection) and tc
// flower counters (frame matching) with AF_PACKET sockets opened inside a
// namespace.

// htons converts a 16-bit value to network byte order for AF_PACKET.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket bound to dev in ns. It is created
// with protocol 0 (receiving nothing) and then bound to dev with
// ETH_P_ALL, so it never sees a frame of another interface.
func packetSocket(ns *nstest.NS, dev string) (fd, ifindex int, err error) {
	err = ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind(AF_PACKET, %s): %w", dev, err)
		}
		return nil
	})
	if err != nil {
		return -1, 0, fmt.Errorf("interop: packet socket on %s in %s: %w", dev, ns.Name, err)
	}
	return fd, ifindex, nil
}

// sendFrames transmits Ethernet frames on dev in ns, as mausezahn does: the
// frames enter the device's transmit path (for vx0: vxlan_xmit, or the TAP
// that vtepd reads).
func sendFrames(t testing.TB, ns *nstest.NS, dev string, frames ...[]byte) {
	t.Helper()
	fd, ifindex, err := packetSocket(ns, dev)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex, Halen: 6}
	for _, f := range frames {
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			t.Fatalf("interop: sending a frame on %s in %s: %v", dev, ns.Name, err)
		}
	}
}

// direction selects captured frames by AF_PACKET packet type.
type direction int

const (
	incoming direction = iota // received by the device (not PACKET_OUTGOING)
	outgoing                  // sent by the device (PACKET_OUTGOING)
)

// capture records the frames seen on one device that satisfy match.
type capture struct {
	name  string
	fd    int
	dir   direction
	match func(frame []byte) bool

	stop atomic.Bool
	done chan struct{}

	mu     sync.Mutex // guards following
	frames [][]byte
	err    error
}

// startCapture starts recording the frames crossing dev in ns in the given
// direction that satisfy match (nil matches everything). The capture stops
// at test cleanup.
func startCapture(t testing.TB, ns *nstest.NS, dev string, dir direction, match func([]byte) bool) *capture {
	t.Helper()
	fd, _, err := packetSocket(ns, dev)
	if err != nil {
		t.Fatal(err)
	}
	// A short receive timeout lets the reader notice stop.
	tv := unix.Timeval{Usec: 50_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	c := &capture{name: ns.Name + "/" + dev, fd: fd, dir: dir, match: match, done: make(chan struct{})}
	go c.routineRead()
	t.Cleanup(c.close)
	return c
}

// routineRead reads frames until close is called.
func (c *capture) routineRead() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for !c.stop.Load() {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok {
			continue
		}
		if out := ll.Pkttype == unix.PACKET_OUTGOING; out != (c.dir == outgoing) {
			continue
		}
		f := buf[:n]
		if c.match != nil && !c.match(f) {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, append([]byte(nil), f...))
		c.mu.Unlock()
	}
}

// close stops the capture; it is idempotent.
func (c *capture) close() {
	if c.stop.Swap(true) {
		return
	}
	<-c.done
	unix.Close(c.fd)
}

// Frames returns copies of the frames captured so far.
func (c *capture) Frames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

// Count returns the number of frames captured so far.
func (c *capture) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// Reset forgets the frames captured so far.
func (c *capture) Reset() {
	c.mu.Lock()
	c.frames = nil
	c.mu.Unlock()
}

// WaitCount waits up to timeout until at least n frames were captured.
func (c *capture) WaitCount(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	nstest.WaitFor(t, timeout, fmt.Sprintf("%d matching frames on %s", n, c.name), func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err != nil {
			return nstest.Permanent(c.err)
		}
		if len(c.frames) < n {
			return fmt.Errorf("have %d", len(c.frames))
		}
		return nil
	})
}

// settleWindow is how long a capture must stay quiet before a count is
// taken as final. Showing that something did *not* happen (a frame not
// flooded, not duplicated) needs an observation window; it is kept short,
// and every test first waits for the frames it does expect, which bounds
// the latency of the path being watched.
const settleWindow = 300 * time.Millisecond

// settle waits until none of the captures has recorded a new frame for
// settleWindow (at most 5 s in all).
func settle(t testing.TB, cs ...*capture) {
	t.Helper()
	counts := func() (sum int) {
		for _, c := range cs {
			sum += c.Count()
		}
		return sum
	}
	deadline := time.Now().Add(5 * time.Second)
	last := counts()
	for time.Now().Before(deadline) {
		tm := time.NewTimer(settleWindow)
		<-tm.C
		n := counts()
		if n == last {
			return
		}
		last = n
	}
	t.Fatalf("interop: captures did not settle within 5s")
}

// vxlanPacket is a parsed outer VXLAN packet as seen on the underlay.
type vxlanPacket struct {
	IPv6       bool
	Src, Dst   netip.Addr
	TOS        uint8 // IPv4 TOS or IPv6 traffic class
	TTL        uint8 // IPv4 TTL or IPv6 hop limit
	DF         bool
	SrcPort    uint16
	DstPort    uint16
	UDPCsum    uint16
	UDPCsumOK  bool // the checksum is zero or verifies
	VXLAN      header.VXLAN
	Inner      header.Ethernet
	FlowLabel  uint32
	OuterFrame []byte
}

// parseVXLAN parses an Ethernet frame carrying UDP to dstPort, as a VXLAN
// packet. It reports false for anything else.
func parseVXLAN(frame []byte, dstPort uint16) (vxlanPacket, bool) {
	var p vxlanPacket
	eth := header.Ethernet(frame)
	if !eth.IsValid() {
		return p, false
	}
	et, off, ok := eth.PayloadOffset()
	if !ok {
		return p, false
	}
	var udp header.UDP
	var pseudo uint16
	switch et {
	case header.EtherTypeIPv4:
		ip := header.IPv4(frame[off:])
		if len(ip) < header.IPv4MinimumSize || !ip.IsValid(len(ip)) || ip.Protocol() != header.UDPProtocolNumber || ip.IsFragment() {
			return p, false
		}
		p.Src, p.Dst = ip.SourceAddress(), ip.DestinationAddress()
		p.TOS, p.TTL, p.DF = ip.TOS(), ip.TTL(), ip.DontFragment()
		udp = header.UDP(ip.Payload())
		if !udp.IsValid() {
			return p, false
		}
		pseudo = checksum.PseudoAddr(p.Src, p.Dst, header.UDPProtocolNumber, uint32(udp.Length()))
	case header.EtherTypeIPv6:
		ip := header.IPv6(frame[off:])
		if len(ip) < header.IPv6FixedSize || ip.NextHeader() != header.UDPProtocolNumber {
			return p, false
		}
		p.IPv6 = true
		p.Src, p.Dst = ip.SourceAddress(), ip.DestinationAddress()
		p.TOS, p.TTL = ip.TrafficClass(), ip.HopLimit()
		p.FlowLabel = ip.FlowLabel()
		end := min(len(ip), header.IPv6FixedSize+int(ip.PayloadLength()))
		udp = header.UDP(ip[header.IPv6FixedSize:end])
		if !udp.IsValid() {
			return p, false
		}
		pseudo = checksum.PseudoAddr(p.Src, p.Dst, header.UDPProtocolNumber, uint32(udp.Length()))
	default:
		return p, false
	}
	if udp.DestinationPort() != dstPort {
		return p, false
	}
	p.SrcPort, p.DstPort, p.UDPCsum = udp.SourcePort(), udp.DestinationPort(), udp.Checksum()
	p.UDPCsumOK = p.UDPCsum == 0 || checksum.Checksum(udp[:udp.Length()], pseudo) == 0
	pl := udp.Payload()
	if len(pl) < header.VXLANSize+header.EthernetSize {
		return p, false
	}
	p.VXLAN = header.VXLAN(pl[:header.VXLANSize])
	p.Inner = header.Ethernet(pl[header.VXLANSize:])
	p.OuterFrame = frame
	return p, true
}

// innerIPv4 returns the IPv4 header of an untagged Ethernet frame, if it
// carries one.
func innerIPv4(eth header.Ethernet) (header.IPv4, bool) {
	if !eth.IsValid() || eth.Type() != header.EtherTypeIPv4 {
		return nil, false
	}
	ip := header.IPv4(eth[header.EthernetSize:])
	if len(ip) < header.IPv4MinimumSize || !ip.IsValid(len(ip)) {
		return nil, false
	}
	return ip, true
}

// isICMPv4To matches frames carrying an ICMPv4 packet to dst.
func isICMPv4To(dst netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		ip, ok := innerIPv4(header.Ethernet(f))
		return ok && ip.Protocol() == header.ICMPv4ProtocolNumber && ip.DestinationAddress() == dst
	}
}

// isICMPv4From matches frames carrying an ICMPv4 packet from src.
func isICMPv4From(src netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		ip, ok := innerIPv4(header.Ethernet(f))
		return ok && ip.Protocol() == header.ICMPv4ProtocolNumber && ip.SourceAddress() == src
	}
}

// isVXLANTo matches underlay frames carrying VXLAN to dstPort.
func isVXLANTo(dstPort uint16) func([]byte) bool {
	return func(f []byte) bool {
		_, ok := parseVXLAN(f, dstPort)
		return ok
	}
}

// icmpEchoFrame builds an Ethernet frame carrying an ICMPv4 echo request,
// like the one vxlan_bridge_1d.sh's mausezahn sends (`-t icmp`), with the
// given IPv4 TOS byte.
func icmpEchoFrame(dstMAC, srcMAC header.MAC, src, dst netip.Addr, tos uint8, seq uint16) []byte {
	const payload = 56
	icmpLen := header.ICMPv4MinimumSize + payload
	b := make([]byte, header.EthernetSize+header.IPv4MinimumSize+icmpLen)
	header.Ethernet(b).Encode(&header.EthernetFields{Destination: dstMAC, Source: srcMAC, Type: header.EtherTypeIPv4})
	ip := header.IPv4(b[header.EthernetSize:])
	ip.Encode(&header.IPv4Fields{
		TOS:         tos,
		TotalLength: uint16(header.IPv4MinimumSize + icmpLen),
		ID:          0x9983,
		Flags:       header.IPv4FlagDontFragment,
		TTL:         64,
		Protocol:    header.ICMPv4ProtocolNumber,
		SrcAddr:     src,
		DstAddr:     dst,
	})
	ip.SetChecksum(ip.CalculateChecksum())
	icmp := b[header.EthernetSize+header.IPv4MinimumSize:]
	icmp[0] = 8 // echo request
	binary.BigEndian.PutUint16(icmp[4:], 0x1f6a)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	for i := range payload {
		icmp[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(icmp[2:], checksum.Checksum(icmp, 0))
	return b
}

// vxlanPayload prepends a VXLAN header for vni to an inner frame: the UDP
// payload of a VXLAN packet.
func vxlanPayload(f *header.VXLANFields, inner []byte) []byte {
	b := make([]byte, header.VXLANSize+len(inner))
	header.VXLAN(b).Encode(f)
	copy(b[header.VXLANSize:], inner)
	return b
}
