package header_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestICMPv4Echo(t *testing.T) {
	b := unhex(t, `
		08 00 54 35   // Echo, code 0, checksum 0x5435
		12 34 00 01   // identifier 0x1234, sequence 1
		61 62 63 64 65 66 67 68   // "abcdefgh"
	`)
	m := header.ICMPv4(b)
	if !m.IsValid() || !m.IsChecksumValid() {
		t.Fatal("invalid echo")
	}
	want := header.ICMPv4Fields{Type: header.ICMPv4Echo, Checksum: 0x5435, Ident: 0x1234, Sequence: 1}
	if got := m.Fields(); got != want {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	if got := m.CalculateChecksum(); got != 0x5435 {
		t.Errorf("CalculateChecksum = %#04x", got)
	}
	if string(m.Payload()) != "abcdefgh" {
		t.Errorf("Payload = %q", m.Payload())
	}
	out := make([]byte, header.ICMPv4MinimumSize)
	header.ICMPv4(out).Encode(&want)
	if !bytes.Equal(out, b[:8]) {
		t.Errorf("Encode = % x", out)
	}
}

// TestICMPv4FragmentationNeededMTU: RFC 1191 §4 puts the Next-Hop MTU in the
// low 16 bits of the second word and leaves the high 16 bits unused (zero).
func TestICMPv4FragmentationNeededMTU(t *testing.T) {
	m := header.ICMPv4(bytes.Repeat([]byte{0xff}, 8))
	m.SetType(header.ICMPv4DestinationUnreachable)
	m.SetCode(header.ICMPv4FragmentationNeeded)
	m.SetMTU(1450)
	if !bytes.Equal(m[4:8], []byte{0, 0, 0x05, 0xaa}) || m.MTU() != 1450 {
		t.Errorf("second word = % x", m[4:8])
	}
}

// goldenNS is a Neighbor Solicitation from 2001:db8::1 to the
// solicited-node group ff02::1:ff00:2 for target 2001:db8::2.
const goldenNS = `
	87 00 1c 27   // type 135, code 0, checksum 0x1c27
	00 00 00 00   // reserved
	20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02   // target 2001:db8::2
	01 01 02 00 00 00 00 01   // source link-layer address 02:00:00:00:00:01
`

// goldenNA is the solicited, override answer from 2001:db8::2.
const goldenNA = `
	88 00 8a 71   // type 136, code 0, checksum 0x8a71
	60 00 00 00   // R=0 S=1 O=1
	20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02   // target 2001:db8::2
	02 01 02 00 00 00 00 02   // target link-layer address 02:00:00:00:00:02
`

func pseudo6(src, dst string, n int) uint16 {
	ip := make(header.IPv6, header.IPv6FixedSize)
	ip.Encode(&header.IPv6Fields{SrcAddr: mustAddr(src), DstAddr: mustAddr(dst)})
	return ip.PseudoHeaderSum(header.ICMPv6ProtocolNumber, uint32(n))
}

func TestNDPNeighborSolicit(t *testing.T) {
	b := unhex(t, goldenNS)
	ns := header.NDPNeighborSolicit(b)
	if !ns.IsValid() {
		t.Fatal("IsValid = false")
	}
	ph := pseudo6("2001:db8::1", "ff02::1:ff00:2", len(b))
	if !header.ICMPv6(b).IsChecksumValid(ph) || header.ICMPv6(b).CalculateChecksum(ph) != 0x1c27 {
		t.Errorf("checksum: valid=%v calc=%#04x", header.ICMPv6(b).IsChecksumValid(ph), header.ICMPv6(b).CalculateChecksum(ph))
	}
	if ns.TargetAddress() != mustAddr("2001:db8::2") {
		t.Errorf("TargetAddress = %v", ns.TargetAddress())
	}
	mac, ok := ns.Options().LinkLayerAddress(header.NDPOptionSourceLinkLayerAddress)
	if !ok || mac != header.MustParseMAC("02:00:00:00:00:01") {
		t.Errorf("source link-layer address = %v, %v", mac, ok)
	}
	if _, ok := ns.Options().LinkLayerAddress(header.NDPOptionTargetLinkLayerAddress); ok {
		t.Error("found a target link-layer address in an NS")
	}
	f := ns.Fields()
	out := make([]byte, len(b))
	header.NDPNeighborSolicit(out).Encode(&f)
	if !bytes.Equal(out, b) {
		t.Errorf("Encode(Fields()):\n got % x\nwant % x", out, b)
	}
	built := header.NDPNeighborSolicitFields{
		TargetAddress: mustAddr("2001:db8::2"),
		Options:       header.AppendNDPLinkLayerAddressOption(nil, header.NDPOptionSourceLinkLayerAddress, header.MustParseMAC("02:00:00:00:00:01")),
	}
	out2 := make([]byte, header.NDPNeighborSolicitSize+len(built.Options))
	header.NDPNeighborSolicit(out2).Encode(&built)
	header.ICMPv6(out2).SetChecksum(header.ICMPv6(out2).CalculateChecksum(ph))
	if !bytes.Equal(out2, b) {
		t.Errorf("built NS:\n got % x\nwant % x", out2, b)
	}
}

func TestNDPNeighborAdvert(t *testing.T) {
	b := unhex(t, goldenNA)
	na := header.NDPNeighborAdvert(b)
	if !na.IsValid() {
		t.Fatal("IsValid = false")
	}
	if !header.ICMPv6(b).IsChecksumValid(pseudo6("2001:db8::2", "2001:db8::1", len(b))) {
		t.Error("checksum invalid")
	}
	want := header.NDPNeighborAdvertFields{
		Checksum:      0x8a71,
		Solicited:     true,
		Override:      true,
		TargetAddress: mustAddr("2001:db8::2"),
		Options:       b[24:],
	}
	if got := na.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	if na.Router() || na.Flags() != header.NDPFlagSolicited|header.NDPFlagOverride {
		t.Errorf("flags %#x", na.Flags())
	}
	mac, ok := na.Options().LinkLayerAddress(header.NDPOptionTargetLinkLayerAddress)
	if !ok || mac != header.MustParseMAC("02:00:00:00:00:02") {
		t.Errorf("target link-layer address = %v, %v", mac, ok)
	}
	out := make([]byte, len(b))
	header.NDPNeighborAdvert(out).Encode(&want)
	if !bytes.Equal(out, b) {
		t.Errorf("Encode:\n got % x\nwant % x", out, b)
	}
	na.SetFlags(true, false, false)
	if !na.Router() || na.Solicited() || na.Override() {
		t.Errorf("SetFlags: %#x", na.Flags())
	}
}

// TestNDPOptionsLengthZeroInvalid: RFC 4861 §4.6 "Nodes MUST silently
// discard an ND packet that contains an option with length zero"; the
// kernel's ndisc_parse_options also rejects options that run past the end.
func TestNDPOptionsLengthZeroInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts string
		want bool
	}{
		{"no options", "", true},
		{"one link-layer option", "01 01 02 00 00 00 00 01", true},
		{"two options", "01 01 02 00 00 00 00 01 05 01 00 00 00 00 05 dc", true},
		{"length zero", "01 00 02 00 00 00 00 01", false},
		{"runs past the end", "01 02 02 00 00 00 00 01", false},
		{"one stray byte", "01", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := header.NDPOptions(unhex(t, tt.opts)).IsValid(); got != tt.want {
				t.Errorf("IsValid = %v, want %v", got, tt.want)
			}
			ns := append(unhex(t, goldenNS)[:24], unhex(t, tt.opts)...)
			if got := header.NDPNeighborSolicit(ns).IsValid(); got != tt.want {
				t.Errorf("NDPNeighborSolicit.IsValid = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNDPLinkLayerAddressMatchesNdiscOptAddrData: ndisc_opt_addr_data
// accepts a link-layer option only when its size is exactly the space an
// Ethernet address needs (8 bytes), and ndisc_parse_options keeps the first
// of duplicate options.
func TestNDPLinkLayerAddressMatchesNdiscOptAddrData(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts string
		want header.MAC
		ok   bool
	}{
		{"exact size", "01 01 02 00 00 00 00 01", header.MustParseMAC("02:00:00:00:00:01"), true},
		{"16-byte option rejected", "01 02 02 00 00 00 00 01 00 00 00 00 00 00 00 00", header.MAC{}, false},
		{"first of duplicates wins", "01 01 02 00 00 00 00 01 01 01 02 00 00 00 00 09", header.MustParseMAC("02:00:00:00:00:01"), true},
		{"after another option", "05 01 00 00 00 00 05 dc 01 01 02 00 00 00 00 03", header.MustParseMAC("02:00:00:00:00:03"), true},
		{"malformed before it", "05 00 01 01 02 00 00 00 00 03", header.MAC{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := header.NDPOptions(unhex(t, tt.opts)).LinkLayerAddress(header.NDPOptionSourceLinkLayerAddress)
			if m != tt.want || ok != tt.ok {
				t.Errorf("LinkLayerAddress = %v, %v; want %v, %v", m, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestNDPNeighborSolicitIsValidRFC4861 covers the message checks of RFC 4861
// §7.1.1 that IsValid makes: type, "ICMP Code is 0" and "ICMP length ... is
// 24 or more octets".
func TestNDPNeighborSolicitIsValidRFC4861(t *testing.T) {
	good := unhex(t, goldenNS)
	code1 := bytes.Clone(good)
	code1[1] = 1
	if header.NDPNeighborSolicit(code1).IsValid() {
		t.Error("code 1 accepted")
	}
	if header.NDPNeighborSolicit(good[:23]).IsValid() {
		t.Error("23-byte message accepted")
	}
	if header.NDPNeighborAdvert(good).IsValid() {
		t.Error("NS accepted as NA")
	}
	if !header.NDPNeighborSolicit(good[:24]).IsValid() {
		t.Error("NS without options rejected")
	}
}

func TestICMPv6PacketTooBig(t *testing.T) {
	m := header.ICMPv6(make([]byte, 8))
	m.Encode(&header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig})
	m.SetMTU(1280)
	if m.MTU() != 1280 || m.Type() != header.ICMPv6PacketTooBig || !bytes.Equal(m[4:], []byte{0, 0, 5, 0}) {
		t.Errorf("PTB = % x", []byte(m))
	}
	e := header.ICMPv6(make([]byte, 8))
	e.Encode(&header.ICMPv6Fields{Type: header.ICMPv6EchoRequest, Ident: 7, Sequence: 9})
	if e.Ident() != 7 || e.Sequence() != 9 || e.Code() != 0 || len(e.Payload()) != 0 {
		t.Errorf("echo = %+v", e.Fields())
	}
}
