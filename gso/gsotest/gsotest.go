// Package gsotest builds Ethernet frames carrying TCP or UDP over IPv4 or
// IPv6 (optionally VLAN-tagged) and TAP super-frames, for the tests of gso,
// gro and the datapath. It is imported only from tests.
package gsotest

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
)

// TCP flag bits (RFC 9293 §3.1).
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// Frame describes one Ethernet frame to build. Zero values pick defaults:
// TTL 64, window 65535, ports 1000→2000, addresses 192.0.2.1→192.0.2.2 (or
// 2001:db8::1→2001:db8::2 for IPv6), TCP unless UDP is set.
type Frame struct {
	Dst, Src header.MAC
	// VLANs lists tags outermost first: TPID in the high 16 bits, TCI in
	// the low 16 (e.g. 0x8100_0064 for C-tag VLAN 100).
	VLANs []uint32

	IPv6      bool
	SrcIP     netip.Addr
	DstIP     netip.Addr
	TOS       uint8 // IPv4 TOS or IPv6 traffic class
	TTL       uint8 // IPv4 TTL or IPv6 hop limit
	ID        uint16
	DF        bool
	FlowLabel uint32
	// IPOptions are appended to the IPv4 header (length a multiple of 4).
	IPOptions []byte

	UDP              bool
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // TCP flags; 0 means ACK
	Window           uint16
	TCPOptions       []byte // length a multiple of 4
	// ZeroUDPChecksum leaves the UDP checksum 0 ("no checksum").
	ZeroUDPChecksum bool
	// BadChecksum corrupts the TCP/UDP checksum.
	BadChecksum bool
	// Padding appends this many zero bytes after the IP packet (Ethernet
	// padding, not counted in the IP length).
	Padding int

	Payload []byte
}

func (f *Frame) defaults() {
	if !f.SrcIP.IsValid() {
		if f.IPv6 {
			f.SrcIP = netip.MustParseAddr("2001:db8::1")
		} else {
			f.SrcIP = netip.MustParseAddr("192.0.2.1")
		}
	}
	if !f.DstIP.IsValid() {
		if f.IPv6 {
			f.DstIP = netip.MustParseAddr("2001:db8::2")
		} else {
			f.DstIP = netip.MustParseAddr("192.0.2.2")
		}
	}
	if f.TTL == 0 {
		f.TTL = 64
	}
	if f.SrcPort == 0 {
		f.SrcPort = 1000
	}
	if f.DstPort == 0 {
		f.DstPort = 2000
	}
	if f.Window == 0 {
		f.Window = 65535
	}
	if f.Flags == 0 && !f.UDP {
		f.Flags = ACK
	}
	if f.Dst.IsZero() {
		f.Dst = header.MAC{0x02, 0, 0, 0, 0, 2}
	}
	if f.Src.IsZero() {
		f.Src = header.MAC{0x02, 0, 0, 0, 0, 1}
	}
}

// L2Len returns the Ethernet header length of the frame.
func (f *Frame) L2Len() int { return header.EthernetSize + 4*len(f.VLANs) }

// L3Len returns the IP header length.
func (f *Frame) L3Len() int {
	if f.IPv6 {
		return header.IPv6FixedSize
	}
	return header.IPv4MinimumSize + len(f.IPOptions)
}

// L4Len returns the TCP or UDP header length.
func (f *Frame) L4Len() int {
	if f.UDP {
		return header.UDPSize
	}
	return header.TCPMinimumSize + len(f.TCPOptions)
}

