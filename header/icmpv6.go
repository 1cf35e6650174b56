package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
)

// ICMPv6 message types (RFC 4443, RFC 4861) that vtep builds or inspects.
const (
	ICMPv6DestinationUnreachable = 1
	ICMPv6PacketTooBig           = 2
	ICMPv6TimeExceeded           = 3
	ICMPv6ParameterProblem       = 4
	ICMPv6EchoRequest            = 128
	ICMPv6EchoReply              = 129
	ICMPv6RouterSolicitation     = 133
	ICMPv6RouterAdvertisement    = 134
	ICMPv6NeighborSolicitation   = 135
	ICMPv6NeighborAdvertisement  = 136
	ICMPv6Redirect               = 137
)

const icmpv6MTU = 4

// ICMPv6 is a view of an ICMPv6 message (RFC 4443 §2.1), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Message Body                          +
//
// For Echo the body starts with "Identifier" and "Sequence Number"; for
// Packet Too Big with the 32-bit "MTU". Neighbor Solicitation and
// Advertisement have their own views, NDPNeighborSolicit and
// NDPNeighborAdvert, over the same bytes. Accessors are unchecked; call
// IsValid first.
type ICMPv6 []byte

// ICMPv6Fields describes the first 8 bytes of an ICMPv6 message. Ident and
// Sequence hold the first body word's halves for every type.
type ICMPv6Fields struct {
	Type     uint8
	Code     uint8
	Checksum uint16
	Ident    uint16
	Sequence uint16
}

// IsValid reports whether b is at least ICMPv6MinimumSize bytes long.
func (b ICMPv6) IsValid() bool { return len(b) >= ICMPv6MinimumSize }

// Type returns the "Type" field.
func (b ICMPv6) Type() uint8 { return b[icmpType] }

// SetType sets the "Type" field.
func (b ICMPv6) SetType(t uint8) { b[icmpType] = t }

// Code returns the "Code" field.
func (b ICMPv6) Code() uint8 { return b[icmpCode] }

// SetCode sets the "Code" field.
func (b ICMPv6) SetCode(c uint8) { b[icmpCode] = c }

// Checksum returns the "Checksum" field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the "Checksum" field.
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// Ident returns the Echo "Identifier" field.
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdent sets the Echo "Identifier" field.
func (b ICMPv6) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpIdent:], id) }

// Sequence returns the Echo "Sequence Number" field.
func (b ICMPv6) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSequence:]) }

// SetSequence sets the Echo "Sequence Number" field.
func (b ICMPv6) SetSequence(s uint16) { binary.BigEndian.PutUint16(b[icmpSequence:], s) }

// MTU returns the "MTU" field of a Packet Too Big message (RFC 4443 §3.2).
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[icmpv6MTU:]) }

// SetMTU sets the "MTU" field of a Packet Too Big message.
func (b ICMPv6) SetMTU(mtu uint32) { binary.BigEndian.PutUint32(b[icmpv6MTU:], mtu) }

// Payload returns the bytes after the first 8, in place.
func (b ICMPv6) Payload() []byte { return b[ICMPv6MinimumSize:] }

// CalculateChecksum returns the "Checksum" value over all of b (the whole
// message) and the pseudo-header sum pseudo (RFC 4443 §2.3; use
// IPv6.PseudoHeaderSum with ICMPv6ProtocolNumber and len(b)), treating the
// checksum field as zero.
func (b ICMPv6) CalculateChecksum(pseudo uint16) uint16 {
	s := checksum.Sum(b[:icmpChecksum], pseudo)
	return ^checksum.Sum(b[icmpChecksum+2:], s)
}

// IsChecksumValid reports whether the "Checksum" field verifies over all of
// b given the pseudo-header sum.
func (b ICMPv6) IsChecksumValid(pseudo uint16) bool { return checksum.Sum(b, pseudo) == 0xffff }

