package header_test

import (
	"bytes"
	"testing"

	"github.com/vtepd/vtep/header"
)

// A widely published sample header (192.168.0.1 → 192.168.0.199, UDP) whose
// checksum 0xb861 was computed by hand in many RFC 1071 walkthroughs.
const ipv4Sample = `
	45 00 00 73   // version 4, IHL 5, TOS 0, total length 115
	00 00 40 00   // ID 0, DF
	40 11 b8 61   // TTL 64, UDP, checksum 0xb861
	c0 a8 00 01   // 192.168.0.1
	c0 a8 00 c7   // 192.168.0.199
`

func TestIPv4Accessors(t *testing.T) {
	hdr := unhex(t, ipv4Sample)
	b := header.IPv4(append(hdr, make([]byte, 115-20)...))
	if !b.IsValid(len(b)) {
		t.Fatal("IsValid = false")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", b.Version(), uint8(4)},
		{"IHL", b.IHL(), uint8(5)},
		{"HeaderLength", b.HeaderLength(), 20},
		{"TOS", b.TOS(), uint8(0)},
		{"TotalLength", b.TotalLength(), uint16(115)},
		{"ID", b.ID(), uint16(0)},
		{"Flags", b.Flags(), uint8(header.IPv4FlagDontFragment)},
		{"DontFragment", b.DontFragment(), true},
		{"MoreFragments", b.MoreFragments(), false},
		{"IsFragment", b.IsFragment(), false},
		{"FragmentOffset", b.FragmentOffset(), uint16(0)},
		{"TTL", b.TTL(), uint8(64)},
		{"Protocol", b.Protocol(), uint8(header.UDPProtocolNumber)},
		{"Checksum", b.Checksum(), uint16(0xb861)},
		{"CalculateChecksum", b.CalculateChecksum(), uint16(0xb861)},
		{"IsChecksumValid", b.IsChecksumValid(), true},
		{"SourceAddress", b.SourceAddress(), mustAddr("192.168.0.1")},
		{"DestinationAddress", b.DestinationAddress(), mustAddr("192.168.0.199")},
		{"len(Options)", len(b.Options()), 0},
		{"len(Payload)", len(b.Payload()), 95},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	b.SetTTL(63)
	if b.IsChecksumValid() {
		t.Error("checksum still valid after TTL change")
	}
	b.SetChecksum(b.CalculateChecksum())
	if !b.IsChecksumValid() {
		t.Error("CalculateChecksum did not produce a valid checksum")
	}
}

// TestIPv4IsValidMatchesIPRcvCore covers the length checks of ip_rcv_core
// (net/ipv4/ip_input.c): "iph->ihl < 5 || iph->version != 4" and
// "skb->len < len || len < (iph->ihl*4)".
func TestIPv4IsValidMatchesIPRcvCore(t *testing.T) {
	base := unhex(t, ipv4Sample)
	full := append(bytes.Clone(base), make([]byte, 95)...)
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		pktSize func(b []byte) int
		want    bool
	}{
		{"valid", nil, nil, true},
		{"Ethernet padding after Total Length", func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, nil, true},
		{"shorter than 20 bytes", func(b []byte) []byte { return b[:19] }, nil, false},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, nil, false},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, nil, false},
		{"IHL beyond Total Length", func(b []byte) []byte { b[0] = 0x4f; b[2], b[3] = 0, 40; return b }, nil, false},
		{"Total Length beyond packet", func(b []byte) []byte { b[3] = 116; return b }, nil, false},
		{"Total Length beyond pktSize", nil, func(b []byte) int { return len(b) - 1 }, false},
		{"pktSize beyond slice", nil, func(b []byte) int { return len(b) + 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(full)
			if tt.mutate != nil {
				b = tt.mutate(b)
			}
			size := len(b)
			if tt.pktSize != nil {
				size = tt.pktSize(b)
			}
			if got := header.IPv4(b).IsValid(size); got != tt.want {
				t.Errorf("IsValid(%d) = %v, want %v", size, got, tt.want)
			}
		})
	}
}

func TestIPv4EncodeWithOptions(t *testing.T) {
	f := header.IPv4Fields{
		TOS:            0xb8, // EF, Not-ECT
		TotalLength:    24 + 8,
		ID:             0xbeef,
		Flags:          header.IPv4FlagMoreFragments,
		FragmentOffset: 1480,
		TTL:            1,
		Protocol:       header.UDPProtocolNumber,
		SrcAddr:        mustAddr("198.51.100.1"),
		DstAddr:        mustAddr("224.0.0.22"),
		Options:        []byte{0x94, 0x04, 0x00}, // Router Alert, one byte short: padded
	}
	want := unhex(t, `
		46 b8 00 20   // IHL 6, TOS 0xb8, total length 32
		be ef 20 b9   // ID, MF, offset 1480/8 = 185
		01 11 00 00   // TTL 1, UDP, checksum (not yet)
		c6 33 64 01   // 198.51.100.1
		e0 00 00 16   // 224.0.0.22
		94 04 00 00   // Router Alert + padding
	`)
	if f.EncodedLen() != 24 {
		t.Fatalf("EncodedLen = %d", f.EncodedLen())
	}
	b := make([]byte, 32)
	for i := range b {
		b[i] = 0xee // Encode must overwrite the padding too
	}
	ip := header.IPv4(b)
	ip.Encode(&f)
	if !bytes.Equal(b[:24], want) {
		t.Fatalf("Encode:\n got % x\nwant % x", b[:24], want)
	}
	ip.SetChecksum(ip.CalculateChecksum())
	if !ip.IsValid(len(b)) || !ip.IsChecksumValid() {
		t.Fatal("encoded header invalid")
	}
	if !ip.IsFragment() || !ip.MoreFragments() || ip.FragmentOffset() != 1480 {
		t.Errorf("fragment fields: MF=%v off=%d", ip.MoreFragments(), ip.FragmentOffset())
	}
	if !bytes.Equal(ip.Options(), []byte{0x94, 4, 0, 0}) {
		t.Errorf("Options = % x", ip.Options())
	}
	got := ip.Fields()
	got.Checksum = 0
	got.Options = got.Options[:3]
	if got.TOS != f.TOS || got.ID != f.ID || got.FragmentOffset != f.FragmentOffset || got.SrcAddr != f.SrcAddr {
		t.Errorf("Fields() = %+v", got)
	}
}

