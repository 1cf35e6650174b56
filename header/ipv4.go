package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
)

const (
	ipv4VersionIHL   = 0
	ipv4TOS          = 1
	ipv4TotalLength  = 2
	ipv4ID           = 4
	ipv4FlagsFragOff = 6
	ipv4TTL          = 8
	ipv4Protocol     = 9
	ipv4Checksum     = 10
	ipv4Source       = 12
	ipv4Destination  = 16
	ipv4Options      = 20
)

// IPv4 "Flags" bits (RFC 791 §3.1), as returned by IPv4.Flags: the field is
// 3 bits, "Bit 0: reserved, must be zero; Bit 1: (DF) 0 = May Fragment,
// 1 = Don't Fragment; Bit 2: (MF) 0 = Last Fragment, 1 = More Fragments".
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
	IPv4FlagReserved      = 1 << 2
)

// IPv4Version is the value of the "Version" field of an IPv4 header.
const IPv4Version = 4

// IPv4 is a view of an IPv4 packet (RFC 791 §3.1), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The "Type of Service" octet is today's DS field: DSCP in the upper six
// bits and ECN in the lower two (RFC 2474, RFC 3168).
//
// Accessors are unchecked; call IsValid first.
type IPv4 []byte

// IPv4Fields describes an IPv4 header.
type IPv4Fields struct {
	// TOS is the "Type of Service" (DS field: DSCP<<2 | ECN).
	TOS uint8
	// TotalLength is the "Total Length" of header and data.
	TotalLength uint16
	// ID is the "Identification".
	ID uint16
	// Flags holds the 3-bit "Flags" field (IPv4FlagDontFragment, ...).
	Flags uint8
	// FragmentOffset is the "Fragment Offset" in bytes; it must be a
	// multiple of 8 (the field counts 8-byte units).
	FragmentOffset uint16
	// TTL is the "Time to Live".
	TTL uint8
	// Protocol is the "Protocol".
	Protocol uint8
	// Checksum is the "Header Checksum". Encode writes it as given; call
	// SetChecksum(CalculateChecksum()) afterwards to fill it in.
	Checksum uint16
	// SrcAddr is the "Source Address"; it must be IPv4.
	SrcAddr netip.Addr
	// DstAddr is the "Destination Address"; it must be IPv4.
	DstAddr netip.Addr
	// Options are the option bytes. Encode pads them with zeros (End of
	// Option List) to a multiple of 4 bytes. At most 40 bytes.
	Options []byte
}

// IsValid reports whether b holds a well-formed IPv4 header for a packet of
// pktSize bytes: version 4, IHL of at least 5, and
// IHL*4 <= Total Length <= pktSize <= len(b). pktSize is the number of
// packet bytes held in b, normally len(b). These are the length checks of
// the kernel's ip_rcv_core; it then trims the packet to Total Length
// (Ethernet padding), which Payload does too. The header checksum is
// checked separately by IsChecksumValid.
func (b IPv4) IsValid(pktSize int) bool {
	if len(b) < IPv4MinimumSize || b[ipv4VersionIHL]>>4 != IPv4Version || pktSize > len(b) {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinimumSize && hl <= tl && tl <= pktSize
}

// Version returns the "Version" field.
func (b IPv4) Version() uint8 { return b[ipv4VersionIHL] >> 4 }

// IHL returns the "Internet Header Length" field, in 32-bit words.
func (b IPv4) IHL() uint8 { return b[ipv4VersionIHL] & 0x0f }

// HeaderLength returns the header length in bytes, IHL*4.
func (b IPv4) HeaderLength() int { return int(b[ipv4VersionIHL]&0x0f) * 4 }

// SetHeaderLength sets "Version" to 4 and "IHL" to hl/4. hl must be a
// multiple of 4 between 20 and 60.
func (b IPv4) SetHeaderLength(hl int) { b[ipv4VersionIHL] = IPv4Version<<4 | uint8(hl/4)&0x0f }

// TOS returns the "Type of Service" octet (the DS field).
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// SetTOS sets the "Type of Service" octet.
func (b IPv4) SetTOS(tos uint8) { b[ipv4TOS] = tos }

// DSCP returns the Differentiated Services Code Point, the upper six bits of
// the TOS octet (RFC 2474 §3).
func (b IPv4) DSCP() uint8 { return b[ipv4TOS] >> 2 }

// ECN returns the ECN codepoint, the lower two bits of the TOS octet
// (RFC 3168 §5).
func (b IPv4) ECN() uint8 { return b[ipv4TOS] & ECNMask }

// SetECN sets the ECN codepoint and keeps the DSCP. It does not update the
// header checksum.
func (b IPv4) SetECN(ecn uint8) { b[ipv4TOS] = b[ipv4TOS]&^ECNMask | ecn&ECNMask }

// SetECNWithChecksumUpdate sets the ECN codepoint and adjusts the header
// checksum incrementally (RFC 1624), as the kernel's IP_ECN_set_ce does.
func (b IPv4) SetECNWithChecksumUpdate(ecn uint8) {
	old := binary.BigEndian.Uint16(b[ipv4VersionIHL:])
	b.SetECN(ecn)
	b.SetChecksum(checksum.Update(b.Checksum(), old, binary.BigEndian.Uint16(b[ipv4VersionIHL:])))
}

// TotalLength returns the "Total Length" field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLength:]) }

// SetTotalLength sets the "Total Length" field.
func (b IPv4) SetTotalLength(l uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLength:], l) }

