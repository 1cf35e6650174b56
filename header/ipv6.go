package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
)

const (
	ipv6VersionTCFL    = 0
	ipv6PayloadLength  = 4
	ipv6NextHeader     = 6
	ipv6HopLimit       = 7
	ipv6Source         = 8
	ipv6Destination    = 24
	ipv6FlowLabelMask  = 0x000fffff
	ipv6TrafficClassSh = 20
)

// IPv6Version is the value of the "Version" field of an IPv6 header.
const IPv6Version = 6

// IPv6 is a view of an IPv6 packet (RFC 8200 §3), fixed header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Source Address                        +
//	|                          (128 bits)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                      Destination Address                      +
//	|                          (128 bits)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers, if any, follow the fixed header; NextExtensionHeader
// and UpperLayer walk them. Accessors are unchecked; call IsValid first.
type IPv6 []byte

// IPv6Fields describes the fixed IPv6 header.
type IPv6Fields struct {
	// TrafficClass is the "Traffic Class" (DS field: DSCP<<2 | ECN).
	TrafficClass uint8
	// FlowLabel is the 20-bit "Flow Label".
	FlowLabel uint32
	// PayloadLength is the "Payload Length": everything after the fixed
	// header, extension headers included.
	PayloadLength uint16
	// NextHeader is the "Next Header".
	NextHeader uint8
	// HopLimit is the "Hop Limit".
	HopLimit uint8
	// SrcAddr is the "Source Address"; an IPv4 address is written in its
	// IPv4-mapped form.
	SrcAddr netip.Addr
	// DstAddr is the "Destination Address".
	DstAddr netip.Addr
}

// IsValid reports whether b holds an IPv6 header for a packet of pktSize
// bytes: version 6 and 40 + Payload Length <= pktSize <= len(b). pktSize
// is the number of packet bytes held in b, normally len(b). These are the
// length checks of the kernel's ipv6_rcv (ip6_rcv_core); a zero Payload
// Length (a jumbogram, RFC 2675) is accepted and covers nothing.
func (b IPv6) IsValid(pktSize int) bool {
	return len(b) >= IPv6FixedSize && b[ipv6VersionTCFL]>>4 == IPv6Version &&
		pktSize <= len(b) && IPv6FixedSize+int(b.PayloadLength()) <= pktSize
}

// Version returns the "Version" field.
func (b IPv6) Version() uint8 { return b[ipv6VersionTCFL] >> 4 }

func (b IPv6) word0() uint32 { return binary.BigEndian.Uint32(b[ipv6VersionTCFL:]) }

// TrafficClass returns the "Traffic Class" field.
func (b IPv6) TrafficClass() uint8 { return uint8(b.word0() >> ipv6TrafficClassSh) }

// SetTrafficClass sets the "Traffic Class" field and "Version" to 6.
func (b IPv6) SetTrafficClass(tc uint8) {
	w := IPv6Version<<28 | uint32(tc)<<ipv6TrafficClassSh | b.word0()&ipv6FlowLabelMask
	binary.BigEndian.PutUint32(b[ipv6VersionTCFL:], w)
}

// DSCP returns the Differentiated Services Code Point, the upper six bits of
// the Traffic Class (RFC 2474 §3).
func (b IPv6) DSCP() uint8 { return b.TrafficClass() >> 2 }

// ECN returns the ECN codepoint, the lower two bits of the Traffic Class.
func (b IPv6) ECN() uint8 { return b.TrafficClass() & ECNMask }

// SetECN sets the ECN codepoint and keeps the DSCP.
func (b IPv6) SetECN(ecn uint8) { b.SetTrafficClass(b.TrafficClass()&^ECNMask | ecn&ECNMask) }

// FlowLabel returns the 20-bit "Flow Label" field.
func (b IPv6) FlowLabel() uint32 { return b.word0() & ipv6FlowLabelMask }

// SetFlowLabel sets the "Flow Label" field and "Version" to 6; fl is
// masked to 20 bits.
func (b IPv6) SetFlowLabel(fl uint32) {
	w := IPv6Version<<28 | b.word0()&0x0ff00000 | fl&ipv6FlowLabelMask
	binary.BigEndian.PutUint32(b[ipv6VersionTCFL:], w)
}

// PayloadLength returns the "Payload Length" field.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLength:]) }

// SetPayloadLength sets the "Payload Length" field.
func (b IPv6) SetPayloadLength(l uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLength:], l) }

// NextHeader returns the "Next Header" field.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeader] }

// SetNextHeader sets the "Next Header" field.
func (b IPv6) SetNextHeader(n uint8) { b[ipv6NextHeader] = n }

// HopLimit returns the "Hop Limit" field.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// SetHopLimit sets the "Hop Limit" field.
func (b IPv6) SetHopLimit(h uint8) { b[ipv6HopLimit] = h }

// SourceAddress returns the "Source Address" field.
func (b IPv6) SourceAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(b[ipv6Source : ipv6Source+16]))
}

