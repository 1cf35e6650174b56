package vtep

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// fakeInjector records what the datapath injects; every destination is
// routed out of interface 7.
type fakeInjector struct {
	mu   sync.Mutex
	pkts [][]byte
	qs   []int
}

func (f *fakeInjector) Write(q int, pkt []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pkts = append(f.pkts, bytes.Clone(pkt))
	f.qs = append(f.qs, q)
	return nil
}

func (f *fakeInjector) Oif(dst netip.Addr) int { return 7 }

// superRig is a link on 192.0.2.1 (args added) whose host injects into
// inj, with a static entry for the super-frame's destination MAC at
// remote, and a one-frame batch holding a TCP super-frame of payload bytes
// (MSS 1400) read as a queue with SetWholeSuperFrames hands it out.
func superRig(t *testing.T, args, remote string, payload int) (*Link, *txBatch, *fakeInjector, gsotest.Frame) {
	t.Helper()
	r := newRig(t, true, "192.0.2.1")
	inj := &fakeInjector{}
	r.h.inj = inj
	l := r.link(t, "vx0", "id 42 local 192.0.2.1 dstport 4789 "+args)
	dst := header.MAC{0x02, 0, 0, 0, 0, 0xbb}
	if err := l.fdb.Add(fdb.Request{MAC: dst, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr(remote)}); err != nil {
		t.Fatal(err)
	}
	f := gsotest.Frame{Dst: dst, Src: header.MAC{0x02, 0, 0, 0, 0, 0xaa}, Seq: 5000, Flags: gsotest.ACK | gsotest.PSH,
		Payload: gsotest.Payload(payload, 3)}
	frame := f.PartialFrame()
	h := f.TSOHdr(1400)
	b := newTXBatch(1, l.host.bufSize)
	b.sizes[0] = copy(b.bufs[0][tap.Headroom:], frame)
	b.metas[0] = tap.Meta{ChecksumPartial: true, ChecksumStart: h.CsumStart, ChecksumOffset: h.CsumOffset,
		GSOType: h.GSOType, GSOSize: h.GSOSize}
	return l, b, inj, f
}

// TestSuperFrameLeavesWholeAsTunnelGSO: with an Injector, a TCP
// super-frame to a unicast remote is encapsulated once and handed over
// whole, as the kernel's vxlan hands its GSO skb to the underlay
// (vxlan_xmit_one → udp_tunnel_xmit_skb with SKB_GSO_UDP_TUNNEL): the
// virtio_net_hdr_v1_hash_tunnel says TCPV4 in a UDP tunnel over IPv4, with
// the MSS, the inner TCP checksum left to GSO and the outer UDP and inner
// IP offsets (virtio_net_hdr_tnl_to_skb's checks); the Ethernet header
// names the route's output interface; the outer headers are those of a
// single datagram with the whole length; no datagram goes through the
// sockets.
func TestSuperFrameLeavesWholeAsTunnelGSO(t *testing.T) {
	l, b, inj, f := superRig(t, "noudpcsum", "192.0.2.2", 20000)
	frame := bytes.Clone(b.bufs[0][tap.Headroom : tap.Headroom+b.sizes[0]])
	l.transmit(b, 1)
	if len(inj.pkts) != 1 {
		t.Fatalf("%d packets injected, want 1", len(inj.pkts))
	}
	if c := l.sockFor(false).conn.(*nullConn); len(c.take()) != 0 {
		t.Errorf("datagrams went through the socket too")
	}
	p := inj.pkts[0]
	h, eth := p[:underlay.TunnelHdrLen], p[underlay.TunnelHdrLen:]
	const outer = 14 + 20 + 8 + 8
	inner := uint16(outer)
	want := underlay.TunnelHdr{
		GSOType: header.VirtioNetHdrGSOTCPv4 | underlay.TunnelGSOUDPTunnelIPv4, GSOSize: 1400,
		HdrLen: inner + uint16(f.L2Len()+f.L3Len()+f.L4Len()), CsumStart: inner + uint16(f.L2Len()+f.L3Len()), CsumOffset: 16,
		OuterTransport: 14 + 20, InnerNetwork: inner + 14,
	}
	wantHdr := make([]byte, underlay.TunnelHdrLen)
	underlay.PutTunnelHdr(wantHdr, &want)
	if !bytes.Equal(h, wantHdr) {
		t.Errorf("tunnel header % x, want % x", h, wantHdr)
	}
	if oif := binary.NativeEndian.Uint32(eth[2:6]); oif != 7 || eth[0]&1 != 0 || binary.BigEndian.Uint16(eth[12:]) != header.EtherTypeIPv4 {
		t.Errorf("Ethernet header % x: want a unicast address naming interface 7, IPv4", eth[:14])
	}
	ip := eth[14:]
	if got := int(binary.BigEndian.Uint16(ip[2:])); got != 20+8+8+len(frame) {
		t.Errorf("outer IPv4 total length %d, want %d", got, 20+8+8+len(frame))
	}
	if checksum.Sum(ip[:20], 0) != 0xffff {
		t.Errorf("outer IPv4 header checksum does not verify")
	}
	udp := ip[20:]
	if binary.BigEndian.Uint16(udp[2:]) != 4789 || binary.BigEndian.Uint16(udp[6:]) != 0 {
		t.Errorf("UDP header % x: want port 4789, no checksum (noudpcsum)", udp[:8])
	}
	if vni := binary.BigEndian.Uint32(udp[12:]) >> 8; vni != 42 || udp[8] != 0x08 {
		t.Errorf("VXLAN header % x, want I flag and VNI 42", udp[8:16])
	}
	if !bytes.Equal(udp[16:], frame) {
		t.Errorf("inner frame changed on the way (its TCP checksum must stay partial)")
	}
	if l.stats.TXSuperPackets.Load() != 1 || l.stats.TXPackets.Load() != 1 {
		t.Errorf("tx_tunnel_gso_packets %d, tx_packets %d; want 1, 1", l.stats.TXSuperPackets.Load(), l.stats.TXPackets.Load())
	}
}

