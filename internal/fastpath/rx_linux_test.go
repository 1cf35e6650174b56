package fastpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/vtepd/vtep/checksum"
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

// fixIPv4Checksum makes the checksum of the outer IPv4 header's first 20
// bytes right, whatever its length field says.
func fixIPv4Checksum(pkt []byte) {
	o := header.IPv4(pkt[header.EthernetSize : header.EthernetSize+header.IPv4MinimumSize])
	o.SetChecksum(0)
	o.SetChecksum(^checksum.Sum(o, 0))
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
		{"outer ECN ECT(1) (INET_ECN_decapsulate: ECT(1) over an inner ECT(0))", func(p []byte) []byte { p[ip+1] = 1; fixIPv4Checksum(p); return p }},
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

	// A GSO packet that is not TCP inside, as a UDP GRO train
	// (SKB_GSO_UDP_L4) is, passes whole: the test run sets gso_size
	// and no type.
	// struct __sk_buff
	var ctx [192]byte
	binary.NativeEndian.PutUint32(ctx[164:], 2)   // gso_segs
	binary.NativeEndian.PutUint32(ctx[176:], 200) // gso_size
	before, _ := rx.Stats()
	out = make([]byte, len(good)+64)
	ret, err = rx.prog.Run(&ebpf.RunOptions{Data: good, DataOut: out, Context: ctx[:]})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := rx.Stats(); ret != next || !bytes.Equal(out[:len(good)], good) || after != before {
		t.Errorf("a non-TCP GSO packet: return %d, changed %v, counted %+v → %+v", int32(ret), !bytes.Equal(out[:len(good)], good), before, after)
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

// rxModel is what the receive program must do with pkt, written plainly:
// whether it decapsulates it, given a table holding rxSrcMAC behind remote
// (any source when remote is the zero Addr), and the test run's device
// (address 00:00:00:00:00:00, so only that destination is PACKET_HOST).
func rxModel(pkt []byte, remote netip.Addr) bool {
	const (
		ip  = header.EthernetSize
		udp = ip + header.IPv4MinimumSize
		vx  = udp + header.UDPSize
		in  = vx + header.VXLANSize
	)
	// bpf_skb_adjust_room leaves at least 20 bytes after the Ethernet
	// header; shorter inner frames go through vtepd.
	if len(pkt) < in+header.EthernetSize+20 || header.MAC(pkt[0:6]) != (header.MAC{}) ||
		binary.BigEndian.Uint16(pkt[12:]) != header.EtherTypeIPv4 {
		return false
	}
	o := header.IPv4(pkt[ip:])
	if pkt[ip] != 0x45 || o.ECN()&1 != 0 || int(o.TotalLength()) != len(pkt)-ip || o.IsFragment() ||
		o.Protocol() != 17 || o.DestinationAddress() != rxLocal || !o.IsChecksumValid() {
		return false
	}
	u := header.UDP(pkt[udp:])
	if u.DestinationPort() != 4789 || int(u.Length()) != len(pkt)-udp || u.Checksum() != 0 {
		return false
	}
	if binary.BigEndian.Uint32(pkt[vx:]) != 0x08000000 || binary.BigEndian.Uint32(pkt[vx+4:]) != 42<<8 {
		return false
	}
	if binary.BigEndian.Uint16(pkt[in+12:]) == header.EtherTypeIPv6 && len(pkt) < in+header.EthernetSize+header.IPv6FixedSize {
		return false
	}
	if header.MAC(pkt[in+6:in+12]) != rxSrcMAC {
		return false
	}
	return !remote.IsValid() || o.SourceAddress() == remote
}

// FuzzReceiveProgram runs the receive program on mutations of a valid
// packet (a byte changed, the outer header checksum made right again or
// not, the packet cut short with its lengths fixed up) and compares what
// it does with rxModel: decapsulated (the inner
// frame, unchanged, and counted) or passed on untouched.
func FuzzReceiveProgram(f *testing.F) {
	f.Add(uint16(0), byte(0), uint16(0), false, false)
	f.Add(uint16(15), byte(3), uint16(0), false, true)    // CE
	f.Add(uint16(15), byte(1), uint16(0), false, true)    // ECT(1)
	f.Add(uint16(48), byte(0x88), uint16(0), false, true) // VXLAN flags
	f.Add(uint16(70), byte(1), uint16(0), true, true)     // inner source MAC
	f.Add(uint16(20), byte(0x20), uint16(0), true, true)  // MF
	f.Add(uint16(22), byte(1), uint16(0), true, false)    // TTL without the checksum
	f.Add(uint16(0), byte(0), uint16(90), false, true)    // truncated inner IPv4
	f.Add(uint16(29), byte(9), uint16(0), true, true)     // outer source, any remote
	f.Add(uint16(29), byte(9), uint16(0), false, true)    // outer source
	f.Add(uint16(41), byte(1), uint16(0), false, true)    // UDP checksum
	f.Fuzz(func(t *testing.T, at uint16, xor byte, cut uint16, anyRemote, fixCsum bool) {
		if os.Geteuid() != 0 {
			t.Skip("loading BPF programs needs root")
		}
		rx := fuzzRX(t)
		remote := rxRemote
		if anyRemote {
			remote = netip.Addr{}
		}
		if err := rx.Set(rxSrcMAC, remote); err != nil {
			t.Fatal(err)
		}
		pkt := vxlanPacket(100)
		if int(at) < len(pkt) {
			pkt[at] ^= xor
			if fixCsum {
				fixIPv4Checksum(pkt)
			}
		}
		// A shorter packet whose lengths still add up. (The test run
		// refuses IPv4 packets shorter than their header.)
		if c := int(cut); c >= header.EthernetSize+header.IPv4MinimumSize && c < len(pkt) {
			pkt = pkt[:c]
			if c >= header.EthernetSize+header.IPv4MinimumSize+header.UDPSize {
				binary.BigEndian.PutUint16(pkt[header.EthernetSize+2:], uint16(c-header.EthernetSize))
				binary.BigEndian.PutUint16(pkt[header.EthernetSize+header.IPv4MinimumSize+4:], uint16(c-header.EthernetSize-header.IPv4MinimumSize))
				fixIPv4Checksum(pkt)
			}
		}
		want := rxModel(pkt, remote)
		before, _ := rx.Stats()
		out := make([]byte, len(pkt)+64)
		ret, err := rx.prog.Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := rx.Stats()
		inner := len(pkt) - header.EthernetSize - HeaderLen
		switch {
		case want && ret != 7:
			t.Fatalf("model decapsulates, program returned %d:\n% x", int32(ret), pkt)
		case want && !bytes.Equal(out[:inner], pkt[header.EthernetSize+HeaderLen:]):
			t.Fatalf("decapsulated frame differs:\n% x\nwant\n% x", out[:inner], pkt[header.EthernetSize+HeaderLen:])
		case want && (after.Packets != before.Packets+1 || after.Bytes != before.Bytes+uint64(inner-header.EthernetSize)):
			t.Fatalf("counters %+v → %+v for one %d-byte frame", before, after, inner)
		case !want && ret != 0xffffffff:
			t.Fatalf("model passes, program returned %d:\n% x", int32(ret), pkt)
		case !want && (!bytes.Equal(out[:len(pkt)], pkt) || after != before):
			t.Fatalf("a passed packet was changed or counted:\n% x\n% x", out[:len(pkt)], pkt)
		}
	})
}

var (
	fuzzRXOnce sync.Once
	fuzzRXProg *RX
	fuzzRXErr  error
)

// fuzzRX is one receive program for all of FuzzReceiveProgram's inputs.
func fuzzRX(t *testing.T) *RX {
	fuzzRXOnce.Do(func() {
		fuzzRXProg, fuzzRXErr = LoadRX(RXConfig{Local: rxLocal, Port: 4789, VNI: 42, Overlay: 1}, 8)
	})
	if fuzzRXErr != nil {
		t.Fatal(fuzzRXErr)
	}
	return fuzzRXProg
}
