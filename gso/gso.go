// Package gso splits the TCP and UDP super-frames a TAP with IFF_VNET_HDR
// hands to user space (TSO/USO, up to 64 KiB) into wire-sized Ethernet
// frames, and completes the checksum of frames the kernel left partial.
//
// It is the user-space counterpart of the kernel's software segmentation
// (net/ipv4/tcp_offload.c tcp_gso_segment, net/ipv4/udp_offload.c
// __udp_gso_segment, net/ipv4/af_inet.c inet_gso_segment,
// net/ipv6/ip6_offload.c ipv6_gso_segment) for frames that start with an
// Ethernet header, optionally followed by 802.1Q/802.1ad tags.
//
// The package is pure: no I/O, no allocation on success. Per segment it
// copies the Ethernet, IP and L4 headers, then rewrites:
//
//   - IPv4: ID = first ID + i, total length, header checksum;
//   - IPv6: payload length;
//   - TCP: sequence number = first + i*gso_size, FIN and PSH only on the last
//     segment, CWR only on the first (tcp_gso_segment);
//   - UDP: length;
//   - the full TCP/UDP checksum (pseudo-header + header + payload), or, with
//     [PartialChecksum], the folded pseudo-header sum as a CHECKSUM_PARTIAL
//     sender leaves it (for VXLAN remote checksum offload).
//
// The header length is recomputed from csum_start and the TCP data offset;
// hdr_len from the virtio header is not trusted (a forwarded skb can report
// the whole first packet there).
package gso

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
)

// Errors returned by [Parse], [Split] and [CompleteChecksum]. Errors about a
// malformed frame or header wrap [ErrInvalid].
var (
	// ErrInvalid reports a super-frame whose headers contradict each
	// other or the virtio_net_hdr (the kernel would return EINVAL).
	ErrInvalid = errors.New("gso: invalid super-frame")
	// ErrUnsupported reports a gso_type gso cannot split (UFO, tunnel GSO).
	ErrUnsupported = errors.New("gso: unsupported gso_type")
	// ErrTooManySegments reports that the frame needs more segments than
	// there are output buffers (or sizes).
	ErrTooManySegments = errors.New("gso: too many segments for the output buffers")
	// ErrShortBuffer reports an output buffer too short for its segment.
	ErrShortBuffer = errors.New("gso: output buffer too short for segment")
)

// Flags change how [Split] finishes each segment.
type Flags uint8

const (
	// PartialChecksum leaves each segment's TCP/UDP checksum field holding
	// the folded pseudo-header sum (CHECKSUM_PARTIAL, as the kernel's TX
	// path does) instead of the full checksum. The checksum then covers
	// Layout.CsumStart.. with the field at CsumStart+CsumOffset, the same
	// for every segment; VXLAN remote checksum offload carries exactly that.
	PartialChecksum Flags = 1 << iota
)

// Maximum sizes a segment may reach.
const (
	// maxIPLen is the largest IP packet (header included) a segment may
	// be: the IPv4 total length and the IPv6 payload length are 16 bits,
	// and we also keep IPv6 segments below 64 KiB.
	maxIPLen = 65535
)

const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80

	tcpSeqOffset   = 4
	tcpFlagsOffset = 13
	tcpCsumOffset  = 16
	udpLenOffset   = 4
	udpCsumOffset  = 6

	ipv4IDOffset    = 4
	ipv4LenOffset   = 2
	ipv4FlagsOffset = 6
	ipv4CsumOffset  = 10
	ipv4SrcOffset   = 12
	ipv6LenOffset   = 4
	ipv6SrcOffset   = 8
)

// Layout describes where the headers of a super-frame are and how it splits.
// All offsets are from the start of the Ethernet header.
type Layout struct {
	// L2Len is the length of the Ethernet header with its VLAN tags.
	L2Len int
	// CsumStart is the offset of the TCP/UDP header (for GSO_NONE: the
	// virtio header's csum_start, or 0 when no checksum is pending).
	CsumStart int
	// CsumOffset is the offset of the checksum field from CsumStart: 16
	// for TCP, 6 for UDP.
	CsumOffset int
	// HdrLen is the length of all headers through TCP/UDP, copied to every
	// segment.
	HdrLen int
	// Protocol is the IP protocol of the segments (6 or 17; 0 for GSO_NONE).
	Protocol uint8
	// IPv6 reports an IPv6 frame.
	IPv6 bool
	// GSOSize is the payload length of every segment but the last.
	GSOSize int
	// Segments is the number of frames Split writes (at least 1).
	Segments int
	// SegmentLen is the frame length of every segment but the last; LastLen
	// is the length of the last one (equal when the payload divides evenly).
	SegmentLen, LastLen int
}