// TestSuperFrameWithUDPChecksumAsksForTunnelCsum: a link that sends UDP
// checksums (udpcsum, the default) marks the super-packet SKB_GSO_UDP_TUNNEL_CSUM
// (VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM) and leaves the pseudo-header sum in
// the UDP checksum field, as udp_set_csum does for a GSO skb, for every
// segment's checksum to be finished from.
func TestSuperFrameWithUDPChecksumAsksForTunnelCsum(t *testing.T) {
	l, b, inj, _ := superRig(t, "", "192.0.2.2", 8000)
	l.transmit(b, 1)
	if len(inj.pkts) != 1 {
		t.Fatalf("%d packets injected, want 1", len(inj.pkts))
	}
	p := inj.pkts[0]
	if p[0]&underlay.TunnelFlagUDPCsum == 0 {
		t.Errorf("flags %#x: want VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM", p[0])
	}
	ip := p[underlay.TunnelHdrLen+14:]
	udp := ip[20:]
	ps := checksum.Pseudo(ip[12:16], ip[16:20], header.UDPProtocolNumber, uint32(len(udp)))
	if got := binary.BigEndian.Uint16(udp[6:]); got != ps {
		t.Errorf("UDP checksum field %#04x, want the pseudo-header sum %#04x", got, ps)
	}
}

// TestSuperFrameToMulticastIsSegmented: a super-frame the injector cannot
// carry (here to a multicast group) is cut into MSS-sized segments, each
// encapsulated and sent through the socket with a complete inner TCP
// checksum, in order.
func TestSuperFrameToMulticastIsSegmented(t *testing.T) {
	l, b, inj, f := superRig(t, "", "239.1.1.1", 5000)
	c := l.sockFor(false).conn.(*nullConn)
	c.setKeep(true)
	l.transmit(b, 1)
	if len(inj.pkts) != 0 {
		t.Errorf("%d packets injected, want none", len(inj.pkts))
	}
	pkts := c.take()
	if len(pkts) != 4 { // 1400+1400+1400+800
		t.Fatalf("%d datagrams, want 4", len(pkts))
	}
	var payload []byte
	for i, p := range pkts {
		in := p[20+8+8:]
		iip := in[14:]
		th := iip[20:]
		if s := checksum.Sum(th, checksum.Pseudo(iip[12:16], iip[16:20], 6, uint32(len(th)))); s != 0xffff {
			t.Errorf("segment %d: inner TCP checksum does not verify", i)
		}
		payload = append(payload, th[20:]...)
	}
	if !bytes.Equal(payload, f.Payload) {
		t.Errorf("segments carry %d bytes, not the %d of the super-frame in order", len(payload), len(f.Payload))
	}
}