// Build returns the frame with valid lengths and checksums.
func (f Frame) Build() []byte {
	f.defaults()
	l2, l3, l4 := f.L2Len(), f.L3Len(), f.L4Len()
	ipLen := l3 + l4 + len(f.Payload)
	b := make([]byte, l2+ipLen+f.Padding)
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	off := 12
	for _, v := range f.VLANs {
		binary.BigEndian.PutUint32(b[off:], v)
		off += 4
	}
	proto := uint8(header.TCPProtocolNumber)
	if f.UDP {
		proto = header.UDPProtocolNumber
	}
	ip := b[l2:]
	var src, dst []byte
	if f.IPv6 {
		binary.BigEndian.PutUint16(b[off:], header.EtherTypeIPv6)
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(f.TOS)<<20|f.FlowLabel&0xfffff)
		binary.BigEndian.PutUint16(ip[4:], uint16(ipLen-header.IPv6FixedSize))
		ip[6] = proto
		ip[7] = f.TTL
		s, d := f.SrcIP.As16(), f.DstIP.As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
		src, dst = ip[8:24], ip[24:40]
	} else {
		binary.BigEndian.PutUint16(b[off:], header.EtherTypeIPv4)
		ip[0] = 0x40 | uint8(l3/4)
		ip[1] = f.TOS
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		binary.BigEndian.PutUint16(ip[4:], f.ID)
		if f.DF {
			ip[6] = 0x40
		}
		ip[8] = f.TTL
		ip[9] = proto
		s, d := f.SrcIP.As4(), f.DstIP.As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], d[:])
		copy(ip[20:l3], f.IPOptions)
		binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:l3], 0))
		src, dst = ip[12:16], ip[16:20]
	}
	t := ip[l3:ipLen]
	binary.BigEndian.PutUint16(t[0:], f.SrcPort)
	binary.BigEndian.PutUint16(t[2:], f.DstPort)
	csumAt := 16
	if f.UDP {
		binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
		csumAt = 6
	} else {
		binary.BigEndian.PutUint32(t[4:], f.Seq)
		binary.BigEndian.PutUint32(t[8:], f.Ack)
		t[12] = uint8(l4/4) << 4
		t[13] = f.Flags
		binary.BigEndian.PutUint16(t[14:], f.Window)
		copy(t[20:l4], f.TCPOptions)
	}
	copy(t[l4:], f.Payload)
	if !(f.UDP && f.ZeroUDPChecksum) {
		c := checksum.Checksum(t, checksum.Pseudo(src, dst, proto, uint32(len(t))))
		if c == 0 && f.UDP {
			c = 0xffff
		}
		if f.BadChecksum {
			c ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(t[csumAt:], c)
	}
	return b
}

// Payload returns n bytes of a recognisable pattern starting at seed.
func Payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i>>8)
	}
	return p
}

// TSOHdr returns the virtio_net_hdr the kernel attaches to a TSO/USO
// super-frame built from f: NEEDS_CSUM, gso_type from the protocol (with ECN
// when CWR is set), csum_start at the transport header, csum_offset 16 or 6,
// hdr_len through the L4 header. See [Frame.PartialFrame] for the frame.
func (f Frame) TSOHdr(gsoSize int) header.VirtioNetHdrFields {
	f.defaults()
	h := header.VirtioNetHdrFields{Flags: header.VirtioNetHdrFlagNeedsCsum, GSOSize: uint16(gsoSize)}
	switch {
	case f.UDP:
		h.GSOType, h.CsumOffset = header.VirtioNetHdrGSOUDPL4, 6
	case f.IPv6:
		h.GSOType, h.CsumOffset = header.VirtioNetHdrGSOTCPv6, 16
	default:
		h.GSOType, h.CsumOffset = header.VirtioNetHdrGSOTCPv4, 16
	}
	if !f.UDP && f.Flags&CWR != 0 {
		h.GSOType |= header.VirtioNetHdrGSOECN
	}
	h.CsumStart = uint16(f.L2Len() + f.L3Len())
	h.HdrLen = h.CsumStart + uint16(f.L4Len())
	return h
}

// PartialFrame builds f as the kernel hands a CHECKSUM_PARTIAL frame to a
// TAP reader: the TCP/UDP checksum field holds the folded pseudo-header sum
// instead of the full checksum.
func (f Frame) PartialFrame() []byte {
	f.defaults()
	b := f.Build()
	l2, l3 := f.L2Len(), f.L3Len()
	ip := b[l2:]
	var src, dst []byte
	if f.IPv6 {
		src, dst = ip[8:24], ip[24:40]
	} else {
		src, dst = ip[12:16], ip[16:20]
	}
	proto := uint8(header.TCPProtocolNumber)
	at := 16
	if f.UDP {
		proto, at = header.UDPProtocolNumber, 6
	}
	ipLen := l3 + f.L4Len() + len(f.Payload)
	ps := checksum.Pseudo(src, dst, proto, uint32(ipLen-l3))
	binary.BigEndian.PutUint16(ip[l3+at:], ps)
	return b
}