// ID returns the "Identification" field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// SetID sets the "Identification" field.
func (b IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(b[ipv4ID:], id) }

// Flags returns the 3-bit "Flags" field.
func (b IPv4) Flags() uint8 { return b[ipv4FlagsFragOff] >> 5 }

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b.Flags()&IPv4FlagDontFragment != 0 }

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b.Flags()&IPv4FlagMoreFragments != 0 }

// FragmentOffset returns the "Fragment Offset" field converted to bytes
// (the field counts 8-byte units).
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) << 3
}

// SetFlagsFragmentOffset sets the "Flags" field and the "Fragment Offset"
// field; offset is in bytes and its low three bits are ignored.
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], uint16(flags&7)<<13|offset>>3)
}

// IsFragment reports whether the packet is a fragment: MF set or a
// non-zero offset (the kernel's ip_is_fragment).
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&0x3fff != 0
}

// TTL returns the "Time to Live" field.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// SetTTL sets the "Time to Live" field.
func (b IPv4) SetTTL(ttl uint8) { b[ipv4TTL] = ttl }

// Protocol returns the "Protocol" field.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// SetProtocol sets the "Protocol" field.
func (b IPv4) SetProtocol(p uint8) { b[ipv4Protocol] = p }

// Checksum returns the "Header Checksum" field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// SetChecksum sets the "Header Checksum" field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipv4Checksum:], c) }

// CalculateChecksum returns the "Header Checksum" value for the header as
// it stands, treating the checksum field as zero (RFC 791: "For purposes of
// computing the checksum, the value of the checksum field is zero").
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	s := checksum.Sum(b[:ipv4Checksum], 0)
	return ^checksum.Sum(b[ipv4Checksum+2:hl], s)
}

// IsChecksumValid reports whether the "Header Checksum" field is correct:
// the one's complement sum of the whole header is 0xffff.
func (b IPv4) IsChecksumValid() bool {
	return checksum.Sum(b[:b.HeaderLength()], 0) == 0xffff
}

// SourceAddress returns the "Source Address" field.
func (b IPv4) SourceAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[ipv4Source : ipv4Source+4]))
}

// SourceAddressSlice returns the "Source Address" field in place.
func (b IPv4) SourceAddressSlice() []byte { return b[ipv4Source : ipv4Source+4] }

// SetSourceAddress sets the "Source Address" field. a must be IPv4.
func (b IPv4) SetSourceAddress(a netip.Addr) {
	v := a.As4()
	copy(b[ipv4Source:ipv4Source+4], v[:])
}

// DestinationAddress returns the "Destination Address" field.
func (b IPv4) DestinationAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[ipv4Destination : ipv4Destination+4]))
}

// DestinationAddressSlice returns the "Destination Address" field in place.
func (b IPv4) DestinationAddressSlice() []byte { return b[ipv4Destination : ipv4Destination+4] }

// SetDestinationAddress sets the "Destination Address" field. a must be IPv4.
func (b IPv4) SetDestinationAddress(a netip.Addr) {
	v := a.As4()
	copy(b[ipv4Destination:ipv4Destination+4], v[:])
}

// Options returns the option bytes (with any padding), in place.
func (b IPv4) Options() []byte { return b[ipv4Options:b.HeaderLength()] }

// Payload returns the bytes after the header up to Total Length, in place.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// PseudoHeaderSum returns the folded sum of the TCP/UDP pseudo-header
// (RFC 768, RFC 9293 §3.1) for this packet's addresses, protocol proto and
// transport length l.
func (b IPv4) PseudoHeaderSum(proto uint8, l uint16) uint16 {
	return checksum.Pseudo(b[ipv4Source:ipv4Source+4], b[ipv4Destination:ipv4Destination+4], proto, uint32(l))
}

// EncodedLen returns the header length Encode writes for f.
func (f *IPv4Fields) EncodedLen() int { return IPv4MinimumSize + (len(f.Options)+3)&^3 }

// Encode writes the header described by f, with Version 4 and IHL derived
// from the options. b must be at least f.EncodedLen() bytes long.
func (b IPv4) Encode(f *IPv4Fields) {
	hl := f.EncodedLen()
	b.SetHeaderLength(hl)
	b.SetTOS(f.TOS)
	b.SetTotalLength(f.TotalLength)
	b.SetID(f.ID)
	b.SetFlagsFragmentOffset(f.Flags, f.FragmentOffset)
	b.SetTTL(f.TTL)
	b.SetProtocol(f.Protocol)
	b.SetChecksum(f.Checksum)
	b.SetSourceAddress(f.SrcAddr)
	b.SetDestinationAddress(f.DstAddr)
	n := copy(b[ipv4Options:hl], f.Options)
	clear(b[ipv4Options+n : hl])
}

// Fields returns the header as an IPv4Fields. Options aliases b.
func (b IPv4) Fields() IPv4Fields {
	return IPv4Fields{
		TOS:            b.TOS(),
		TotalLength:    b.TotalLength(),
		ID:             b.ID(),
		Flags:          b.Flags(),
		FragmentOffset: b.FragmentOffset(),
		TTL:            b.TTL(),
		Protocol:       b.Protocol(),
		Checksum:       b.Checksum(),
		SrcAddr:        b.SourceAddress(),
		DstAddr:        b.DestinationAddress(),
		Options:        b.Options(),
	}
}
