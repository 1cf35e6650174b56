package header

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
)

const (
	udpSourcePort      = 0
	udpDestinationPort = 2
	udpLength          = 4
	udpChecksum        = 6
)

// UDP is a view of a UDP datagram (RFC 768), header first:
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//	+---------------- ...
//
// Accessors are unchecked; call IsValid first.
type UDP []byte

// UDPFields describes a UDP header.
type UDPFields struct {
	// SrcPort is the "Source Port".
	SrcPort uint16
	// DstPort is the "Destination Port".
	DstPort uint16
	// Length is the "Length" of header and data.
	Length uint16
	// Checksum is the "Checksum"; Encode writes it as given.
	Checksum uint16
}

// IsValid reports whether b holds a UDP header whose Length covers at least
// the header and at most len(b), the checks of the kernel's
// __udp4_lib_rcv/udp6 receive path ("ulen > skb->len || ulen < sizeof(*uh)"
// drops). The kernel also accepts Length 0 for IPv6 jumbograms; IsValid
// does not.
func (b UDP) IsValid() bool {
	if len(b) < UDPSize {
		return false
	}
	l := int(b.Length())
	return l >= UDPSize && l <= len(b)
}

// SourcePort returns the "Source Port" field.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSourcePort:]) }

// SetSourcePort sets the "Source Port" field.
func (b UDP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[udpSourcePort:], p) }

// DestinationPort returns the "Destination Port" field.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDestinationPort:]) }

// SetDestinationPort sets the "Destination Port" field.
func (b UDP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[udpDestinationPort:], p) }

// Length returns the "Length" field: header plus data, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// SetLength sets the "Length" field.
func (b UDP) SetLength(l uint16) { binary.BigEndian.PutUint16(b[udpLength:], l) }

// Checksum returns the "Checksum" field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// SetChecksum sets the "Checksum" field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// Payload returns the data after the header up to Length, in place.
func (b UDP) Payload() []byte { return b[UDPSize:b.Length()] }

// CalculateChecksum returns the "Checksum" value for the datagram, given
// the folded pseudo-header sum (IPv4.PseudoHeaderSum or
// IPv6.PseudoHeaderSum with the UDP length). It sums all of b, which must
// be exactly the datagram (slice it to Length), and treats the checksum
// field as zero. A computed zero is returned as 0xffff: RFC 768 "If the
// computed checksum is zero, it is transmitted as all ones", because zero
// means "no checksum" over IPv4.
func (b UDP) CalculateChecksum(pseudo uint16) uint16 {
	s := checksum.Sum(b[:udpChecksum], pseudo)
	c := ^checksum.Sum(b[udpChecksum+2:], s)
	if c == 0 {
		return 0xffff
	}
	return c
}

// IsChecksumValid reports whether the "Checksum" field verifies over all
// of b given the pseudo-header sum. A zero field means "no checksum"
// (RFC 768); this method reports false for it, and the caller decides
// whether that is allowed (RFC 7348 §5 over IPv4: it MUST be accepted; over
// IPv6 only with udp6zerocsumrx, RFC 6935).
func (b UDP) IsChecksumValid(pseudo uint16) bool {
	return b.Checksum() != 0 && checksum.Sum(b, pseudo) == 0xffff
}

// Encode writes the 8-byte header described by f.
func (b UDP) Encode(f *UDPFields) {
	b.SetSourcePort(f.SrcPort)
	b.SetDestinationPort(f.DstPort)
	b.SetLength(f.Length)
	b.SetChecksum(f.Checksum)
}

// Fields returns the header as a UDPFields.
func (b UDP) Fields() UDPFields {
	return UDPFields{SrcPort: b.SourcePort(), DstPort: b.DestinationPort(), Length: b.Length(), Checksum: b.Checksum()}
}