// invalid returns an error wrapping ErrInvalid. It allocates, but only on
// the error path.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Parse validates the super-frame in against its virtio_net_hdr h and
// returns its layout. It never panics and never modifies in.
//
// Accepted: gso_type NONE (with or without NEEDS_CSUM), TCPV4, TCPV6 (each
// optionally with the ECN bit) and UDP_L4 over IPv4 or IPv6. For GSO types
// the L3 header must match the type (TCPV4: IPv4, TCPV6: IPv6), the IPv4
// header must not be a fragment, IPv6 extension headers (hop-by-hop,
// routing, destination options) are skipped, and when NEEDS_CSUM is set
// csum_start must be the transport header and csum_offset 16 (TCP) or 6
// (UDP), the rules virtio_net_hdr_to_skb enforces.
func Parse(in []byte, h header.VirtioNetHdrFields) (Layout, error) {
	var l Layout
	needsCsum := h.Flags&header.VirtioNetHdrFlagNeedsCsum != 0
	gsoType := h.GSOType &^ header.VirtioNetHdrGSOECN
	if gsoType == header.VirtioNetHdrGSONone {
		if needsCsum {
			start, off := int(h.CsumStart), int(h.CsumOffset)
			if start >= len(in) || start+off+2 > len(in) {
				return l, invalid("csum_start %d + csum_offset %d beyond frame length %d", start, off, len(in))
			}
			l.CsumStart, l.CsumOffset = start, off
		}
		l.Segments, l.SegmentLen, l.LastLen, l.HdrLen = 1, len(in), len(in), len(in)
		return l, nil
	}
	switch gsoType {
	case header.VirtioNetHdrGSOTCPv4, header.VirtioNetHdrGSOTCPv6:
		l.Protocol = header.TCPProtocolNumber
		l.CsumOffset = tcpCsumOffset
	case header.VirtioNetHdrGSOUDPL4:
		l.Protocol = header.UDPProtocolNumber
		l.CsumOffset = udpCsumOffset
	default:
		return l, fmt.Errorf("%w %d", ErrUnsupported, h.GSOType)
	}
	if h.GSOSize == 0 {
		return l, invalid("gso_size 0")
	}
	etherType, l2, ok := header.Ethernet(in).PayloadOffset()
	if !ok {
		return l, invalid("frame of %d bytes ends inside the Ethernet header", len(in))
	}
	l.L2Len = l2
	var l4 int
	var proto uint8
	switch etherType {
	case header.EtherTypeIPv4:
		if gsoType == header.VirtioNetHdrGSOTCPv6 {
			return l, invalid("gso_type TCPV6 with an IPv4 packet")
		}
		if len(in) < l2+header.IPv4MinimumSize || in[l2]>>4 != 4 {
			return l, invalid("truncated or bad IPv4 header")
		}
		ihl := int(in[l2]&0x0f) * 4
		if ihl < header.IPv4MinimumSize || l2+ihl > len(in) {
			return l, invalid("bad IPv4 header length %d", ihl)
		}
		if binary.BigEndian.Uint16(in[l2+ipv4FlagsOffset:])&0x3fff != 0 {
			return l, invalid("IPv4 fragment")
		}
		l4, proto = l2+ihl, in[l2+9]
	case header.EtherTypeIPv6:
		if gsoType == header.VirtioNetHdrGSOTCPv4 {
			return l, invalid("gso_type TCPV4 with an IPv6 packet")
		}
		if len(in) < l2+header.IPv6FixedSize || in[l2]>>4 != 6 {
			return l, invalid("truncated or bad IPv6 header")
		}
		l.IPv6 = true
		proto, l4, ok = header.IPv6(in[l2:]).SkipOptionHeaders()
		l4 += l2
		if !ok {
			return l, invalid("truncated IPv6 extension header")
		}
	default:
		return l, invalid("EtherType %#04x is not IPv4 or IPv6", etherType)
	}
	if proto != l.Protocol {
		return l, invalid("IP protocol %d does not match gso_type %d", proto, h.GSOType)
	}
	if needsCsum {
		if int(h.CsumStart) != l4 {
			return l, invalid("csum_start %d is not the transport header offset %d", h.CsumStart, l4)
		}
		if int(h.CsumOffset) != l.CsumOffset {
			return l, invalid("csum_offset %d, want %d", h.CsumOffset, l.CsumOffset)
		}
	}
	l.CsumStart = l4
	if l.Protocol == header.TCPProtocolNumber {
		if l4+header.TCPMinimumSize > len(in) {
			return l, invalid("frame ends inside the TCP header")
		}
		doff := int(in[l4+12]>>4) * 4
		if doff < header.TCPMinimumSize {
			return l, invalid("TCP data offset %d", doff)
		}
		l.HdrLen = l4 + doff
	} else {
		l.HdrLen = l4 + header.UDPSize
	}
	if l.HdrLen > len(in) {
		return l, invalid("headers of %d bytes exceed frame length %d", l.HdrLen, len(in))
	}
	payload := len(in) - l.HdrLen
	l.GSOSize = int(h.GSOSize)
	if payload <= l.GSOSize {
		if len(in)-l2 > maxIPLen {
			return l, invalid("IP packet of %d bytes", len(in)-l2)
		}
		l.Segments = 1
		l.SegmentLen, l.LastLen = len(in), len(in)
		return l, nil
	}
	if l.HdrLen-l2+l.GSOSize > maxIPLen {
		return l, invalid("gso_size %d makes segments larger than 65535 bytes", h.GSOSize)
	}
	l.Segments = (payload + l.GSOSize - 1) / l.GSOSize
	l.SegmentLen = l.HdrLen + l.GSOSize
	l.LastLen = l.HdrLen + payload - (l.Segments-1)*l.GSOSize
	return l, nil
}