// SourceAddressSlice returns the "Source Address" field in place.
func (b IPv6) SourceAddressSlice() []byte { return b[ipv6Source : ipv6Source+16] }

// SetSourceAddress sets the "Source Address" field.
func (b IPv6) SetSourceAddress(a netip.Addr) {
	v := a.As16()
	copy(b[ipv6Source:ipv6Source+16], v[:])
}

// DestinationAddress returns the "Destination Address" field.
func (b IPv6) DestinationAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(b[ipv6Destination : ipv6Destination+16]))
}

// DestinationAddressSlice returns the "Destination Address" field in place.
func (b IPv6) DestinationAddressSlice() []byte { return b[ipv6Destination : ipv6Destination+16] }

// SetDestinationAddress sets the "Destination Address" field.
func (b IPv6) SetDestinationAddress(a netip.Addr) {
	v := a.As16()
	copy(b[ipv6Destination:ipv6Destination+16], v[:])
}

// Payload returns the Payload Length bytes after the fixed header, in
// place; extension headers are part of it.
func (b IPv6) Payload() []byte {
	return b[IPv6FixedSize : IPv6FixedSize+int(b.PayloadLength())]
}

// PseudoHeaderSum returns the folded sum of the upper-layer pseudo-header
// (RFC 8200 §8.1) for this packet's addresses, next header proto and
// upper-layer packet length l. It does not look for a Routing header's
// final destination.
func (b IPv6) PseudoHeaderSum(proto uint8, l uint32) uint16 {
	return checksum.Pseudo(b[ipv6Source:ipv6Source+16], b[ipv6Destination:ipv6Destination+16], proto, l)
}

// Encode writes the 40-byte fixed header described by f, with Version 6.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b[ipv6VersionTCFL:], IPv6Version<<28|uint32(f.TrafficClass)<<ipv6TrafficClassSh|f.FlowLabel&ipv6FlowLabelMask)
	b.SetPayloadLength(f.PayloadLength)
	b.SetNextHeader(f.NextHeader)
	b.SetHopLimit(f.HopLimit)
	b.SetSourceAddress(f.SrcAddr)
	b.SetDestinationAddress(f.DstAddr)
}

// Fields returns the fixed header as an IPv6Fields.
func (b IPv6) Fields() IPv6Fields {
	return IPv6Fields{
		TrafficClass:  b.TrafficClass(),
		FlowLabel:     b.FlowLabel(),
		PayloadLength: b.PayloadLength(),
		NextHeader:    b.NextHeader(),
		HopLimit:      b.HopLimit(),
		SrcAddr:       b.SourceAddress(),
		DstAddr:       b.DestinationAddress(),
	}
}

// IsIPv6ExtensionHeader reports whether proto is an IPv6 extension header
// that NextExtensionHeader can step over: Hop-by-Hop Options (0), Routing
// (43), Fragment (44), Destination Options (60) or Authentication (51), the
// set the kernel's ipv6_ext_hdr/ipv6_skip_exthdr step over. ESP (50) and No
// Next Header (59) end the walk: nothing after them can be read.
func IsIPv6ExtensionHeader(proto uint8) bool {
	switch proto {
	case IPv6HopByHopProtocolNumber, IPv6RoutingProtocolNumber, IPv6FragmentProtocolNumber,
		IPv6DestinationOptionsProtocolNumber, AHProtocolNumber:
		return true
	}
	return false
}

// IPv6ExtensionHeader locates one extension header found by
// NextExtensionHeader.
type IPv6ExtensionHeader struct {
	// Type is the protocol number of this header (the previous header's
	// Next Header), e.g. IPv6FragmentProtocolNumber.
	Type uint8
	// NextHeader is this header's "Next Header" field.
	NextHeader uint8
	// Offset is where the header starts, from the start of the IPv6 header.
	Offset int
	// Length is the header's length in bytes.
	Length int
}

// NextExtensionHeader decodes the extension header of type proto that
// starts off bytes into b. Lengths follow RFC 8200 §4.3–4.6 ("Hdr Ext Len"
// in 8-octet units, not including the first 8 octets; the Fragment header
// is always 8 octets) and RFC 4302 §2.2 for AH ("Payload Len" in 32-bit
// words, minus 2). ok is false when proto is not an extension header (see
// IsIPv6ExtensionHeader) or the header does not fit in b.
//
// A typical walk:
//
//	proto, off := ip.NextHeader(), header.IPv6FixedSize
//	for header.IsIPv6ExtensionHeader(proto) {
//		h, ok := ip.NextExtensionHeader(proto, off)
//		if !ok { ... }
//		proto, off = h.NextHeader, h.Offset+h.Length
//	}
func (b IPv6) NextExtensionHeader(proto uint8, off int) (h IPv6ExtensionHeader, ok bool) {
	if !IsIPv6ExtensionHeader(proto) || off < 0 || off+8 > len(b) {
		return IPv6ExtensionHeader{}, false
	}
	var l int
	switch proto {
	case IPv6FragmentProtocolNumber:
		l = 8
	case AHProtocolNumber:
		l = (int(b[off+1]) + 2) * 4
	default:
		l = (int(b[off+1]) + 1) * 8
	}
	if off+l > len(b) {
		return IPv6ExtensionHeader{}, false
	}
	return IPv6ExtensionHeader{Type: proto, NextHeader: b[off], Offset: off, Length: l}, true
}