// Encode writes the 8-byte header described by f.
func (b ICMPv6) Encode(f *ICMPv6Fields) {
	b.SetType(f.Type)
	b.SetCode(f.Code)
	b.SetChecksum(f.Checksum)
	b.SetIdent(f.Ident)
	b.SetSequence(f.Sequence)
}

// Fields returns the first 8 bytes as an ICMPv6Fields.
func (b ICMPv6) Fields() ICMPv6Fields {
	return ICMPv6Fields{Type: b.Type(), Code: b.Code(), Checksum: b.Checksum(), Ident: b.Ident(), Sequence: b.Sequence()}
}

const (
	ndpFlags   = 4
	ndpTarget  = 8
	ndpOptions = 24
)

// NDPNeighborSolicitSize and NDPNeighborAdvertSize are the lengths of
// Neighbor Solicitation and Advertisement messages without options
// (RFC 4861 §7.1.1, §7.1.2: "ICMP length (derived from the IP length) is 24
// or more octets").
const (
	NDPNeighborSolicitSize = 24
	NDPNeighborAdvertSize  = 24
)

// Neighbor Advertisement flag bits in the first body byte (RFC 4861 §4.4).
const (
	NDPFlagRouter    = 0x80
	NDPFlagSolicited = 0x40
	NDPFlagOverride  = 0x20
)

// NDPNeighborSolicit is a view of a whole ICMPv6 Neighbor Solicitation
// message (RFC 4861 §4.3), ICMPv6 header included:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                       Target Address                          +
//	|                          (128 bits)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-
//
// Use ICMPv6(ns) for the type, code and checksum. Accessors are
// unchecked; call IsValid first.
type NDPNeighborSolicit []byte

// NDPNeighborSolicitFields describes a Neighbor Solicitation. Encode
// writes Type 135 and Code 0.
type NDPNeighborSolicitFields struct {
	// Checksum is the ICMPv6 "Checksum"; Encode writes it as given.
	Checksum uint16
	// TargetAddress is the "Target Address".
	TargetAddress netip.Addr
	// Options are the NDP option bytes (a multiple of 8 bytes).
	Options []byte
}

// IsValid reports whether ns is a Neighbor Solicitation that passes the
// message-level checks of RFC 4861 §7.1.1 that need no IP header: type
// 135, "ICMP Code is 0", "ICMP length ... is 24 or more octets", and "All
// included options have a length that is greater than zero" (and fit). The
// caller checks the IP Hop Limit (255), the checksum, that the target is
// not multicast, and the unspecified-source rules.
func (ns NDPNeighborSolicit) IsValid() bool {
	return len(ns) >= NDPNeighborSolicitSize && ns[icmpType] == ICMPv6NeighborSolicitation &&
		ns[icmpCode] == 0 && ns.Options().IsValid()
}

// TargetAddress returns the "Target Address" field.
func (ns NDPNeighborSolicit) TargetAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(ns[ndpTarget : ndpTarget+16]))
}

// TargetAddressSlice returns the "Target Address" field in place.
func (ns NDPNeighborSolicit) TargetAddressSlice() []byte { return ns[ndpTarget : ndpTarget+16] }

// SetTargetAddress sets the "Target Address" field.
func (ns NDPNeighborSolicit) SetTargetAddress(a netip.Addr) {
	v := a.As16()
	copy(ns[ndpTarget:ndpTarget+16], v[:])
}

// Options returns the options, in place.
func (ns NDPNeighborSolicit) Options() NDPOptions { return NDPOptions(ns[ndpOptions:]) }

// Encode writes the message described by f; b must be at least
// 24+len(f.Options) bytes long.
func (ns NDPNeighborSolicit) Encode(f *NDPNeighborSolicitFields) {
	ns[icmpType] = ICMPv6NeighborSolicitation
	ns[icmpCode] = 0
	binary.BigEndian.PutUint16(ns[icmpChecksum:], f.Checksum)
	clear(ns[ndpFlags:ndpTarget])
	ns.SetTargetAddress(f.TargetAddress)
	copy(ns[ndpOptions:], f.Options)
}

