package header_test

import (
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/header"
)

// stackInfo is what a VTEP reads from an encapsulated frame on receive.
type stackInfo struct {
	outerDstMAC, outerSrcMAC header.MAC
	outerSrc, outerDst       netip.Addr
	outerTTL, outerTOS       uint8
	outerCsumOK              bool
	sport, dport             uint16
	udpCsumOK                bool
	vxlanBits                uint64
	vni                      header.VNI
	innerDstMAC, innerSrcMAC header.MAC
	innerSrc, innerDst       netip.Addr
	innerCsumOK              bool
	tcpSrc, tcpDst           uint16
	seq, ack                 uint32
	flags                    header.TCPFlags
	window                   uint16
	tsVal, tsEcr             uint32
	tcpCsumOK                bool
	payloadLen               int
}

// decodeStack walks Ethernet/IPv4/UDP/VXLAN/Ethernet/IPv4/TCP the way the
// datapath does: validate each header once, then read it with unchecked
// accessors. It must not allocate.
func decodeStack(frame []byte, s *stackInfo) bool {
	eth := header.Ethernet(frame)
	if !eth.IsValid() {
		return false
	}
	et, off, ok := eth.PayloadOffset()
	if !ok || et != header.EtherTypeIPv4 {
		return false
	}
	s.outerDstMAC, s.outerSrcMAC = eth.DestinationAddress(), eth.SourceAddress()
	ip := header.IPv4(frame[off:])
	if !ip.IsValid(len(ip)) || ip.Protocol() != header.UDPProtocolNumber || ip.IsFragment() {
		return false
	}
	s.outerSrc, s.outerDst = ip.SourceAddress(), ip.DestinationAddress()
	s.outerTTL, s.outerTOS = ip.TTL(), ip.TOS()
	s.outerCsumOK = ip.IsChecksumValid()
	udp := header.UDP(ip.Payload())
	if !udp.IsValid() {
		return false
	}
	s.sport, s.dport = udp.SourcePort(), udp.DestinationPort()
	s.udpCsumOK = udp.Checksum() == 0 || udp.IsChecksumValid(ip.PseudoHeaderSum(header.UDPProtocolNumber, udp.Length()))
	vx := header.VXLAN(udp.Payload())
	if !vx.IsValid() || !vx.IFlag() {
		return false
	}
	s.vxlanBits = vx.Uint64()
	s.vni = vx.VNI()
	inner := header.Ethernet(vx[header.VXLANSize:])
	if !inner.IsValid() {
		return false
	}
	s.innerDstMAC, s.innerSrcMAC = inner.DestinationAddress(), inner.SourceAddress()
	et, off, ok = inner.PayloadOffset()
	if !ok || et != header.EtherTypeIPv4 {
		return false
	}
	iip := header.IPv4(inner[off:])
	if !iip.IsValid(len(iip)) || iip.Protocol() != header.TCPProtocolNumber {
		return false
	}
	s.innerSrc, s.innerDst = iip.SourceAddress(), iip.DestinationAddress()
	s.innerCsumOK = iip.IsChecksumValid()
	tcp := header.TCP(iip.Payload())
	if !tcp.IsValid() {
		return false
	}
	s.tcpSrc, s.tcpDst = tcp.SourcePort(), tcp.DestinationPort()
	s.seq, s.ack = tcp.SequenceNumber(), tcp.AckNumber()
	s.flags, s.window = tcp.Flags(), tcp.WindowSize()
	opts := header.ParseTCPOptions(tcp.Options())
	s.tsVal, s.tsEcr = opts.TSVal, opts.TSEcr
	s.tcpCsumOK = tcp.IsChecksumValid(iip.PseudoHeaderSum(header.TCPProtocolNumber, uint16(len(tcp))))
	s.payloadLen = len(tcp.Payload())
	return true
}

func TestDecodeStackGolden(t *testing.T) {
	frame := unhex(t, goldenVXLANTCP)
	var s stackInfo
	if !decodeStack(frame, &s) {
		t.Fatal("decodeStack rejected the golden frame")
	}
	want := stackInfo{
		outerDstMAC: header.MustParseMAC("02:00:00:00:00:02"),
		outerSrcMAC: header.MustParseMAC("02:00:00:00:00:01"),
		outerSrc:    netip.MustParseAddr("192.0.2.1"),
		outerDst:    netip.MustParseAddr("192.0.2.2"),
		outerTTL:    64,
		outerCsumOK: true,
		sport:       49152,
		dport:       header.VXLANPort,
		udpCsumOK:   true,
		vxlanBits:   0x08000000_00002a00,
		vni:         42,
		innerDstMAC: header.MustParseMAC("02:00:00:00:01:02"),
		innerSrcMAC: header.MustParseMAC("02:00:00:00:01:01"),
		innerSrc:    netip.MustParseAddr("10.0.0.1"),
		innerDst:    netip.MustParseAddr("10.0.0.2"),
		innerCsumOK: true,
		tcpSrc:      40000,
		tcpDst:      80,
		seq:         1,
		ack:         16,
		flags:       header.TCPFlagPSH | header.TCPFlagACK,
		window:      502,
		tsVal:       0x01020304,
		tsEcr:       0x05060708,
		tcpCsumOK:   true,
		payloadLen:  5,
	}
	if s != want {
		t.Errorf("decodeStack:\n got %+v\nwant %+v", s, want)
	}
	if s.vxlanBits&^header.VXLANUsedBitsDefault != 0 {
		t.Errorf("golden VXLAN header sets reserved bits: %#016x", s.vxlanBits)
	}
}

// TestDecodeStackZeroAllocs is the performance budget of the receive path's
// header walk: decoding a full encapsulated TCP frame allocates nothing.
func TestDecodeStackZeroAllocs(t *testing.T) {
	frame := unhex(t, goldenVXLANTCP)
	var s stackInfo
	allocs := testing.AllocsPerRun(1000, func() {
		if !decodeStack(frame, &s) {
			t.Fatal("decode failed")
		}
	})
	if allocs != 0 {
		t.Errorf("decodeStack allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkDecodeStack(b *testing.B) {
	frame := unhex(b, goldenVXLANTCP)
	var s stackInfo
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if !decodeStack(frame, &s) {
			b.Fatal("decode failed")
		}
	}
}

// BenchmarkDecodeStackNoChecksums measures the header walk alone, without
// the three checksum verifications.
func BenchmarkDecodeStackNoChecksums(b *testing.B) {
	frame := unhex(b, goldenVXLANTCP)
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		eth := header.Ethernet(frame)
		_, off, _ := eth.PayloadOffset()
		ip := header.IPv4(frame[off:])
		if !ip.IsValid(len(ip)) {
			b.Fatal("invalid")
		}
		udp := header.UDP(ip.Payload())
		vx := header.VXLAN(udp.Payload())
		inner := header.Ethernet(vx[header.VXLANSize:])
		_, off, _ = inner.PayloadOffset()
		iip := header.IPv4(inner[off:])
		tcp := header.TCP(iip.Payload())
		sink += uint64(vx.VNI()) + uint64(udp.SourcePort()) + uint64(tcp.SequenceNumber()) +
			uint64(inner.SourceAddress()[5]) + uint64(iip.DestinationAddress().As4()[3])
	}
	_ = sink
}
