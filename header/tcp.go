package header

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
)

const (
	tcpSourcePort      = 0
	tcpDestinationPort = 2
	tcpSeqNum          = 4
	tcpAckNum          = 8
	tcpDataOffset      = 12
	tcpFlags           = 13
	tcpWindow          = 14
	tcpChecksum        = 16
	tcpUrgentPointer   = 18
	tcpOptions         = 20
)

// TCPFlags is the 8-bit control-bit field of a TCP header (RFC 9293 §3.1,
// with ECE and CWR from RFC 3168 §23.2).
type TCPFlags uint8

// TCP control bits.
const (
	TCPFlagFIN TCPFlags = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// String returns the set flags joined by "|", e.g. "SYN|ACK", or "0".
func (f TCPFlags) String() string {
	const names = "FINSYNRSTPSHACKURGECECWR"
	var b []byte
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, names[3*i:3*i+3]...)
		}
	}
	if b == nil {
		return "0"
	}
	return string(b)
}

// TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018).
const (
	TCPOptionEOL           = 0 // End of Option List
	TCPOptionNOP           = 1 // No-Operation
	TCPOptionMSS           = 2 // Maximum Segment Size, length 4
	TCPOptionWindowScale   = 3 // Window Scale, length 3
	TCPOptionSACKPermitted = 4 // SACK-Permitted, length 2
	TCPOptionSACK          = 5 // SACK, length 2+8n
	TCPOptionTimestamps    = 8 // Timestamps, length 10
)

// TCPOptionTimestampsLength is the length of the Timestamps option
// (RFC 7323 §3.2); with two NOPs in front it fills 12 bytes, the usual
// layout (the kernel's TCPOLEN_TSTAMP_ALIGNED).
const TCPOptionTimestampsLength = 10

// TCPMaximumWindowScale is the largest shift count a receiver uses: RFC
// 7323 §2.3 "If a Window Scale option is received with a shift.cnt value
// larger than 14, the TCP SHOULD log the error but MUST use 14 instead".
const TCPMaximumWindowScale = 14

// TCP is a view of a TCP segment (RFC 9293 §3.1), header first:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Accessors are unchecked; call IsValid first.
type TCP []byte

// TCPFields describes a TCP header.
type TCPFields struct {
	// SrcPort is the "Source Port".
	SrcPort uint16
	// DstPort is the "Destination Port".
	DstPort uint16
	// SeqNum is the "Sequence Number".
	SeqNum uint32
	// AckNum is the "Acknowledgment Number".
	AckNum uint32
	// Flags are the control bits.
	Flags TCPFlags
	// WindowSize is the "Window".
	WindowSize uint16
	// Checksum is the "Checksum"; Encode writes it as given.
	Checksum uint16
	// UrgentPointer is the "Urgent Pointer".
	UrgentPointer uint16
	// Options are the option bytes. Encode pads them with zeros (EOL) to a
	// multiple of 4 bytes and derives Data Offset. At most 40 bytes.
	Options []byte
}

// IsValid reports whether b holds a whole TCP header: at least 20 bytes,
// Data Offset of at least 5 and the header within b (the kernel's
// tcp_v4_rcv "th->doff < sizeof(struct tcphdr) / 4" and pskb_may_pull
// checks).
func (b TCP) IsValid() bool {
	if len(b) < TCPMinimumSize {
		return false
	}
	hl := b.DataOffset()
	return hl >= TCPMinimumSize && hl <= len(b)
}

// SourcePort returns the "Source Port" field.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSourcePort:]) }

// SetSourcePort sets the "Source Port" field.
func (b TCP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[tcpSourcePort:], p) }

// DestinationPort returns the "Destination Port" field.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDestinationPort:]) }

// SetDestinationPort sets the "Destination Port" field.
func (b TCP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[tcpDestinationPort:], p) }

// SequenceNumber returns the "Sequence Number" field.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[tcpSeqNum:]) }

// SetSequenceNumber sets the "Sequence Number" field.
func (b TCP) SetSequenceNumber(s uint32) { binary.BigEndian.PutUint32(b[tcpSeqNum:], s) }

// AckNumber returns the "Acknowledgment Number" field.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[tcpAckNum:]) }

// SetAckNumber sets the "Acknowledgment Number" field.
func (b TCP) SetAckNumber(a uint32) { binary.BigEndian.PutUint32(b[tcpAckNum:], a) }

