package fastpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

var (
	rxLocal  = netip.MustParseAddr("10.0.0.1")
	rxRemote = netip.MustParseAddr("10.0.0.2")
	rxSrcMAC = header.MAC{2, 0, 0, 0, 0, 2}
	rxDstMAC = header.MAC{2, 0, 0, 0, 0, 1}
)

// vxlanPacket returns an outer Ethernet frame from rxRemote to rxLocal, UDP
// port 4789, VNI 42, around an inner IPv4 frame from rxSrcMAC with n bytes
// of payload after its IPv4 header. The outer Ethernet destination is
// zero: the test device's address, so the packet is PACKET_HOST.
func vxlanPacket(n int) []byte {
	inner := make([]byte, header.EthernetSize+header.IPv4MinimumSize+n)
	copy(inner[0:], rxDstMAC[:])
	copy(inner[6:], rxSrcMAC[:])
	binary.BigEndian.PutUint16(inner[12:], header.EtherTypeIPv4)
	ip := header.IPv4(inner[header.EthernetSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + n), TTL: 64, Protocol: 17,
		SrcAddr: netip.MustParseAddr("192.0.2.2"), DstAddr: netip.MustParseAddr("192.0.2.1")})
	ip.SetChecksum(ip.CalculateChecksum())
	for i := range n {
		inner[header.EthernetSize+header.IPv4MinimumSize+i] = byte(i)
	}
	pkt := make([]byte, header.EthernetSize+HeaderLen+len(inner))
	binary.BigEndian.PutUint16(pkt[12:], header.EtherTypeIPv4)
	o := header.IPv4(pkt[header.EthernetSize:])
	o.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt) - header.EthernetSize), TTL: 64, Protocol: 17,
		SrcAddr: rxRemote, DstAddr: rxLocal})
	fixIPv4Checksum(pkt)
	udp := pkt[header.EthernetSize+header.IPv4MinimumSize:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 4789)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], []byte{0x08, 0, 0, 0, 0, 0, 42, 0})
	copy(udp[16:], inner)
	return pkt
}

func fixIPv4Checksum(pkt []byte) {
	o := header.IPv4(pkt[header.EthernetSize:])
	o.SetChecksum(0)
	o.SetChecksum(o.CalculateChecksum())
}