// Fields returns the message as an NDPNeighborSolicitFields. Options
// aliases ns.
func (ns NDPNeighborSolicit) Fields() NDPNeighborSolicitFields {
	return NDPNeighborSolicitFields{
		Checksum:      ICMPv6(ns).Checksum(),
		TargetAddress: ns.TargetAddress(),
		Options:       ns[ndpOptions:],
	}
}

// NDPNeighborAdvert is a view of a whole ICMPv6 Neighbor Advertisement
// message (RFC 4861 §4.4), ICMPv6 header included:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                       Target Address                          +
//	|                          (128 bits)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-
//
// Accessors are unchecked; call IsValid first.
type NDPNeighborAdvert []byte

// NDPNeighborAdvertFields describes a Neighbor Advertisement. Encode
// writes Type 136 and Code 0.
type NDPNeighborAdvertFields struct {
	// Checksum is the ICMPv6 "Checksum"; Encode writes it as given.
	Checksum uint16
	// Router is the "R" flag.
	Router bool
	// Solicited is the "S" flag.
	Solicited bool
	// Override is the "O" flag.
	Override bool
	// TargetAddress is the "Target Address".
	TargetAddress netip.Addr
	// Options are the NDP option bytes (a multiple of 8 bytes).
	Options []byte
}

// IsValid reports whether na is a Neighbor Advertisement that passes the
// message-level checks of RFC 4861 §7.1.2 that need no IP header: type
// 136, code 0, at least 24 bytes and well-formed options. The caller
// checks Hop Limit, checksum, a non-multicast target and "If the IP
// Destination Address is a multicast address the Solicited flag is zero".
func (na NDPNeighborAdvert) IsValid() bool {
	return len(na) >= NDPNeighborAdvertSize && na[icmpType] == ICMPv6NeighborAdvertisement &&
		na[icmpCode] == 0 && na.Options().IsValid()
}

// Flags returns the first body byte, holding the R, S and O flags.
func (na NDPNeighborAdvert) Flags() uint8 { return na[ndpFlags] }

// Router returns the "R" (router) flag.
func (na NDPNeighborAdvert) Router() bool { return na[ndpFlags]&NDPFlagRouter != 0 }

// Solicited returns the "S" (solicited) flag.
func (na NDPNeighborAdvert) Solicited() bool { return na[ndpFlags]&NDPFlagSolicited != 0 }

// Override returns the "O" (override) flag.
func (na NDPNeighborAdvert) Override() bool { return na[ndpFlags]&NDPFlagOverride != 0 }

// SetFlags sets the R, S and O flags and clears the reserved bits.
func (na NDPNeighborAdvert) SetFlags(router, solicited, override bool) {
	var f uint8
	if router {
		f |= NDPFlagRouter
	}
	if solicited {
		f |= NDPFlagSolicited
	}
	if override {
		f |= NDPFlagOverride
	}
	na[ndpFlags] = f
	clear(na[ndpFlags+1 : ndpTarget])
}

// TargetAddress returns the "Target Address" field.
func (na NDPNeighborAdvert) TargetAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(na[ndpTarget : ndpTarget+16]))
}

// TargetAddressSlice returns the "Target Address" field in place.
func (na NDPNeighborAdvert) TargetAddressSlice() []byte { return na[ndpTarget : ndpTarget+16] }

// SetTargetAddress sets the "Target Address" field.
func (na NDPNeighborAdvert) SetTargetAddress(a netip.Addr) {
	v := a.As16()
	copy(na[ndpTarget:ndpTarget+16], v[:])
}

// Options returns the options, in place.
func (na NDPNeighborAdvert) Options() NDPOptions { return NDPOptions(na[ndpOptions:]) }

