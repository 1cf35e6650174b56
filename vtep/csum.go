package vtep

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// Inner checksums on receive
//
// A kernel vxlan device encapsulates a CHECKSUM_PARTIAL skb as it is: the
// inner TCP or UDP checksum field holds only the folded pseudo-header sum
// (what tcp_v4_send_check / udp_set_csum leave for the device), and the
// device that finally transmits the outer packet is expected to finish it.
// A veth never does: it hands the skb to its peer still partial, and the
// peer's stack trusts it (skb_csum_unnecessary is true for
// CHECKSUM_PARTIAL). A kernel vxlan receiver behind that veth copes; a
// userspace VTEP reading the datagram from a UDP socket gets the bytes
// with the unfinished field, and the host stack behind its TAP drops
// every such segment. The receive path therefore looks for the signature
// of a partial checksum and finishes what the veth did not.
//
// The other case is an underlay whose Conns guarantee the integrity of
// what they deliver: a non-zero outer UDP checksum, which covers the whole
// inner frame, was verified, for all packets of a Conn ([PayloadVerifier])
// or per packet ([underlay.InfoReader]). A complete inner checksum is then
// turned back into a partial one for a port that carries metadata, so that
// the TAP's GRO merges the frame without checking its checksum again and
// the host stack trusts it. The kernel does a little more: it turns the
// verified outer checksum into CHECKSUM_COMPLETE and still checks the
// inner one against it, cheaply. The difference shows only for a peer that
// encapsulates a frame whose inner checksum was already wrong before the
// outer one was computed: the kernel drops it, we deliver it (README,
// "Differences from the kernel").

// Whole super-frames
//
// A kernel peer's TCP GSO burst can reach us whole: a kernel vxlan device
// sending over a veth, or a vtep sending with tunnel GSO, hands the
// receiving UDP socket one datagram of up to 64 KB (an
// SKB_GSO_UDP_TUNNEL skb, which udp_unexpected_gso lets through, with no
// UDP_GRO segment size to report). The kernel's vxlan keeps such a packet
// a GSO packet with the sender's gso_size, so a bridge port with a smaller
// MTU still gets segments that fit. We do the same for a port with
// metadata: a TCP packet longer than the link's MTU is written to the TAP
// as a TCPV4 or TCPV6 GSO packet (tap.Meta.GSOType) whose segments fill
// the MTU, the segment size the sender used unless the MTUs differ; a
// queue without a virtio_net_hdr writes the segments themselves. Only a
// GSO packet is that long, and the kernel builds every GSO packet
// CHECKSUM_PARTIAL, so the pseudo-header sum in the checksum field is
// taken as the sign without summing the 64 KB behind it; any other value
// is checked (unless the Conn vouched for the payload) before the frame is
// handed on the same way.

// markWhole describes in m the TCP super-frame frame, whose network header
// starts at nh and whose segment is frame[start:end], as a GSO packet
// whose segments fit mtu. A frame whose payload fits one segment is left
// alone.
func markWhole(frame []byte, nh, start, end int, et uint16, m *tap.Meta, mtu int) {
	doff := int(frame[start+12]>>4) * 4
	seg := mtu - (start - nh) - doff
	if doff < header.TCPMinimumSize || start+doff > end || seg <= 0 || end-start-doff <= seg {
		return
	}
	m.GSOType = header.VirtioNetHdrGSOTCPv4
	if et == header.EtherTypeIPv6 {
		m.GSOType = header.VirtioNetHdrGSOTCPv6
	}
	if frame[start+13]&0x80 != 0 { // CWR: SKB_GSO_TCP_ECN
		m.GSOType |= header.VirtioNetHdrGSOECN
	}
	m.GSOSize = uint16(seg)
}

// PayloadVerifier is an optional interface of underlay.Conn: a Conn whose
// RXPayloadVerified returns true delivers only packets that carried a
// non-zero UDP checksum it verified, so the inner frames are intact
// (underlay.LinuxConn over IPv6 without udp6zerocsumrx).
type PayloadVerifier interface {
	RXPayloadVerified() bool
}

