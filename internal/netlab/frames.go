package netlab

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// Ether returns an Ethernet frame (no FCS): dst, src, EtherType et, payload.
func Ether(dst, src header.MAC, et uint16, payload []byte) []byte {
	b := make([]byte, header.EthernetSize+len(payload))
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], et)
	copy(b[header.EthernetSize:], payload)
	return b
}

// ARPRequest returns a broadcast ARP request from (mac, ip) for target.
func ARPRequest(mac header.MAC, ip, target netip.Addr) []byte {
	a := make([]byte, header.ARPSize)
	header.ARP(a).Encode(&header.ARPFields{
		Op:                    header.ARPRequest,
		SenderHardwareAddress: mac,
		SenderProtocolAddress: ip,
		TargetProtocolAddress: target,
	})
	return Ether(header.BroadcastMAC, mac, header.EtherTypeARP, a)
}

// ARPReply returns an ARP reply from (mac, ip) to (dmac, dip).
func ARPReply(mac header.MAC, ip netip.Addr, dmac header.MAC, dip netip.Addr) []byte {
	a := make([]byte, header.ARPSize)
	header.ARP(a).Encode(&header.ARPFields{
		Op:                    header.ARPReply,
		SenderHardwareAddress: mac,
		SenderProtocolAddress: ip,
		TargetHardwareAddress: dmac,
		TargetProtocolAddress: dip,
	})
	return Ether(dmac, mac, header.EtherTypeARP, a)
}

// IP describes the Ethernet and IP headers of a frame built by UDP, TCP and
// Echo. The family of Src selects IPv4 or IPv6.
type IP struct {
	SrcMAC, DstMAC header.MAC
	Src, Dst       netip.Addr
	// TOS is the IPv4 TOS or IPv6 traffic class (DSCP and ECN).
	TOS uint8
	// TTL is the TTL or hop limit; 0 means 64.
	TTL uint8
	// DF sets the IPv4 Don't Fragment flag.
	DF bool
	// Label is the IPv6 flow label.
	Label uint32
	// VLAN, when non-zero, inserts an 802.1Q tag with this VLAN ID.
	VLAN uint16
}

// packet wraps an L4 payload (whose checksum field at csumOff is zero) in
// IP and Ethernet headers and fills in the checksums.
func (h IP) packet(proto uint8, l4 []byte, csumOff int) []byte {
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	var ip []byte
	if h.Src.Is4() {
		ip = make([]byte, header.IPv4MinimumSize+len(l4))
		ip[0] = 0x45
		ip[1] = h.TOS
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		if h.DF {
			ip[6] = 0x40
		}
		ip[8] = ttl
		ip[9] = proto
		s, d := h.Src.As4(), h.Dst.As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], d[:])
		binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:20], 0))
		copy(ip[20:], l4)
	} else {
		ip = make([]byte, header.IPv6FixedSize+len(l4))
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(h.TOS)<<20|h.Label&0xfffff)
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = proto
		ip[7] = ttl
		s, d := h.Src.As16(), h.Dst.As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
		copy(ip[40:], l4)
	}
	if csumOff >= 0 {
		hl := len(ip) - len(l4)
		seg := ip[hl:]
		var ps uint16
		if h.Src.Is4() {
			ps = checksum.Pseudo(ip[12:16], ip[16:20], proto, uint32(len(seg)))
		} else {
			ps = checksum.Pseudo(ip[8:24], ip[24:40], proto, uint32(len(seg)))
		}
		if proto == header.ICMPv4ProtocolNumber {
			ps = 0 // ICMPv4 has no pseudo-header
		}
		c := ^checksum.Sum(seg, ps)
		if c == 0 && proto == header.UDPProtocolNumber {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(seg[csumOff:], c)
	}
	et := uint16(header.EtherTypeIPv4)
	if h.Src.Is6() {
		et = header.EtherTypeIPv6
	}
	if h.VLAN != 0 {
		tag := make([]byte, 4+len(ip))
		binary.BigEndian.PutUint16(tag[0:], h.VLAN&0x0fff)
		binary.BigEndian.PutUint16(tag[2:], et)
		copy(tag[4:], ip)
		return Ether(h.DstMAC, h.SrcMAC, header.EtherType8021Q, tag)
	}
	return Ether(h.DstMAC, h.SrcMAC, et, ip)
}

// UDP returns a UDP datagram in an IP packet in an Ethernet frame.
func UDP(h IP, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, header.UDPSize+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	return h.packet(header.UDPProtocolNumber, u, 6)
}