// TestIPv4SetECNWithChecksumUpdate checks the incremental update the kernel
// uses when it marks CE on decapsulation (IP_ECN_set_ce, RFC 1624).
func TestIPv4SetECNWithChecksumUpdate(t *testing.T) {
	for _, ecn := range []uint8{header.ECNNotECT, header.ECNECT1, header.ECNECT0, header.ECNCE} {
		b := header.IPv4(unhex(t, ipv4Sample))
		b.SetTOS(0xb8 | header.ECNECT0)
		b.SetChecksum(b.CalculateChecksum())
		b.SetECNWithChecksumUpdate(ecn)
		if b.ECN() != ecn || b.DSCP() != 0xb8>>2 {
			t.Errorf("ECN %d: got ECN %d DSCP %#x", ecn, b.ECN(), b.DSCP())
		}
		if !b.IsChecksumValid() {
			t.Errorf("ECN %d: checksum invalid after incremental update", ecn)
		}
	}
}

func TestIPv4PseudoHeaderSum(t *testing.T) {
	b := header.IPv4(unhex(t, ipv4Sample))
	// 192.168.0.1 + 192.168.0.199 + 17 + 95, summed by hand:
	// c0a8 + 0001 + c0a8 + 00c7 + 0011 + 005f = 0x18288 → 0x8289.
	if got := b.PseudoHeaderSum(header.UDPProtocolNumber, 95); got != 0x8289 {
		t.Errorf("PseudoHeaderSum = %#04x, want 0x8251", got)
	}
}

// TestECNEncapsulateMatchesKernel checks INET_ECN_encapsulate
// (include/net/inet_ecn.h): the inner codepoint is copied to the outer
// header, CE becomes ECT(0), and the outer DSCP is kept.
func TestECNEncapsulateMatchesKernel(t *testing.T) {
	want := map[uint8]uint8{
		header.ECNNotECT: header.ECNNotECT,
		header.ECNECT1:   header.ECNECT1,
		header.ECNECT0:   header.ECNECT0,
		header.ECNCE:     header.ECNECT0,
	}
	for inner, w := range want {
		outer := uint8(0xb8 | header.ECNCE) // the outer ECN bits are replaced
		got := header.ECNEncapsulate(outer, 0x28|inner)
		if got != 0xb8|w {
			t.Errorf("ECNEncapsulate(%#x, inner ECN %d) = %#x, want %#x", outer, inner, got, 0xb8|w)
		}
	}
}

// TestECNDecapsulateRFC6040Table checks every cell of the RFC 6040 §4.2
// table as the kernel's INET_ECN_decapsulate implements it (with the ECT(1)
// copy of INET_ECN_set_ect1).
func TestECNDecapsulateRFC6040Table(t *testing.T) {
	const (
		N  = header.ECNNotECT
		E0 = header.ECNECT0
		E1 = header.ECNECT1
		CE = header.ECNCE
	)
	type res struct {
		inner uint8
		r     header.ECNDecapResult
	}
	ok := func(i uint8) res { return res{i, header.ECNDecapOK} }
	// rows: arriving inner; columns: arriving outer Not-ECT, ECT(0), ECT(1), CE.
	table := map[uint8][4]res{
		N:  {ok(N), {N, header.ECNDecapLog}, {N, header.ECNDecapLog}, {N, header.ECNDecapDrop}},
		E0: {ok(E0), ok(E0), ok(E1), ok(CE)},
		E1: {ok(E1), ok(E1), ok(E1), ok(CE)},
		CE: {ok(CE), ok(CE), ok(CE), ok(CE)},
	}
	outers := [4]uint8{N, E0, E1, CE}
	for inner, row := range table {
		for i, outer := range outers {
			gotInner, gotRes := header.ECNDecapsulate(0x04|outer, 0xb8|inner)
			want := row[i]
			if gotInner != 0xb8|want.inner || gotRes != want.r {
				t.Errorf("inner %d outer %d: got (%#x, %d), want (%#x, %d)", inner, outer, gotInner, gotRes, 0xb8|want.inner, want.r)
			}
		}
	}
}
