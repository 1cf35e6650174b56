package underlay

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/internal/nstest"
)

// superPacket builds an injected VXLAN super-packet from src to dst: the
// tunnel header, an Ethernet header naming oif, outer IPv4/UDP/VXLAN and an
// inner Ethernet/IPv4/TCP frame with payload and a partial TCP checksum
// (the pseudo-header sum over the whole super-frame's TCP length, as a
// TSO super-frame read from a TAP carries it).
func superPacket(oif int, src, dst netip.Addr, payload []byte, mss int) []byte {
	const eth, ip, udp, vx, tcp = 14, 20, 8, 8, 20
	innerLen := eth + ip + tcp + len(payload)
	b := make([]byte, TunnelHdrLen+eth+ip+udp+vx+innerLen)
	o := b[TunnelHdrLen:]
	PutOifMAC(o, oif, false)
	oip := o[eth:]
	oip[0] = 0x45
	binary.BigEndian.PutUint16(oip[2:], uint16(ip+udp+vx+innerLen))
	oip[6], oip[8], oip[9] = 0x40, 64, 17
	copy(oip[12:16], src.AsSlice())
	copy(oip[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(oip[10:], ^checksum.Sum(oip[:ip], 0))
	u := oip[ip:]
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 4789)
	binary.BigEndian.PutUint16(u[4:], uint16(udp+vx+innerLen))
	u[8] = 0x08
	binary.BigEndian.PutUint32(u[12:], 42<<8)
	in := u[udp+vx:]
	copy(in[0:6], []byte{0x02, 0, 0, 0, 0, 0xbb})
	copy(in[6:12], []byte{0x02, 0, 0, 0, 0, 0xaa})
	in[12], in[13] = 0x08, 0x00
	iip := in[eth:]
	iip[0] = 0x45
	binary.BigEndian.PutUint16(iip[2:], uint16(ip+tcp+len(payload)))
	iip[6], iip[8], iip[9] = 0x40, 64, 6
	copy(iip[12:16], []byte{192, 168, 9, 1})
	copy(iip[16:20], []byte{192, 168, 9, 2})
	binary.BigEndian.PutUint16(iip[10:], ^checksum.Sum(iip[:ip], 0))
	th := iip[ip:]
	binary.BigEndian.PutUint16(th[0:], 5001)
	binary.BigEndian.PutUint16(th[2:], 5002)
	binary.BigEndian.PutUint32(th[4:], 1000)
	th[12], th[13] = 5<<4, 0x18 // PSH|ACK
	binary.BigEndian.PutUint16(th[14:], 1024)
	copy(th[tcp:], payload)
	binary.BigEndian.PutUint16(th[16:], checksum.Pseudo(iip[12:16], iip[16:20], 6, uint32(tcp+len(payload))))
	innerNH := eth + ip + udp + vx + eth
	PutTunnelHdr(b, &TunnelHdr{
		GSOType:        1 | TunnelGSOUDPTunnelIPv4, // TCPV4
		GSOSize:        uint16(mss),
		HdrLen:         uint16(innerNH + ip + tcp),
		CsumStart:      uint16(innerNH + ip),
		CsumOffset:     16,
		OuterTransport: eth + ip,
		InnerNetwork:   uint16(innerNH),
	})
	return b
}

// injectorRig joins namespaces a and b (names from prefix) by a veth "ul"
// with src and dst on it, runs setup on the namespaces (nil: nothing), then
// listens on b's port 4789 (UDP_GRO off when noGRO) and opens an injector
// in a. It returns them with the output interface the injector found for
// dst; it skips the test where tunnel GSO injection is unavailable.
func injectorRig(t *testing.T, prefix string, src, dst netip.Addr, noGRO bool, setup func(a, b *nstest.NS)) (*LinuxConn, *Injector, int, *nstest.NS) {
	t.Helper()
	nstest.SkipUnlessRoot(t)
	a, b := nstest.NewNS(t, prefix+"a"), nstest.NewNS(t, prefix+"b")
	nstest.AddVeth(t, a, b, nstest.Veth{NameA: "ul", NameB: "ul",
		AddrsA: []netip.Prefix{netip.PrefixFrom(src, 24)}, AddrsB: []netip.Prefix{netip.PrefixFrom(dst, 24)}})
	if setup != nil {
		setup(a, b)
	}
	rx := listen(t, b, Options{Family: 4, Port: 4789, DisableGRO: noGRO})
	var j *Injector
	if err := a.Do(func() (err error) { j, err = OpenInjector(1); return err }); err != nil {
		t.Skipf("no tunnel GSO injection here: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	var oif int
	a.Do(func() error { oif = j.Oif(dst); return nil })
	return rx, j, oif, a
}

// TestInjectorSuperPacketCrossesVethWhole: a super-packet written to the
// injector leaves by the interface its Ethernet header names
// (bpf_redirect_neigh) and, as a kernel vxlan's SKB_GSO_UDP_TUNNEL packet
// does, crosses a veth unsegmented: the peer's UDP socket reads it as one
// datagram, byte for byte what was sent.
func TestInjectorSuperPacketCrossesVethWhole(t *testing.T) {
	src, dst := netip.MustParseAddr("10.7.0.1"), netip.MustParseAddr("10.7.0.2")
	rx, j, oif, a := injectorRig(t, "inj", src, dst, false, nil)
	if want := linkIndex(t, a, "ul"); oif != want {
		t.Fatalf("Oif(%s) = %d, want %d (ul)", dst, oif, want)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1250) // 20000 bytes
	p := superPacket(oif, src, dst, payload, 1400)
	if err := j.Write(0, p); err != nil {
		t.Fatalf("Write: %v", err)
	}
	g := readN(t, rx, 1, 4, 70000)
	want := p[TunnelHdrLen+14+20+8:] // the UDP payload: VXLAN and the inner frame
	if g[0].src != src || g[0].dst != dst || g[0].dport != 4789 || !bytes.Equal(g[0].payload, want) {
		t.Fatalf("got %s → %s port %d, %d payload bytes; want %s → %s port 4789, %d bytes as sent",
			g[0].src, g[0].dst, g[0].dport, len(g[0].payload), src, dst, len(want))
	}
	if sent, errs := j.Stats(); sent != 1 || errs != 0 {
		t.Errorf("Stats() = %d, %d; want 1, 0", sent, errs)
	}
}

// TestInjectorSuperPacketSegmentedWithoutOffload: when the output device
// cannot take tunnel GSO (tx-udp_tnl-segmentation off), the kernel cuts
// the super-packet into MTU-sized VXLAN datagrams (skb_udp_tunnel_segment
// → tcp_gso_segment): each carries the outer and inner headers with their
// lengths fixed, consecutive sequence numbers and a complete inner TCP
// checksum, and together they carry the payload in order.
func TestInjectorSuperPacketSegmentedWithoutOffload(t *testing.T) {
	src, dst := netip.MustParseAddr("10.7.1.1"), netip.MustParseAddr("10.7.1.2")
	rx, j, oif, _ := injectorRig(t, "injs", src, dst, true, func(a, b *nstest.NS) {
		a.Run(t, "ethtool", "-K", "ul", "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off", "tx", "off")
		b.Run(t, "ethtool", "-K", "ul", "gro", "off")
	})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 625) // 10000 bytes
	const mss = 1400
	if err := j.Write(0, superPacket(oif, src, dst, payload, mss)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	n := (len(payload) + mss - 1) / mss
	var got []byte
	for i, g := range readN(t, rx, n, 16, 2000) {
		in := g.payload[8:] // past VXLAN
		iip := in[14:]
		th := iip[20:]
		seg := th[20:]
		if l := int(binary.BigEndian.Uint16(iip[2:])); l != 40+len(seg) {
			t.Errorf("segment %d: inner IP length %d, want %d", i, l, 40+len(seg))
		}
		if seq := binary.BigEndian.Uint32(th[4:]); seq != uint32(1000+i*mss) {
			t.Errorf("segment %d: sequence %d, want %d", i, seq, 1000+i*mss)
		}
		if len(seg) > mss {
			t.Errorf("segment %d: %d payload bytes, more than the MSS %d", i, len(seg), mss)
		}
		if s := checksum.Sum(th, checksum.Pseudo(iip[12:16], iip[16:20], 6, uint32(len(th)))); s != 0xffff {
			t.Errorf("segment %d: inner TCP checksum does not verify (sum %#04x)", i, s)
		}
		got = append(got, seg...)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("segments carry %d bytes, not the %d sent in order", len(got), len(payload))
	}
}