// TCP returns a TCP segment (ACK|PSH, window 65535) in an IP packet in an
// Ethernet frame.
func TCP(h IP, sport, dport uint16, seq uint32, payload []byte) []byte {
	s := make([]byte, header.TCPMinimumSize+len(payload))
	binary.BigEndian.PutUint16(s[0:], sport)
	binary.BigEndian.PutUint16(s[2:], dport)
	binary.BigEndian.PutUint32(s[4:], seq)
	binary.BigEndian.PutUint32(s[8:], 1)
	s[12] = 5 << 4
	s[13] = 0x18 // PSH|ACK
	binary.BigEndian.PutUint16(s[14:], 65535)
	copy(s[20:], payload)
	return h.packet(header.TCPProtocolNumber, s, 16)
}

// Echo returns an ICMP (IPv4) or ICMPv6 echo request, or reply if reply is
// set.
func Echo(h IP, reply bool, id, seq uint16, payload []byte) []byte {
	m := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], payload)
	if h.Src.Is4() {
		m[0] = 8 // echo request
		if reply {
			m[0] = 0
		}
		return h.packet(header.ICMPv4ProtocolNumber, m, 2)
	}
	m[0] = header.ICMPv6EchoRequest
	if reply {
		m[0] = header.ICMPv6EchoReply
	}
	return h.packet(header.ICMPv6ProtocolNumber, m, 2)
}

// NeighborSolicit returns an IPv6 Neighbor Solicitation from (mac, src)
// for target, sent to target's solicited-node multicast address, with a
// source link-layer address option when sllao is set.
func NeighborSolicit(mac header.MAC, src, target netip.Addr, sllao bool) []byte {
	t := target.As16()
	dst := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	ns := make([]byte, header.NDPNeighborSolicitSize)
	ns[0] = header.ICMPv6NeighborSolicitation
	copy(ns[8:24], t[:])
	if sllao {
		ns = header.AppendNDPLinkLayerAddressOption(ns, header.NDPOptionSourceLinkLayerAddress, mac)
	}
	d := dst.As16()
	h := IP{SrcMAC: mac, DstMAC: header.MAC{0x33, 0x33, 0xff, d[13], d[14], d[15]}, Src: src, Dst: dst, TTL: 255}
	return h.packet(header.ICMPv6ProtocolNumber, ns, 2)
}

// PartialChecksum turns the complete TCP or UDP checksum of an untagged
// IPv4/IPv6 frame into the folded pseudo-header sum, as a vnet_hdr TAP hands
// over a frame with VIRTIO_NET_HDR_F_NEEDS_CSUM, and returns the matching
// metadata. It panics on other frames.
func PartialChecksum(frame []byte) tap.Meta {
	nh := frame[header.EthernetSize:]
	var hl int
	var proto uint8
	var ps uint16
	switch binary.BigEndian.Uint16(frame[12:]) {
	case header.EtherTypeIPv4:
		hl, proto = int(nh[0]&0x0f)*4, nh[9]
		ps = checksum.Pseudo(nh[12:16], nh[16:20], proto, uint32(len(nh)-hl))
	case header.EtherTypeIPv6:
		hl, proto = header.IPv6FixedSize, nh[6]
		ps = checksum.Pseudo(nh[8:24], nh[24:40], proto, uint32(len(nh)-hl))
	default:
		panic("netlab: PartialChecksum: not IP")
	}
	off := 16
	if proto == header.UDPProtocolNumber {
		off = 6
	} else if proto != header.TCPProtocolNumber {
		panic("netlab: PartialChecksum: not TCP or UDP")
	}
	start := header.EthernetSize + hl
	binary.BigEndian.PutUint16(frame[start+off:], ps)
	return tap.Meta{ChecksumPartial: true, ChecksumStart: uint16(start), ChecksumOffset: uint16(off)}
}

// L4ChecksumValid reports whether the TCP/UDP/ICMPv6 checksum of an
// untagged IPv4/IPv6 frame verifies.
func L4ChecksumValid(frame []byte) bool {
	nh := frame[header.EthernetSize:]
	switch binary.BigEndian.Uint16(frame[12:]) {
	case header.EtherTypeIPv4:
		hl := int(nh[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(nh[2:]))
		ps := checksum.Pseudo(nh[12:16], nh[16:20], nh[9], uint32(tot-hl))
		if nh[9] == header.ICMPv4ProtocolNumber {
			ps = 0
		}
		return checksum.Sum(nh[hl:tot], ps) == 0xffff
	case header.EtherTypeIPv6:
		pl := int(binary.BigEndian.Uint16(nh[4:]))
		ps := checksum.Pseudo(nh[8:24], nh[24:40], nh[6], uint32(pl))
		return checksum.Sum(nh[40:40+pl], ps) == 0xffff
	}
	return false
}
