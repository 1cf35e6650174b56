package header_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestUDP(t *testing.T) {
	frame := unhex(t, goldenVXLANTCP)
	u := header.UDP(frame[34:])
	if !u.IsValid() {
		t.Fatal("IsValid = false")
	}
	want := header.UDPFields{SrcPort: 49152, DstPort: 4789, Length: 87, Checksum: 0x7cb1}
	if got := u.Fields(); got != want {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	ip := header.IPv4(frame[14:])
	pseudo := ip.PseudoHeaderSum(header.UDPProtocolNumber, u.Length())
	if got := u.CalculateChecksum(pseudo); got != 0x7cb1 {
		t.Errorf("CalculateChecksum = %#04x, want 0x7cb1", got)
	}
	if !u.IsChecksumValid(pseudo) {
		t.Error("IsChecksumValid = false")
	}
	if len(u.Payload()) != 79 {
		t.Errorf("len(Payload) = %d", len(u.Payload()))
	}
	out := make([]byte, header.UDPSize)
	header.UDP(out).Encode(&want)
	if !bytes.Equal(out, frame[34:42]) {
		t.Errorf("Encode = % x", out)
	}
}

// TestUDPChecksumZeroTransmittedAsAllOnes is RFC 768: "If the computed
// checksum is zero, it is transmitted as all ones".
func TestUDPChecksumZeroTransmittedAsAllOnes(t *testing.T) {
	// Choose the payload so the one's complement sum is 0xffff.
	u := header.UDP(make([]byte, 10))
	u.Encode(&header.UDPFields{SrcPort: 1, DstPort: 2, Length: 10})
	pseudo := uint16(0x1234)
	// sum without payload: pseudo + 1 + 2 + 10; make the payload word
	// complete it to 0xffff.
	rest := 0xffff - (uint32(pseudo) + 1 + 2 + 10)
	u[8], u[9] = byte(rest>>8), byte(rest)
	if got := u.CalculateChecksum(pseudo); got != 0xffff {
		t.Fatalf("CalculateChecksum = %#04x, want 0xffff", got)
	}
	u.SetChecksum(0xffff)
	if !u.IsChecksumValid(pseudo) {
		t.Error("0xffff checksum does not verify")
	}
}

// TestUDPZeroChecksumIsNotValid: a zero field means "no checksum"
// (RFC 768); whether to accept it is the caller's decision (RFC 7348 §5,
// RFC 6935), so IsChecksumValid does not claim it verifies.
func TestUDPZeroChecksumIsNotValid(t *testing.T) {
	frame := unhex(t, goldenVXLANTCP)
	u := header.UDP(bytes.Clone(frame[34:]))
	u.SetChecksum(0)
	if u.IsChecksumValid(header.IPv4(frame[14:]).PseudoHeaderSum(header.UDPProtocolNumber, u.Length())) {
		t.Error("zero checksum reported valid")
	}
}

// TestUDPIsValidMatchesUDPRcv: __udp4_lib_rcv drops "ulen > skb->len ||
// ulen < sizeof(*uh)".
func TestUDPIsValidMatchesUDPRcv(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    string
		want bool
	}{
		{"header only", "00 01 00 02 00 08 00 00", true},
		{"length shorter than header", "00 01 00 02 00 07 00 00", false},
		{"length beyond packet", "00 01 00 02 00 09 00 00", false},
		{"trailing bytes after length", "00 01 00 02 00 08 00 00 ff", true},
		{"truncated header", "00 01 00 02 00 08 00", false},
	} {
		if got := header.UDP(unhex(t, tt.b)).IsValid(); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTCP(t *testing.T) {
	frame := unhex(t, goldenVXLANTCP)
	iip := header.IPv4(frame[64:])
	tc := header.TCP(iip.Payload())
	if !tc.IsValid() {
		t.Fatal("IsValid = false")
	}
	f := tc.Fields()
	want := header.TCPFields{
		SrcPort: 40000, DstPort: 80, SeqNum: 1, AckNum: 16,
		Flags: header.TCPFlagPSH | header.TCPFlagACK, WindowSize: 502, Checksum: 0x7030,
	}
	opts := f.Options
	f.Options = nil
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Fields() = %+v, want %+v", f, want)
	}
	if !bytes.Equal(opts, unhex(t, "01 01 08 0a 01 02 03 04 05 06 07 08")) {
		t.Errorf("Options = % x", opts)
	}
	if tc.DataOffset() != 32 || string(tc.Payload()) != "hello" {
		t.Errorf("DataOffset %d payload %q", tc.DataOffset(), tc.Payload())
	}
	pseudo := iip.PseudoHeaderSum(header.TCPProtocolNumber, uint16(len(tc)))
	if got := tc.CalculateChecksum(pseudo); got != 0x7030 {
		t.Errorf("CalculateChecksum = %#04x, want 0x7030", got)
	}
	want.Options = opts
	out := make([]byte, want.EncodedLen())
	header.TCP(out).Encode(&want)
	if !bytes.Equal(out, tc[:32]) {
		t.Errorf("Encode:\n got % x\nwant % x", out, tc[:32])
	}
}

func TestTCPEncodePadsOptions(t *testing.T) {
	f := header.TCPFields{Flags: header.TCPFlagSYN, Options: header.AppendTCPWindowScaleOption(header.AppendTCPMSSOption(nil, 1460), 7)}
	if f.EncodedLen() != 28 {
		t.Fatalf("EncodedLen = %d, want 28", f.EncodedLen())
	}
	b := bytes.Repeat([]byte{0xee}, 28)
	tc := header.TCP(b)
	tc.Encode(&f)
	if tc.DataOffset() != 28 || !bytes.Equal(tc.Options(), unhex(t, "02 04 05 b4 03 03 07 00")) {
		t.Errorf("DataOffset %d options % x", tc.DataOffset(), tc.Options())
	}
}

// TestTCPIsValidMatchesTCPRcv: tcp_v4_rcv drops "th->doff < sizeof(struct
// tcphdr) / 4" and headers that do not fit (pskb_may_pull).
func TestTCPIsValidMatchesTCPRcv(t *testing.T) {
	hdr := func(doff byte, n int) []byte {
		b := make([]byte, n)
		if n > 12 {
			b[12] = doff << 4
		}
		return b
	}
	for _, tt := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"doff 5", hdr(5, 20), true},
		{"doff 4", hdr(4, 20), false},
		{"doff 15, 60 bytes", hdr(15, 60), true},
		{"doff 6, 20 bytes", hdr(6, 20), false},
		{"19 bytes", hdr(5, 19), false},
	} {
		if got := header.TCP(tt.b).IsValid(); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTCPFlagsString(t *testing.T) {
	for f, want := range map[header.TCPFlags]string{
		0:                                     "0",
		header.TCPFlagSYN | header.TCPFlagACK: "SYN|ACK",
		header.TCPFlagFIN | header.TCPFlagCWR: "FIN|CWR",
		header.TCPFlagURG | header.TCPFlagECE | 0x08: "PSH|URG|ECE",
		header.TCPFlagRST: "RST",
	} {
		if got := f.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", uint8(f), got, want)
		}
	}
}

