package header_test

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// unhex decodes spaced, commented hex: every line may end in a // comment,
// and whitespace is ignored. Golden packets in these tests are written that
// way so each field can be annotated.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		tb.Fatalf("bad hex literal: %v", err)
	}
	return b
}

// goldenVXLANTCP is an outer Ethernet/IPv4/UDP/VXLAN frame carrying an
// inner Ethernet/IPv4/TCP segment with timestamps and 5 bytes of data. The
// checksums were computed independently (Python struct + RFC 1071) and the
// frame is also decoded by gopacket in gopacket_test.go.
const goldenVXLANTCP = `
// outer Ethernet
02 00 00 00 00 02   // destination 02:00:00:00:00:02
02 00 00 00 00 01   // source 02:00:00:00:00:01
08 00               // EtherType IPv4
// outer IPv4
45 00 00 6b         // version 4, IHL 5, TOS 0, total length 107
12 34 40 00         // ID 0x1234, flags DF, fragment offset 0
40 11 a4 4a         // TTL 64, protocol UDP, header checksum 0xa44a
c0 00 02 01         // source 192.0.2.1
c0 00 02 02         // destination 192.0.2.2
// UDP
c0 00 12 b5         // source port 49152, destination port 4789
00 57 7c b1         // length 87, checksum 0x7cb1
// VXLAN
08 00 00 00         // flags: I
00 00 2a 00         // VNI 42, reserved 0
// inner Ethernet
02 00 00 00 01 02   // destination
02 00 00 00 01 01   // source
08 00               // EtherType IPv4
// inner IPv4
45 00 00 39         // IHL 5, total length 57
00 00 40 00         // ID 0, DF
40 06 26 bd         // TTL 64, protocol TCP, checksum 0x26bd
0a 00 00 01         // source 10.0.0.1
0a 00 00 02         // destination 10.0.0.2
// TCP
9c 40 00 50         // source port 40000, destination port 80
00 00 00 01         // sequence number 1
00 00 00 10         // acknowledgment number 16
80 18 01 f6         // data offset 8 (32 bytes), flags PSH|ACK, window 502
70 30 00 00         // checksum 0x7030, urgent pointer 0
01 01 08 0a         // NOP, NOP, Timestamps (kind 8, length 10)
01 02 03 04         // TSval 0x01020304
05 06 07 08         // TSecr 0x05060708
68 65 6c 6c 6f      // "hello"
`

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