// innerL4 finds the transport checksum of frame, whose network header of
// EtherType et starts at nh: TCP or UDP in an IPv4 packet that is not a
// fragment, or in an IPv6 packet whose next header is TCP or UDP. The
// segment is frame[start:end], its checksum field at start+off, and ps is
// its folded pseudo-header sum.
func innerL4(frame []byte, nh int, et uint16) (start, end, off int, ps uint16, ok bool) {
	if nh > len(frame) {
		return 0, 0, 0, 0, false
	}
	ip := frame[nh:]
	var l4len int
	var proto uint8
	switch et {
	case header.EtherTypeIPv4:
		if len(ip) < header.IPv4MinimumSize || ip[0]>>4 != 4 {
			return 0, 0, 0, 0, false
		}
		ihl := int(ip[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < header.IPv4MinimumSize || tot < ihl || tot > len(ip) ||
			binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or fragment offset
			return 0, 0, 0, 0, false
		}
		proto, l4len, start = ip[9], tot-ihl, nh+ihl
		if proto != header.TCPProtocolNumber && proto != header.UDPProtocolNumber {
			return 0, 0, 0, 0, false
		}
		ps = checksum.Pseudo(ip[12:16], ip[16:20], proto, uint32(l4len))
	case header.EtherTypeIPv6:
		if len(ip) < header.IPv6FixedSize || ip[0]>>4 != 6 {
			return 0, 0, 0, 0, false
		}
		l4len = int(binary.BigEndian.Uint16(ip[4:]))
		proto, start = ip[6], nh+header.IPv6FixedSize
		if header.IPv6FixedSize+l4len > len(ip) ||
			(proto != header.TCPProtocolNumber && proto != header.UDPProtocolNumber) {
			return 0, 0, 0, 0, false
		}
		ps = checksum.Pseudo(ip[8:24], ip[24:40], proto, uint32(l4len))
	default:
		return 0, 0, 0, 0, false
	}
	off = 16 // offsetof(struct tcphdr, check)
	min := header.TCPMinimumSize
	if proto == header.UDPProtocolNumber {
		off, min = 6, header.UDPSize // offsetof(struct udphdr, check)
	}
	if l4len < min {
		return 0, 0, 0, 0, false
	}
	return start, start + l4len, off, ps, true
}

// rxChecksum handles the inner checksum of a received frame for link l
// (see above): a partial checksum is marked partial in m for a port with
// metadata, or finished; with verified is set (the Conn vouched for the
// payload), a complete one is made partial for a port with metadata. It
// returns 1 if it found a partial checksum, for rx_csum_partial.
func (l *Link) rxChecksum(frame []byte, nh int, et uint16, m *tap.Meta, verified bool, mtu int) int {
	start, end, off, ps, ok := innerL4(frame, nh, et)
	if !ok {
		return 0
	}
	field := binary.BigEndian.Uint16(frame[start+off:])
	if l.meta && off == 16 && end-nh > mtu {
		// A TCP packet longer than the MTU: a GSO burst that crossed the
		// underlay whole (see "Whole super-frames" above).
		partial := field == ps
		if partial || verified || checksum.Combine(checksum.Sum(frame[start:end], 0), ps) == 0xffff {
			binary.BigEndian.PutUint16(frame[start+off:], ps)
			m.ChecksumPartial = true
			m.ChecksumStart, m.ChecksumOffset = uint16(start), uint16(off)
			markWhole(frame, nh, start, end, et, m, mtu)
			if partial {
				return 1
			}
			return 0
		}
	}
	if field == ps {
		sum := checksum.Sum(frame[start:end], 0)
		if checksum.Combine(sum, ps) != 0xffff {
			// Partial: a kernel peer's CHECKSUM_PARTIAL.
			if l.meta {
				m.ChecksumPartial = true
				m.ChecksumStart, m.ChecksumOffset = uint16(start), uint16(off)
			} else {
				c := ^sum
				if c == 0 {
					c = 0xffff // skb_checksum_help: CSUM_MANGLED_0
				}
				binary.BigEndian.PutUint16(frame[start+off:], c)
			}
			return 1
		}
	}
	if verified && l.meta && !(off == 6 && field == 0) {
		// Intact (the outer checksum covered it): hand it on as
		// CHECKSUM_PARTIAL rather than have GRO check it again. A UDP
		// datagram without a checksum keeps having none.
		binary.BigEndian.PutUint16(frame[start+off:], ps)
		m.ChecksumPartial = true
		m.ChecksumStart, m.ChecksumOffset = uint16(start), uint16(off)
	}
	return 0
}