// DataOffset returns the "Data Offset" field converted to bytes: the
// length of the header with its options.
func (b TCP) DataOffset() int { return int(b[tcpDataOffset]>>4) * 4 }

// SetDataOffset sets "Data Offset" to hl/4 and clears the reserved bits. hl
// must be a multiple of 4 between 20 and 60.
func (b TCP) SetDataOffset(hl int) { b[tcpDataOffset] = uint8(hl/4) << 4 }

// Flags returns the control bits.
func (b TCP) Flags() TCPFlags { return TCPFlags(b[tcpFlags]) }

// SetFlags sets the control bits.
func (b TCP) SetFlags(f TCPFlags) { b[tcpFlags] = uint8(f) }

// WindowSize returns the "Window" field.
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// SetWindowSize sets the "Window" field.
func (b TCP) SetWindowSize(w uint16) { binary.BigEndian.PutUint16(b[tcpWindow:], w) }

// Checksum returns the "Checksum" field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// SetChecksum sets the "Checksum" field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], c) }

// UrgentPointer returns the "Urgent Pointer" field.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[tcpUrgentPointer:]) }

// SetUrgentPointer sets the "Urgent Pointer" field.
func (b TCP) SetUrgentPointer(u uint16) { binary.BigEndian.PutUint16(b[tcpUrgentPointer:], u) }

// Options returns the option bytes, in place.
func (b TCP) Options() []byte { return b[tcpOptions:b.DataOffset()] }

// Payload returns the bytes after the header, in place.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// CalculateChecksum returns the "Checksum" value for the segment, given
// the folded pseudo-header sum (IPv4.PseudoHeaderSum or
// IPv6.PseudoHeaderSum with the TCP length). It sums all of b, which must be
// exactly the segment, and treats the checksum field as zero.
func (b TCP) CalculateChecksum(pseudo uint16) uint16 {
	s := checksum.Sum(b[:tcpChecksum], pseudo)
	return ^checksum.Sum(b[tcpChecksum+2:], s)
}

// IsChecksumValid reports whether the "Checksum" field verifies over all
// of b given the pseudo-header sum.
func (b TCP) IsChecksumValid(pseudo uint16) bool { return checksum.Sum(b, pseudo) == 0xffff }

// EncodedLen returns the header length Encode writes for f.
func (f *TCPFields) EncodedLen() int { return TCPMinimumSize + (len(f.Options)+3)&^3 }

// Encode writes the header described by f. b must be at least
// f.EncodedLen() bytes long.
func (b TCP) Encode(f *TCPFields) {
	hl := f.EncodedLen()
	b.SetSourcePort(f.SrcPort)
	b.SetDestinationPort(f.DstPort)
	b.SetSequenceNumber(f.SeqNum)
	b.SetAckNumber(f.AckNum)
	b.SetDataOffset(hl)
	b.SetFlags(f.Flags)
	b.SetWindowSize(f.WindowSize)
	b.SetChecksum(f.Checksum)
	b.SetUrgentPointer(f.UrgentPointer)
	n := copy(b[tcpOptions:hl], f.Options)
	clear(b[tcpOptions+n : hl])
}

// Fields returns the header as a TCPFields. Options aliases b.
func (b TCP) Fields() TCPFields {
	return TCPFields{
		SrcPort:       b.SourcePort(),
		DstPort:       b.DestinationPort(),
		SeqNum:        b.SequenceNumber(),
		AckNum:        b.AckNumber(),
		Flags:         b.Flags(),
		WindowSize:    b.WindowSize(),
		Checksum:      b.Checksum(),
		UrgentPointer: b.UrgentPointer(),
		Options:       b.Options(),
	}
}

// NextTCPOption decodes the first option of opts and returns its kind, its
// data (the bytes after kind and length, in place) and the options after
// it. EOL ends the list: it returns rest == nil. NOP has no data. ok is
// false for a malformed option: a length byte missing, below 2 ("silly
// options") or running past the end of opts, where the kernel's
// tcp_parse_options stops parsing.
//
//	for len(opts) > 0 {
//		kind, data, rest, ok := header.NextTCPOption(opts)
//		if !ok { break }
//		...
//		opts = rest
//	}
func NextTCPOption(opts []byte) (kind uint8, data, rest []byte, ok bool) {
	if len(opts) == 0 {
		return 0, nil, nil, false
	}
	switch kind = opts[0]; kind {
	case TCPOptionEOL:
		return kind, nil, nil, true
	case TCPOptionNOP:
		return kind, nil, opts[1:], true
	}
	if len(opts) < 2 {
		return kind, nil, nil, false
	}
	l := int(opts[1])
	if l < 2 || l > len(opts) {
		return kind, nil, nil, false
	}
	return kind, opts[2:l], opts[l:], true
}