// TestReceiveProgramRules runs the receive program on crafted packets
// (BPF_PROG_TEST_RUN): it decapsulates exactly what vxlan_rcv would
// deliver unchanged with learning a no-op, and passes everything else on
// (TCX_NEXT) untouched.
func TestReceiveProgramRules(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	const overlay = 1 // lo: the test run's device
	rx, err := LoadRX(RXConfig{Local: rxLocal, Port: 4789, VNI: 42, Overlay: overlay}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.Set(rxSrcMAC, rxRemote); err != nil {
		t.Fatal(err)
	}
	const (
		redirect = 7          // TC_ACT_REDIRECT
		next     = 0xffffffff // TCX_NEXT, as a u32
	)
	run := func(pkt []byte) (uint32, []byte) {
		t.Helper()
		out := make([]byte, len(pkt)+64)
		ret, err := rx.prog.Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
		if err != nil {
			t.Fatal(err)
		}
		return ret, out
	}

	good := vxlanPacket(100)
	ret, out := run(good)
	if ret != redirect {
		t.Fatalf("a valid packet: return %d, want TC_ACT_REDIRECT", int32(ret))
	}
	inner := good[header.EthernetSize+HeaderLen:]
	if !bytes.Equal(out[:len(inner)], inner) {
		t.Errorf("decapsulated\n% x\nwant\n% x", out[:len(inner)], inner)
	}
	if s, _ := rx.Stats(); s.Packets != 1 || s.Bytes != uint64(len(inner)-header.EthernetSize) {
		t.Errorf("Stats() = %+v, want 1 packet of %d bytes", s, len(inner)-header.EthernetSize)
	}

	const (
		ip  = header.EthernetSize
		udp = ip + header.IPv4MinimumSize
		vx  = udp + header.UDPSize
		in  = vx + header.VXLANSize
	)
	for _, c := range []struct {
		name string
		mod  func(p []byte) []byte
	}{
		{"outer multicast destination MAC (PACKET_MULTICAST)", func(p []byte) []byte { p[0] = 1; return p }},
		{"outer ARP", func(p []byte) []byte { p[13] = 6; return p }},
		{"outer IPv4 options", func(p []byte) []byte { p[ip] = 0x46; return p }},
		{"outer ECN CE (RFC 6040: copied inward by vtepd)", func(p []byte) []byte { p[ip+1] = 3; fixIPv4Checksum(p); return p }},
		{"outer total length short", func(p []byte) []byte { p[ip+3]--; fixIPv4Checksum(p); return p }},
		{"outer fragment (MF)", func(p []byte) []byte { p[ip+6] |= 0x20; fixIPv4Checksum(p); return p }},
		{"outer fragment offset", func(p []byte) []byte { p[ip+7] = 1; fixIPv4Checksum(p); return p }},
		{"outer TCP", func(p []byte) []byte { p[ip+9] = 6; fixIPv4Checksum(p); return p }},
		{"another local address", func(p []byte) []byte { p[ip+19] = 9; fixIPv4Checksum(p); return p }},
		{"outer header checksum wrong (ip_rcv_core)", func(p []byte) []byte { p[ip+10] ^= 1; return p }},
		{"another UDP port", func(p []byte) []byte { p[udp+3]++; return p }},
		{"UDP length wrong", func(p []byte) []byte { p[udp+5]--; return p }},
		{"UDP checksum not verified", func(p []byte) []byte { p[udp+6] = 1; return p }},
		{"VXLAN without the I flag", func(p []byte) []byte { p[vx] = 0; return p }},
		{"VXLAN GBP flag", func(p []byte) []byte { p[vx] |= 0x80; return p }},
		{"VXLAN reserved flag bits", func(p []byte) []byte { p[vx+2] = 1; return p }},
		{"VXLAN reserved VNI byte", func(p []byte) []byte { p[vx+7] = 1; return p }},
		{"another VNI", func(p []byte) []byte { p[vx+6] = 43; return p }},
		{"unknown source MAC (vtepd learns it)", func(p []byte) []byte { p[in+11] = 9; return p }},
		{"source behind another remote (vtepd migrates it)", func(p []byte) []byte { p[ip+15] = 3; fixIPv4Checksum(p); return p }},
		{"inner IPv4 header truncated (pskb_inet_may_pull)", func(p []byte) []byte {
			p = p[:in+header.EthernetSize+10]
			binary.BigEndian.PutUint16(p[ip+2:], uint16(len(p)-ip))
			binary.BigEndian.PutUint16(p[udp+4:], uint16(len(p)-udp))
			fixIPv4Checksum(p)
			return p
		}},
		{"inner IPv6 header truncated", func(p []byte) []byte {
			binary.BigEndian.PutUint16(p[in+12:], header.EtherTypeIPv6)
			p = p[:in+header.EthernetSize+30]
			binary.BigEndian.PutUint16(p[ip+2:], uint16(len(p)-ip))
			binary.BigEndian.PutUint16(p[udp+4:], uint16(len(p)-udp))
			fixIPv4Checksum(p)
			return p
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.mod(vxlanPacket(100))
			before, _ := rx.Stats()
			ret, out := run(p)
			if ret != next {
				t.Fatalf("return %d, want TCX_NEXT", int32(ret))
			}
			if !bytes.Equal(out[:len(p)], p) {
				t.Errorf("a passed packet was changed")
			}
			if s, _ := rx.Stats(); s != before {
				t.Errorf("counted: %+v → %+v", before, s)
			}
		})
	}

	// Zero remote: any outer source; ARP inside is fine too.
	if err := rx.Set(rxSrcMAC, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	p := vxlanPacket(100)
	p[ip+15] = 3
	fixIPv4Checksum(p)
	binary.BigEndian.PutUint16(p[in+12:], header.EtherTypeARP)
	if ret, _ := run(p); ret != redirect {
		t.Errorf("any-remote entry, ARP inside: return %d, want TC_ACT_REDIRECT", int32(ret))
	}
	if seen, err := rx.Seen(); err != nil || len(seen) != 1 {
		t.Errorf("Seen() = %v, %v", seen, err)
	}
}
