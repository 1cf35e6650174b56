package header_test

import (
	"bytes"
	"testing"

	"github.com/vtepd/vtep/header"
)

const ipv6Fixed = `
	6b 8f ff ff   // version 6, traffic class 0xb8, flow label 0xfffff
	00 10 11 40   // payload length 16, next header UDP, hop limit 64
	20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 01   // 2001:db8::1
	20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 02   // 2001:db8::2
`

func TestIPv6Accessors(t *testing.T) {
	b := header.IPv6(append(unhex(t, ipv6Fixed), make([]byte, 16)...))
	if !b.IsValid(len(b)) {
		t.Fatal("IsValid = false")
	}
	want := header.IPv6Fields{
		TrafficClass:  0xb8,
		FlowLabel:     0xfffff,
		PayloadLength: 16,
		NextHeader:    header.UDPProtocolNumber,
		HopLimit:      64,
		SrcAddr:       mustAddr("2001:db8::1"),
		DstAddr:       mustAddr("2001:db8::2"),
	}
	if got := b.Fields(); got != want {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	if b.Version() != 6 || b.DSCP() != 0xb8>>2 || b.ECN() != header.ECNNotECT || len(b.Payload()) != 16 {
		t.Errorf("Version %d DSCP %#x ECN %d len(Payload) %d", b.Version(), b.DSCP(), b.ECN(), len(b.Payload()))
	}
	b.SetECN(header.ECNCE)
	if b.TrafficClass() != 0xbb || b.FlowLabel() != 0xfffff || b.Version() != 6 {
		t.Errorf("SetECN disturbed neighbours: TC %#x FL %#x V %d", b.TrafficClass(), b.FlowLabel(), b.Version())
	}
	b.SetFlowLabel(0x123456) // masked to 20 bits
	if b.FlowLabel() != 0x23456 || b.TrafficClass() != 0xbb {
		t.Errorf("SetFlowLabel: FL %#x TC %#x", b.FlowLabel(), b.TrafficClass())
	}
	out := make([]byte, header.IPv6FixedSize)
	header.IPv6(out).Encode(&want)
	if !bytes.Equal(out, unhex(t, ipv6Fixed)) {
		t.Errorf("Encode:\n got % x\nwant % x", out, unhex(t, ipv6Fixed))
	}
	if !bytes.Equal(b.SourceAddressSlice(), want.SrcAddr.AsSlice()) || !bytes.Equal(b.DestinationAddressSlice(), want.DstAddr.AsSlice()) {
		t.Error("address slices differ")
	}
}

// TestIPv6IsValidMatchesIPv6Rcv covers ip6_rcv_core's checks: version 6 and
// "pkt_len + sizeof(struct ipv6hdr) > skb->len" drops.
func TestIPv6IsValidMatchesIPv6Rcv(t *testing.T) {
	full := append(unhex(t, ipv6Fixed), make([]byte, 16)...)
	if !header.IPv6(full).IsValid(len(full)) {
		t.Fatal("valid packet rejected")
	}
	if header.IPv6(full[:len(full)-1]).IsValid(len(full) - 1) {
		t.Error("payload length beyond packet accepted")
	}
	if header.IPv6(full[:39]).IsValid(39) {
		t.Error("short header accepted")
	}
	v4 := bytes.Clone(full)
	v4[0] = 0x4b
	if header.IPv6(v4).IsValid(len(v4)) {
		t.Error("version 4 accepted")
	}
	if header.IPv6(full).IsValid(len(full) + 1) {
		t.Error("pktSize beyond slice accepted")
	}
}

// ipv6WithExt builds an IPv6 packet whose fixed header says next, followed
// by ext (raw extension header bytes) and 8 bytes of upper-layer data.
func ipv6WithExt(t *testing.T, next uint8, ext string) header.IPv6 {
	t.Helper()
	e := unhex(t, ext)
	b := make([]byte, header.IPv6FixedSize, header.IPv6FixedSize+len(e)+8)
	header.IPv6(b).Encode(&header.IPv6Fields{
		PayloadLength: uint16(len(e) + 8),
		NextHeader:    next,
		HopLimit:      64,
		SrcAddr:       mustAddr("2001:db8::1"),
		DstAddr:       mustAddr("2001:db8::2"),
	})
	b = append(b, e...)
	return append(b, make([]byte, 8)...)
}

// TestIPv6UpperLayerMatchesIPv6SkipExthdr walks extension headers with the
// lengths of RFC 8200 §4 and RFC 4302 §2.2, and stops where the kernel's
// ipv6_skip_exthdr (net/ipv6/exthdrs_core.c) stops.
func TestIPv6UpperLayerMatchesIPv6SkipExthdr(t *testing.T) {
	tests := []struct {
		name      string
		next      uint8
		ext       string
		wantProto uint8
		wantOff   int
		ok        bool
	}{
		{"no extension headers", header.TCPProtocolNumber, "", header.TCPProtocolNumber, 40, true},
		{"hop-by-hop (8 bytes)", header.IPv6HopByHopProtocolNumber,
			"3a 00 05 02 00 00 01 00 // next ICMPv6, len 0, router alert, PadN", header.ICMPv6ProtocolNumber, 48, true},
		{"hop-by-hop, destination options (16 bytes), routing", header.IPv6HopByHopProtocolNumber, `
			3c 00 01 04 00 00 00 00                          // HBH → DstOpts, PadN
			2b 01 01 0c 00 00 00 00 00 00 00 00 00 00 00 00  // DstOpts → Routing, Hdr Ext Len 1 = 16 bytes
			11 00 00 00 00 00 00 00                          // Routing → UDP, segments left 0
		`, header.UDPProtocolNumber, 72, true},
		{"first fragment continues to the upper layer", header.IPv6FragmentProtocolNumber,
			"06 00 00 01 de ad be ef // → TCP, offset 0, M=1", header.TCPProtocolNumber, 48, true},
		{"later fragment stops at the fragment header", header.IPv6FragmentProtocolNumber,
			"06 00 05 c8 de ad be ef // → TCP, offset 1480, M=0", header.IPv6FragmentProtocolNumber, 40, true},
		{"authentication header (Payload Len counts 32-bit words minus 2)", header.AHProtocolNumber,
			"06 04 00 00 00 00 01 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 // → TCP, len 4: (4+2)*4 = 24", header.TCPProtocolNumber, 64, true},
		{"ESP ends the walk", header.ESPProtocolNumber, "", header.ESPProtocolNumber, 40, true},
		{"no next header ends the walk", header.IPv6DestinationOptionsProtocolNumber,
			"3b 00 01 04 00 00 00 00", header.IPv6NoNextHeaderProtocolNumber, 48, true},
		{"extension header runs past the packet", header.IPv6HopByHopProtocolNumber,
			"06 02 00 00 00 00 00 00 // Hdr Ext Len 2 = 24 bytes, only 16 present", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ipv6WithExt(t, tt.next, tt.ext)
			proto, off, ok := b.UpperLayer()
			if proto != tt.wantProto || off != tt.wantOff || ok != tt.ok {
				t.Errorf("UpperLayer() = %d, %d, %v; want %d, %d, %v", proto, off, ok, tt.wantProto, tt.wantOff, tt.ok)
			}
		})
	}
}