// UpperLayer walks the extension headers and returns the protocol number of
// the first header that is not one, with its offset from the start of b.
// Like the kernel's ipv6_skip_exthdr, the walk stops at a Fragment header
// whose Fragment Offset is non-zero, because the upper-layer header is not
// in this fragment: proto is then IPv6FragmentProtocolNumber and off points
// at the Fragment header. ok is false when an extension header is
// truncated. The walk is bounded by len(b): every step advances at least 8
// bytes.
func (b IPv6) UpperLayer() (proto uint8, off int, ok bool) {
	proto, off = b[ipv6NextHeader], IPv6FixedSize
	for IsIPv6ExtensionHeader(proto) {
		h, ok := b.NextExtensionHeader(proto, off)
		if !ok {
			return 0, 0, false
		}
		if proto == IPv6FragmentProtocolNumber && IPv6Fragment(b[off:]).FragmentOffset() != 0 {
			return proto, off, true
		}
		proto, off = h.NextHeader, off+h.Length
	}
	return proto, off, true
}

// SkipOptionHeaders steps over the Hop-by-Hop, Routing and Destination
// Options headers of the packet b, the ones the kernel's IPv6 GSO and GRO
// step over (ipv6_gso_segment, ipv6_gro_receive), at most eight, and
// returns the protocol of the header that follows and its offset from the
// start of b. Any other header, a Fragment or AH header included, ends the
// walk and is returned. ok is false when a header is truncated or more
// than eight are chained. b must hold the fixed header.
func (b IPv6) SkipOptionHeaders() (proto uint8, off int, ok bool) {
	proto, off = b[ipv6NextHeader], IPv6FixedSize
	for range 8 {
		switch proto {
		case IPv6HopByHopProtocolNumber, IPv6RoutingProtocolNumber, IPv6DestinationOptionsProtocolNumber:
			if off+8 > len(b) {
				return 0, 0, false
			}
			proto = b[off]
			off += (int(b[off+1]) + 1) * 8
			if off > len(b) {
				return 0, 0, false
			}
		default:
			return proto, off, true
		}
	}
	return 0, 0, false
}

const (
	ipv6FragNextHeader = 0
	ipv6FragOffsetFlag = 2
	ipv6FragID         = 4
)

// IPv6FragmentHeaderSize is the length of the IPv6 Fragment header.
const IPv6FragmentHeaderSize = 8

// IPv6Fragment is a view of an IPv6 Fragment extension header
// (RFC 8200 §4.5):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv6Fragment []byte

// IPv6FragmentFields describes an IPv6 Fragment header.
type IPv6FragmentFields struct {
	NextHeader uint8
	// FragmentOffset is the "Fragment Offset" in bytes (a multiple of 8).
	FragmentOffset uint16
	// More is the "M flag": 1 = more fragments.
	More bool
	// ID is the "Identification".
	ID uint32
}

// IsValid reports whether f is at least IPv6FragmentHeaderSize bytes long.
func (f IPv6Fragment) IsValid() bool { return len(f) >= IPv6FragmentHeaderSize }

// NextHeader returns the "Next Header" field.
func (f IPv6Fragment) NextHeader() uint8 { return f[ipv6FragNextHeader] }

// FragmentOffset returns the "Fragment Offset" field in bytes.
func (f IPv6Fragment) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(f[ipv6FragOffsetFlag:]) &^ 7
}

// More returns the "M flag".
func (f IPv6Fragment) More() bool { return f[ipv6FragOffsetFlag+1]&1 != 0 }

// ID returns the "Identification" field.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[ipv6FragID:]) }

// Encode writes the header described by f; the reserved fields are zeroed.
func (f IPv6Fragment) Encode(v *IPv6FragmentFields) {
	f[ipv6FragNextHeader] = v.NextHeader
	f[1] = 0
	w := v.FragmentOffset &^ 7
	if v.More {
		w |= 1
	}
	binary.BigEndian.PutUint16(f[ipv6FragOffsetFlag:], w)
	binary.BigEndian.PutUint32(f[ipv6FragID:], v.ID)
}

// Fields returns the header as an IPv6FragmentFields.
func (f IPv6Fragment) Fields() IPv6FragmentFields {
	return IPv6FragmentFields{NextHeader: f.NextHeader(), FragmentOffset: f.FragmentOffset(), More: f.More(), ID: f.ID()}
}