// Encode writes the message described by f; na must be at least
// 24+len(f.Options) bytes long.
func (na NDPNeighborAdvert) Encode(f *NDPNeighborAdvertFields) {
	na[icmpType] = ICMPv6NeighborAdvertisement
	na[icmpCode] = 0
	binary.BigEndian.PutUint16(na[icmpChecksum:], f.Checksum)
	na.SetFlags(f.Router, f.Solicited, f.Override)
	na.SetTargetAddress(f.TargetAddress)
	copy(na[ndpOptions:], f.Options)
}

// Fields returns the message as an NDPNeighborAdvertFields. Options
// aliases na.
func (na NDPNeighborAdvert) Fields() NDPNeighborAdvertFields {
	return NDPNeighborAdvertFields{
		Checksum:      ICMPv6(na).Checksum(),
		Router:        na.Router(),
		Solicited:     na.Solicited(),
		Override:      na.Override(),
		TargetAddress: na.TargetAddress(),
		Options:       na[ndpOptions:],
	}
}

// NDP option types (RFC 4861 §4.6).
const (
	NDPOptionSourceLinkLayerAddress = 1
	NDPOptionTargetLinkLayerAddress = 2
	NDPOptionPrefixInformation      = 3
	NDPOptionRedirectedHeader       = 4
	NDPOptionMTU                    = 5
)

// NDPLinkLayerAddressOptionSize is the length of a Source/Target
// Link-Layer Address option carrying a MAC-48: type, length (1, meaning 8
// octets) and 6 address bytes.
const NDPLinkLayerAddressOptionSize = 8

// NDPOptions is a view of the options of an NDP message (RFC 4861 §4.6):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     |              ...              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// "Length: The length of the option (including the type and length
// fields) in units of 8 octets. The value 0 is invalid. Nodes MUST silently
// discard an ND packet that contains an option with length zero."
type NDPOptions []byte

// Next decodes the first option of o and returns its type, its body (all
// bytes after type and length, in place) and the options after it. ok is
// false when o is empty, the option is shorter than 2 bytes, its length is
// zero or it runs past the end of o (the kernel's ndisc_parse_options
// rejects the message in the last two cases).
func (o NDPOptions) Next() (typ uint8, body []byte, rest NDPOptions, ok bool) {
	if len(o) < 2 {
		return 0, nil, nil, false
	}
	l := int(o[1]) * 8
	if l == 0 || l > len(o) {
		return 0, nil, nil, false
	}
	return o[0], o[2:l], o[l:], true
}

// IsValid reports whether o is a sequence of whole options with non-zero
// lengths. An empty o is valid.
func (o NDPOptions) IsValid() bool {
	for len(o) > 0 {
		var ok bool
		if _, _, o, ok = o.Next(); !ok {
			return false
		}
	}
	return true
}

// LinkLayerAddress returns the MAC-48 in the first option of type typ
// (NDPOptionSourceLinkLayerAddress or NDPOptionTargetLinkLayerAddress). ok
// is false when there is no such option, when the options are malformed
// before it, or when the option is not exactly 8 bytes long: the kernel's
// ndisc_opt_addr_data accepts only the option size that fits the device's
// address (NDISC_OPT_SPACE(6) = 8 for Ethernet). For duplicate options the
// first counts, as in ndisc_parse_options.
func (o NDPOptions) LinkLayerAddress(typ uint8) (m MAC, ok bool) {
	for len(o) > 0 {
		t, body, rest, ok := o.Next()
		if !ok {
			return MAC{}, false
		}
		if t == typ {
			if len(body) != 6 {
				return MAC{}, false
			}
			return MAC(body[:6]), true
		}
		o = rest
	}
	return MAC{}, false
}

// AppendNDPLinkLayerAddressOption appends a Source or Target Link-Layer
// Address option (typ) carrying m to b.
func AppendNDPLinkLayerAddressOption(b []byte, typ uint8, m MAC) []byte {
	b = append(b, typ, 1)
	return append(b, m[:]...)
}