func TestIPv6NextExtensionHeaderRejectsUpperLayer(t *testing.T) {
	b := ipv6WithExt(t, header.TCPProtocolNumber, "")
	if _, ok := b.NextExtensionHeader(header.TCPProtocolNumber, 40); ok {
		t.Error("TCP treated as an extension header")
	}
	if _, ok := b.NextExtensionHeader(header.IPv6HopByHopProtocolNumber, -1); ok {
		t.Error("negative offset accepted")
	}
}

func TestIPv6Fragment(t *testing.T) {
	raw := unhex(t, "11 00 05 c9 01 02 03 04 // → UDP, offset 1480, M=1, ID 0x01020304")
	f := header.IPv6Fragment(raw)
	want := header.IPv6FragmentFields{NextHeader: header.UDPProtocolNumber, FragmentOffset: 1480, More: true, ID: 0x01020304}
	if !f.IsValid() || f.Fields() != want {
		t.Fatalf("Fields() = %+v, want %+v", f.Fields(), want)
	}
	out := make([]byte, header.IPv6FragmentHeaderSize)
	header.IPv6Fragment(out).Encode(&want)
	if !bytes.Equal(out, raw) {
		t.Errorf("Encode = % x, want % x", out, raw)
	}
}

// TestIPv6SkipOptionHeaders: the walk ipv6_gso_segment and
// ipv6_gro_receive do over Hop-by-Hop, Routing and Destination Options
// headers, stopping at anything else (a Fragment header included), failing
// on a truncated header.
func TestIPv6SkipOptionHeaders(t *testing.T) {
	pkt := func(next uint8, ext ...byte) header.IPv6 {
		b := make([]byte, header.IPv6FixedSize, header.IPv6FixedSize+len(ext))
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(len(ext)), NextHeader: next})
		return append(b, ext...)
	}
	hbh := []byte{header.IPv6RoutingProtocolNumber, 0, 0, 0, 0, 0, 0, 0}
	rt := []byte{header.TCPProtocolNumber, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	frag := []byte{header.TCPProtocolNumber, 0, 0, 0, 1, 2, 3, 4}
	for _, tc := range []struct {
		name  string
		b     header.IPv6
		proto uint8
		off   int
		ok    bool
	}{
		{"none", pkt(header.UDPProtocolNumber), header.UDPProtocolNumber, 40, true},
		{"hop-by-hop then routing", pkt(header.IPv6HopByHopProtocolNumber, append(append([]byte{}, hbh...), rt...)...), header.TCPProtocolNumber, 64, true},
		{"fragment ends the walk", pkt(header.IPv6FragmentProtocolNumber, frag...), header.IPv6FragmentProtocolNumber, 40, true},
		{"truncated", pkt(header.IPv6HopByHopProtocolNumber, hbh[:4]...), 0, 0, false},
		{"length beyond the packet", pkt(header.IPv6RoutingProtocolNumber, rt[:8]...), 0, 0, false},
	} {
		proto, off, ok := tc.b.SkipOptionHeaders()
		if proto != tc.proto || off != tc.off || ok != tc.ok {
			t.Errorf("%s: SkipOptionHeaders() = %d, %d, %v; want %d, %d, %v", tc.name, proto, off, ok, tc.proto, tc.off, tc.ok)
		}
	}
}