// TestParseTCPOptionsMatchesTCPParseOptions follows tcp_parse_options
// (net/ipv4/tcp_input.c): stop at EOL, skip NOP, stop on "silly options"
// (length < 2) and on options running past the header ("don't parse
// partial options"), and only accept the exact option lengths.
func TestParseTCPOptionsMatchesTCPParseOptions(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want header.TCPOptionsSummary
	}{
		{"SYN options, Linux layout", "02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00 01 03 03 07",
			header.TCPOptionsSummary{MSS: 1460, HasMSS: true, SACKPermitted: true, TSVal: 1, HasTimestamps: true, WindowScale: 7, HasWindowScale: true}},
		{"aligned timestamps", "01 01 08 0a 11 22 33 44 55 66 77 88",
			header.TCPOptionsSummary{TSVal: 0x11223344, TSEcr: 0x55667788, HasTimestamps: true}},
		{"EOL stops parsing", "00 02 04 05 b4", header.TCPOptionsSummary{}},
		{"silly option length stops parsing", "02 04 05 b4 fe 01 03 03 07",
			header.TCPOptionsSummary{MSS: 1460, HasMSS: true, Malformed: true}},
		{"partial option stops parsing", "03 03 07 02 04 05",
			header.TCPOptionsSummary{WindowScale: 7, HasWindowScale: true, Malformed: true}},
		{"missing length byte", "01 02", header.TCPOptionsSummary{Malformed: true}},
		{"MSS with wrong length is ignored", "02 05 05 b4 00 03 03 0e",
			header.TCPOptionsSummary{WindowScale: 14, HasWindowScale: true}},
		{"SACK blocks", "01 01 05 12 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04",
			header.TCPOptionsSummary{SACKBlocks: 2}},
		{"SACK with odd length ignored", "05 0b 00 00 00 01 00 00 00 02 00", header.TCPOptionsSummary{}},
		{"unknown option skipped", "fd 04 ab cd 04 02", header.TCPOptionsSummary{SACKPermitted: true}},
		{"window scale above 14 is reported as sent", "03 03 0f", header.TCPOptionsSummary{WindowScale: 15, HasWindowScale: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := header.ParseTCPOptions(unhex(t, tt.opts)); got != tt.want {
				t.Errorf("ParseTCPOptions:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNextTCPOption(t *testing.T) {
	opts := unhex(t, "01 02 04 05 b4 00 ff")
	var kinds []uint8
	for len(opts) > 0 {
		kind, data, rest, ok := header.NextTCPOption(opts)
		if !ok {
			t.Fatalf("malformed at % x", opts)
		}
		kinds = append(kinds, kind)
		if kind == header.TCPOptionMSS && !bytes.Equal(data, []byte{0x05, 0xb4}) {
			t.Errorf("MSS data = % x", data)
		}
		opts = rest
	}
	if !bytes.Equal(kinds, []byte{header.TCPOptionNOP, header.TCPOptionMSS, header.TCPOptionEOL}) {
		t.Errorf("kinds = %v", kinds)
	}
}

func TestAppendTCPOptions(t *testing.T) {
	b := header.AppendTCPMSSOption(nil, 1460)
	b = header.AppendTCPSACKPermittedOption(b)
	b = header.AppendTCPTimestampsOption(b, 1, 2)
	b = header.AppendTCPOption(b, header.TCPOptionNOP, nil)
	b = header.AppendTCPWindowScaleOption(b, 7)
	b = header.AppendTCPOption(b, 30, []byte{0xaa}) // MPTCP-like kind
	want := unhex(t, "02 04 05 b4 04 02 01 01 08 0a 00 00 00 01 00 00 00 02 01 03 03 07 1e 03 aa")
	if !bytes.Equal(b, want) {
		t.Errorf("got % x\nwant % x", b, want)
	}
	s := header.ParseTCPOptions(b)
	if !s.HasMSS || !s.SACKPermitted || !s.HasTimestamps || s.TSEcr != 2 || s.WindowScale != 7 || s.Malformed {
		t.Errorf("ParseTCPOptions(appended) = %+v", s)
	}
}
