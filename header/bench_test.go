package header_test

import (
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/header"
)

var (
	sinkInt  int
	sinkU16  uint16
	sinkBool bool
)

func BenchmarkEthernetPayloadOffsetQinQ(b *testing.B) {
	e := header.Ethernet(unhex(b, "ff ff ff ff ff ff 02 00 00 00 00 01 88 a8 00 0a 81 00 00 14 08 00"))
	b.ReportAllocs()
	for b.Loop() {
		_, off, _ := e.PayloadOffset()
		sinkInt += off
	}
}

func BenchmarkIPv6UpperLayer(b *testing.B) {
	ext := unhex(b, `3c 00 01 04 00 00 00 00  2b 01 01 0c 00 00 00 00 00 00 00 00 00 00 00 00  11 00 00 00 00 00 00 00`)
	pkt := make([]byte, header.IPv6FixedSize, 100)
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(len(ext) + 8), NextHeader: header.IPv6HopByHopProtocolNumber})
	ip := header.IPv6(append(append(pkt, ext...), make([]byte, 8)...))
	b.ReportAllocs()
	for b.Loop() {
		_, off, _ := ip.UpperLayer()
		sinkInt += off
	}
}

func BenchmarkParseTCPOptions(b *testing.B) {
	opts := unhex(b, "02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00 01 03 03 07")
	b.ReportAllocs()
	for b.Loop() {
		s := header.ParseTCPOptions(opts)
		sinkU16 += s.MSS
	}
}

func BenchmarkNDPLinkLayerAddress(b *testing.B) {
	ns := header.NDPNeighborSolicit(unhex(b, goldenNS))
	b.ReportAllocs()
	for b.Loop() {
		if !ns.IsValid() {
			b.Fatal("invalid")
		}
		m, _ := ns.Options().LinkLayerAddress(header.NDPOptionSourceLinkLayerAddress)
		sinkInt += int(m[5])
	}
}

func BenchmarkVXLANDecode(b *testing.B) {
	v := header.VXLAN(unhex(b, "88 48 00 01 00 00 01 00"))
	reserved := ^(header.VXLANUsedBitsDefault | header.VXLANUsedBitsGBP)
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = v.IsValid() && v.IFlag() && v.Uint64()&reserved == 0
		sinkInt += int(v.VNI()) + int(v.GBPMark())
	}
}

// BenchmarkEncapsulateIPv4 writes the 50 bytes of outer headers the transmit
// path prepends (Ethernet, IPv4 with header checksum, UDP, VXLAN), without
// the UDP checksum over the inner frame.
func BenchmarkEncapsulateIPv4(b *testing.B) {
	buf := make([]byte, 50+1514)
	eth := header.EthernetFields{
		Destination: header.MustParseMAC("02:00:00:00:00:02"),
		Source:      header.MustParseMAC("02:00:00:00:00:01"),
		Type:        header.EtherTypeIPv4,
	}
	ipf := header.IPv4Fields{TotalLength: uint16(len(buf) - 14), Flags: header.IPv4FlagDontFragment, TTL: 64,
		Protocol: header.UDPProtocolNumber, SrcAddr: netip.MustParseAddr("192.0.2.1"), DstAddr: netip.MustParseAddr("192.0.2.2")}
	udpf := header.UDPFields{SrcPort: 49152, DstPort: header.VXLANPort, Length: uint16(len(buf) - 34)}
	vxf := header.VXLANFields{VNI: 42}
	b.ReportAllocs()
	for b.Loop() {
		header.Ethernet(buf).Encode(&eth)
		ip := header.IPv4(buf[14:])
		ip.Encode(&ipf)
		ip.SetChecksum(ip.CalculateChecksum())
		header.UDP(buf[34:]).Encode(&udpf)
		header.VXLAN(buf[42:]).Encode(&vxf)
	}
}

// BenchmarkEncapsulateIPv4Setters does the same with per-field setters on a
// preformatted template, the way a header cache would.
func BenchmarkEncapsulateIPv4Setters(b *testing.B) {
	buf := make([]byte, 50+1514)
	header.IPv4(buf[14:]).Encode(&header.IPv4Fields{Flags: header.IPv4FlagDontFragment, TTL: 64, Protocol: header.UDPProtocolNumber,
		SrcAddr: netip.MustParseAddr("192.0.2.1"), DstAddr: netip.MustParseAddr("192.0.2.2")})
	header.VXLAN(buf[42:]).Encode(&header.VXLANFields{VNI: 42})
	b.ReportAllocs()
	id := uint16(0)
	for b.Loop() {
		ip := header.IPv4(buf[14:])
		ip.SetTotalLength(uint16(len(buf) - 14))
		ip.SetID(id)
		id++
		ip.SetChecksum(0)
		ip.SetChecksum(ip.CalculateChecksum())
		u := header.UDP(buf[34:])
		u.SetSourcePort(49152 + id&0x3fff)
		u.SetLength(uint16(len(buf) - 34))
		u.SetChecksum(0)
	}
}

func BenchmarkTCPChecksum1448(b *testing.B) {
	seg := make([]byte, 20+1448)
	for i := range seg {
		seg[i] = byte(i)
	}
	t := header.TCP(seg)
	t.SetDataOffset(20)
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		sinkU16 += t.CalculateChecksum(0x1234)
	}
}