// Split segments the super-frame in, described by h, into out[i][offset:],
// setting sizes[i] to each segment's length, and returns the number of
// segments. Every segment is a complete Ethernet frame: see the package
// documentation for the fields rewritten. in is not modified.
//
// A GSO_NONE frame is copied to out[0] and, when NEEDS_CSUM is set (and
// PartialChecksum is not), its checksum is completed as by
// [CompleteChecksum]. A TCP or UDP frame whose payload fits in one segment
// is written as one segment with its checksum completed.
//
// Split checks every output buffer before writing any: it returns
// [ErrTooManySegments] when len(out) or len(sizes) is smaller than the
// number of segments and [ErrShortBuffer] when a buffer cannot hold its
// segment after offset; then n is 0 and nothing was written.
func Split(out [][]byte, sizes []int, offset int, in []byte, h header.VirtioNetHdrFields, flags Flags) (n int, err error) {
	l, err := Parse(in, h)
	if err != nil {
		return 0, err
	}
	if l.Segments > len(out) || l.Segments > len(sizes) {
		return 0, ErrTooManySegments
	}
	if offset < 0 {
		return 0, ErrShortBuffer
	}
	for i := range l.Segments {
		need := l.SegmentLen
		if i == l.Segments-1 {
			need = l.LastLen
		}
		if len(out[i])-offset < need {
			return 0, ErrShortBuffer
		}
	}
	if l.Protocol == 0 {
		o := out[0][offset : offset+len(in)]
		copy(o, in)
		if h.Flags&header.VirtioNetHdrFlagNeedsCsum != 0 && flags&PartialChecksum == 0 {
			completeChecksum(o, l.CsumStart, l.CsumOffset)
		}
		sizes[0] = len(in)
		return 1, nil
	}
	split(out, sizes, offset, in, &l, flags)
	return l.Segments, nil
}