// TCPOptionsSummary holds the options a datapath cares about, as found by
// ParseTCPOptions.
type TCPOptionsSummary struct {
	// MSS is the Maximum Segment Size; valid if HasMSS.
	MSS    uint16
	HasMSS bool
	// WindowScale is the Window Scale shift count as sent (not clamped to
	// TCPMaximumWindowScale); valid if HasWindowScale.
	WindowScale    uint8
	HasWindowScale bool
	// SACKPermitted is set when a SACK-Permitted option was seen.
	SACKPermitted bool
	// TSVal and TSEcr are the Timestamps option values; valid if
	// HasTimestamps.
	TSVal, TSEcr  uint32
	HasTimestamps bool
	// SACKBlocks is the number of blocks in the SACK option, if any.
	SACKBlocks int
	// Malformed is set when parsing stopped at a malformed option.
	Malformed bool
}

// ParseTCPOptions scans opts the way the kernel's tcp_parse_options does:
// it stops at EOL or at the first malformed option (keeping what it found
// before), skips NOPs and unknown kinds, and accepts MSS, Window Scale,
// SACK-Permitted and Timestamps only with their exact lengths (4, 3, 2 and
// 10) and SACK only with a length of 2+8n, n >= 1. The kernel additionally
// honours MSS, Window Scale and SACK-Permitted only on SYN segments; that
// check is the caller's. It does not allocate.
func ParseTCPOptions(opts []byte) (s TCPOptionsSummary) {
	for len(opts) > 0 {
		kind, data, rest, ok := NextTCPOption(opts)
		if !ok {
			s.Malformed = true
			return s
		}
		switch kind {
		case TCPOptionMSS:
			if len(data) == 2 {
				s.MSS, s.HasMSS = binary.BigEndian.Uint16(data), true
			}
		case TCPOptionWindowScale:
			if len(data) == 1 {
				s.WindowScale, s.HasWindowScale = data[0], true
			}
		case TCPOptionSACKPermitted:
			if len(data) == 0 {
				s.SACKPermitted = true
			}
		case TCPOptionTimestamps:
			if len(data) == 8 {
				s.TSVal = binary.BigEndian.Uint32(data)
				s.TSEcr = binary.BigEndian.Uint32(data[4:])
				s.HasTimestamps = true
			}
		case TCPOptionSACK:
			if len(data) >= 8 && len(data)%8 == 0 {
				s.SACKBlocks = len(data) / 8
			}
		}
		opts = rest
	}
	return s
}

// AppendTCPOption appends an option of the given kind carrying data to b.
// For EOL and NOP, data must be empty and a single byte is appended.
func AppendTCPOption(b []byte, kind uint8, data []byte) []byte {
	if kind == TCPOptionEOL || kind == TCPOptionNOP {
		return append(b, kind)
	}
	b = append(b, kind, uint8(2+len(data)))
	return append(b, data...)
}

// AppendTCPMSSOption appends a Maximum Segment Size option.
func AppendTCPMSSOption(b []byte, mss uint16) []byte {
	return append(b, TCPOptionMSS, 4, byte(mss>>8), byte(mss))
}

// AppendTCPWindowScaleOption appends a Window Scale option.
func AppendTCPWindowScaleOption(b []byte, shift uint8) []byte {
	return append(b, TCPOptionWindowScale, 3, shift)
}

// AppendTCPSACKPermittedOption appends a SACK-Permitted option.
func AppendTCPSACKPermittedOption(b []byte) []byte { return append(b, TCPOptionSACKPermitted, 2) }

// AppendTCPTimestampsOption appends NOP, NOP and a Timestamps option, the
// 12-byte aligned layout of RFC 7323 Appendix A.
func AppendTCPTimestampsOption(b []byte, tsVal, tsEcr uint32) []byte {
	b = append(b, TCPOptionNOP, TCPOptionNOP, TCPOptionTimestamps, TCPOptionTimestampsLength)
	b = binary.BigEndian.AppendUint32(b, tsVal)
	return binary.BigEndian.AppendUint32(b, tsEcr)
}
