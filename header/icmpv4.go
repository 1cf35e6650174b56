package header

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
)

const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSequence = 6
	icmpMTU      = 6
)

// ICMPv4 message types (RFC 792) that vtep builds or inspects.
const (
	ICMPv4EchoReply              = 0
	ICMPv4DestinationUnreachable = 3
	ICMPv4Echo                   = 8
	ICMPv4TimeExceeded           = 11
)

// ICMPv4FragmentationNeeded is the Destination Unreachable code "fragmentation
// needed and DF set" (RFC 792), whose Next-Hop MTU field RFC 1191 §4 defines.
const ICMPv4FragmentationNeeded = 4

// ICMPv4 is a view of an ICMPv4 message (RFC 792), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The second word is "Identifier"/"Sequence Number" for Echo and Echo
// Reply, and "unused"/"Next-Hop MTU" for Fragmentation Needed (RFC 1191).
// Accessors are unchecked; call IsValid first.
type ICMPv4 []byte

// ICMPv4Fields describes an ICMPv4 header. For messages other than Echo and
// Echo Reply, Ident and Sequence hold the second 32-bit word's halves.
type ICMPv4Fields struct {
	Type     uint8
	Code     uint8
	Checksum uint16
	Ident    uint16
	Sequence uint16
}

// IsValid reports whether b is at least ICMPv4MinimumSize bytes long.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4MinimumSize }

// Type returns the "Type" field.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// SetType sets the "Type" field.
func (b ICMPv4) SetType(t uint8) { b[icmpType] = t }

// Code returns the "Code" field.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// SetCode sets the "Code" field.
func (b ICMPv4) SetCode(c uint8) { b[icmpCode] = c }

// Checksum returns the "Checksum" field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the "Checksum" field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// Ident returns the Echo "Identifier" field.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdent sets the Echo "Identifier" field.
func (b ICMPv4) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpIdent:], id) }

// Sequence returns the Echo "Sequence Number" field.
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSequence:]) }

// SetSequence sets the Echo "Sequence Number" field.
func (b ICMPv4) SetSequence(s uint16) { binary.BigEndian.PutUint16(b[icmpSequence:], s) }

// MTU returns the "Next-Hop MTU" field of a Fragmentation Needed message
// (RFC 1191 §4).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpMTU:]) }

// SetMTU sets the "Next-Hop MTU" field and clears the unused half-word.
func (b ICMPv4) SetMTU(mtu uint16) {
	binary.BigEndian.PutUint16(b[icmpIdent:], 0)
	binary.BigEndian.PutUint16(b[icmpMTU:], mtu)
}

// Payload returns the bytes after the 8-byte header, in place.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinimumSize:] }

// CalculateChecksum returns the "Checksum" value over all of b (the whole
// message, RFC 792: "the 16-bit one's complement of the one's complement sum
// of the ICMP message starting with the ICMP Type"), treating the checksum
// field as zero.
func (b ICMPv4) CalculateChecksum() uint16 {
	s := checksum.Sum(b[:icmpChecksum], 0)
	return ^checksum.Sum(b[icmpChecksum+2:], s)
}

// IsChecksumValid reports whether the "Checksum" field verifies over all of b.
func (b ICMPv4) IsChecksumValid() bool { return checksum.Sum(b, 0) == 0xffff }

// Encode writes the 8-byte header described by f.
func (b ICMPv4) Encode(f *ICMPv4Fields) {
	b.SetType(f.Type)
	b.SetCode(f.Code)
	b.SetChecksum(f.Checksum)
	b.SetIdent(f.Ident)
	b.SetSequence(f.Sequence)
}

// Fields returns the header as an ICMPv4Fields.
func (b ICMPv4) Fields() ICMPv4Fields {
	return ICMPv4Fields{Type: b.Type(), Code: b.Code(), Checksum: b.Checksum(), Ident: b.Ident(), Sequence: b.Sequence()}
}