// split does the work of Split once every bound has been checked.
func split(out [][]byte, sizes []int, offset int, in []byte, l *Layout, flags Flags) {
	l2, l4, hdrLen := l.L2Len, l.CsumStart, l.HdrLen
	var pseudo uint16
	if l.IPv6 {
		pseudo = checksum.Pseudo(in[l2+ipv6SrcOffset:l2+ipv6SrcOffset+16], in[l2+ipv6SrcOffset+16:l2+ipv6SrcOffset+32], l.Protocol, 0)
	} else {
		pseudo = checksum.Pseudo(in[l2+ipv4SrcOffset:l2+ipv4SrcOffset+4], in[l2+ipv4SrcOffset+4:l2+ipv4SrcOffset+8], l.Protocol, 0)
	}
	tcp := l.Protocol == header.TCPProtocolNumber
	var seq0 uint32
	if tcp {
		seq0 = binary.BigEndian.Uint32(in[l4+tcpSeqOffset:])
	}
	id0 := binary.BigEndian.Uint16(in[l2+ipv4IDOffset:])
	// The IPv4 header checksum of segment i differs from the first one's
	// only in the total length and ID: sum the rest once.
	var ipBase uint64
	if !l.IPv6 {
		ipBase = uint64(checksum.Sum(in[l2:l4], 0)) + uint64(^binary.BigEndian.Uint16(in[l2+ipv4LenOffset:])) +
			uint64(^id0) + uint64(^binary.BigEndian.Uint16(in[l2+ipv4CsumOffset:]))
	}
	csumAt := l4 + l.CsumOffset
	data := hdrLen
	last := l.Segments - 1
	for i := 0; i <= last; i++ {
		size := l.SegmentLen
		if i == last {
			size = l.LastLen
		}
		o := out[i][offset : offset+size]
		copy(o[:hdrLen], in[:hdrLen])
		copy(o[hdrLen:], in[data:data+size-hdrLen])
		data += size - hdrLen

		if l.IPv6 {
			binary.BigEndian.PutUint16(o[l2+ipv6LenOffset:], uint16(size-l2-header.IPv6FixedSize))
		} else {
			id := id0 + uint16(i)
			binary.BigEndian.PutUint16(o[l2+ipv4LenOffset:], uint16(size-l2))
			binary.BigEndian.PutUint16(o[l2+ipv4IDOffset:], id)
			binary.BigEndian.PutUint16(o[l2+ipv4CsumOffset:], ^checksum.Fold(ipBase+uint64(size-l2)+uint64(id)))
		}
		l4len := size - l4
		if tcp {
			binary.BigEndian.PutUint32(o[l4+tcpSeqOffset:], seq0+uint32(i)*uint32(l.GSOSize))
			if i != last {
				o[l4+tcpFlagsOffset] &^= tcpFlagFIN | tcpFlagPSH
			}
			if i != 0 {
				o[l4+tcpFlagsOffset] &^= tcpFlagCWR
			}
		} else {
			binary.BigEndian.PutUint16(o[l4+udpLenOffset:], uint16(l4len))
		}
		ps := checksum.Combine(pseudo, uint16(l4len))
		if flags&PartialChecksum != 0 {
			binary.BigEndian.PutUint16(o[csumAt:], ps)
		} else {
			o[csumAt], o[csumAt+1] = 0, 0
			c := checksum.Checksum(o[l4:size], ps)
			if c == 0 && !tcp {
				c = 0xffff // RFC 768: a computed zero is sent as all ones
			}
			binary.BigEndian.PutUint16(o[csumAt:], c)
		}
		sizes[i] = size
	}
}

// CompleteChecksum finishes the checksum of a frame the kernel handed over
// with VIRTIO_NET_HDR_F_NEEDS_CSUM and no GSO (CHECKSUM_PARTIAL): the field
// at csumStart+csumOffset holds the folded pseudo-header sum, and the
// checksum covers frame[csumStart:]. A computed 0 is written as 0xFFFF, as
// the kernel's skb_checksum_help does (net/core/dev.c). It returns an error
// wrapping [ErrInvalid] if the offsets are outside the frame.
func CompleteChecksum(frame []byte, csumStart, csumOffset int) error {
	if csumStart < 0 || csumOffset < 0 || csumStart >= len(frame) || csumStart+csumOffset+2 > len(frame) {
		return invalid("csum_start %d + csum_offset %d beyond frame length %d", csumStart, csumOffset, len(frame))
	}
	completeChecksum(frame, csumStart, csumOffset)
	return nil
}

func completeChecksum(frame []byte, start, off int) {
	at := start + off
	seed := binary.BigEndian.Uint16(frame[at:])
	frame[at], frame[at+1] = 0, 0
	c := checksum.Checksum(frame[start:], seed)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], c)
}
