package vtep_test

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/underlay"
)

// recorder keeps a copy of every packet written to the underlay.
type recorder struct {
	mu   sync.Mutex
	sent []sentPacket
}

type sentPacket struct {
	host    string
	pkt     []byte
	ifindex int // the output interface, 0 as routed
}

func (r *recorder) trace(ev underlay.CaptureEvent) {
	if ev.Kind != underlay.CaptureSent {
		return
	}
	r.mu.Lock()
	r.sent = append(r.sent, sentPacket{ev.Host, append([]byte(nil), ev.Packet...), ev.Ifindex})
	r.mu.Unlock()
}

// take returns the packets recorded since the last call.
func (r *recorder) take() []sentPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}

// outerPacket is an outer packet decoded independently of the datapath:
// IP and UDP by gopacket, checksums by a naive sum.
type outerPacket struct {
	v6       bool
	src, dst netip.Addr
	tos, ttl uint8
	df       bool
	id       uint16
	label    uint32
	sport    uint16
	dport    uint16
	udpCsum  uint16
	vx       [8]byte
	inner    []byte
}

func (o *outerPacket) vni() uint32 { return binary.BigEndian.Uint32(o.vx[4:]) >> 8 }

// decodeOuter decodes and checks an outer packet: header checksum, lengths
// and (when not zero) the UDP checksum.
func decodeOuter(t *testing.T, pkt []byte) outerPacket {
	t.Helper()
	var o outerPacket
	var payloadUDP, pseudo []byte
	var udp layers.UDP
	if pkt[0]>>4 == 6 {
		o.v6 = true
		var ip6 layers.IPv6
		if err := ip6.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("outer IPv6 header does not decode: %v", err)
		}
		o.src, _ = netip.AddrFromSlice(ip6.SrcIP)
		o.dst, _ = netip.AddrFromSlice(ip6.DstIP)
		o.tos, o.ttl, o.label = ip6.TrafficClass, ip6.HopLimit, ip6.FlowLabel
		if int(ip6.Length)+40 != len(pkt) || ip6.NextHeader != layers.IPProtocolUDP {
			t.Fatalf("bad IPv6 header %+v for %d bytes", ip6, len(pkt))
		}
		pseudo = append(append([]byte{}, pkt[8:40]...), 0, 0, byte(ip6.Length>>8), byte(ip6.Length), 0, 0, 0, 17)
		if err := udp.DecodeFromBytes(ip6.Payload, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("outer UDP header does not decode: %v", err)
		}
	} else {
		var ip4 layers.IPv4
		if err := ip4.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("outer IPv4 header does not decode: %v", err)
		}
		o.src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
		o.dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		o.tos, o.ttl, o.id = ip4.TOS, ip4.TTL, ip4.Id
		o.df = ip4.Flags&layers.IPv4DontFragment != 0
		if int(ip4.Length) != len(pkt) || ip4.IHL != 5 || ip4.Protocol != layers.IPProtocolUDP || ip4.FragOffset != 0 || ip4.Flags&^layers.IPv4DontFragment != 0 {
			t.Fatalf("bad IPv4 header %+v for %d bytes", ip4, len(pkt))
		}
		if naiveSum(pkt[:20]) != 0xffff {
			t.Fatalf("bad IPv4 header checksum in %x", pkt[:20])
		}
		ul := len(pkt) - 20
		pseudo = append(append([]byte{}, pkt[12:20]...), 0, 17, byte(ul>>8), byte(ul))
		if err := udp.DecodeFromBytes(ip4.Payload, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("outer UDP header does not decode: %v", err)
		}
	}
	o.sport, o.dport, o.udpCsum = uint16(udp.SrcPort), uint16(udp.DstPort), udp.Checksum
	hl := 20
	if o.v6 {
		hl = 40
	}
	payloadUDP = pkt[hl:]
	if int(udp.Length) != len(payloadUDP) {
		t.Fatalf("UDP length %d, packet has %d", udp.Length, len(payloadUDP))
	}
	if o.udpCsum != 0 && naiveSum(append(pseudo, payloadUDP...)) != 0xffff {
		t.Fatalf("bad UDP checksum %#04x", o.udpCsum)
	}
	copy(o.vx[:], payloadUDP[8:16])
	o.inner = payloadUDP[16:]
	return o
}

// naiveSum is RFC 1071 done the slow way, independent of package checksum.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// vxHeader returns a VXLAN header: flags word w0 (I flag included by the
// caller), VNI and the low reserved byte of the second word.
func vxHeader(w0, vni uint32, low byte) [8]byte {
	var h [8]byte
	binary.BigEndian.PutUint32(h[0:], w0)
	binary.BigEndian.PutUint32(h[4:], vni<<8|uint32(low))
	return h
}

const flagI = 0x08000000

// crafted describes an outer packet to inject into the lab.
type crafted struct {
	src, dst     netip.Addr
	sport, dport uint16
	tos, ttl     uint8
	vx           [8]byte
	noCsum       bool // send a zero UDP checksum
	badCsum      bool // corrupt the UDP checksum
}

// build returns the outer packet carrying inner.
func (c crafted) build(inner []byte) []byte {
	if c.sport == 0 {
		c.sport = 40000
	}
	if c.dport == 0 {
		c.dport = 4789
	}
	if c.ttl == 0 {
		c.ttl = 64
	}
	udp := make([]byte, 16+len(inner))
	binary.BigEndian.PutUint16(udp[0:], c.sport)
	binary.BigEndian.PutUint16(udp[2:], c.dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:16], c.vx[:])
	copy(udp[16:], inner)
	var pkt, pseudo []byte
	if c.src.Is4() {
		pkt = make([]byte, 20, 20+len(udp))
		pkt[0], pkt[1] = 0x45, c.tos
		binary.BigEndian.PutUint16(pkt[2:], uint16(20+len(udp)))
		pkt[8], pkt[9] = c.ttl, 17
		s, d := c.src.As4(), c.dst.As4()
		copy(pkt[12:], s[:])
		copy(pkt[16:], d[:])
		binary.BigEndian.PutUint16(pkt[10:], ^naiveSum(pkt))
		pseudo = append(append([]byte{}, pkt[12:20]...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
	} else {
		pkt = make([]byte, 40, 40+len(udp))
		binary.BigEndian.PutUint32(pkt[0:], 6<<28|uint32(c.tos)<<20)
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(udp)))
		pkt[6], pkt[7] = 17, c.ttl
		s, d := c.src.As16(), c.dst.As16()
		copy(pkt[8:], s[:])
		copy(pkt[24:], d[:])
		pseudo = append(append([]byte{}, pkt[8:40]...), 0, 0, byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, 17)
	}
	if !c.noCsum {
		cs := ^naiveSum(append(pseudo, udp...))
		if cs == 0 {
			cs = 0xffff
		}
		if c.badCsum {
			cs ^= 0x0101
		}
		binary.BigEndian.PutUint16(udp[6:], cs)
	}
	return append(pkt, udp...)
}

// injector sends crafted outer packets from a host of its own.
type injector struct {
	t    *testing.T
	conn [2]*underlay.MemConn
	addr [2]netip.Addr
}

func newInjector(t *testing.T, lab *netlab.Lab, addrs ...string) *injector {
	h := lab.MustAddHost(t, "injector", addrs...)
	in := &injector{t: t}
	for _, a := range h.Underlay.Addrs() {
		fam := 0
		if a.Is6() {
			fam = 1
		}
		c, err := h.Underlay.Listen(underlay.ListenConfig{IPv6: a.Is6(), Port: 9})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		in.conn[fam], in.addr[fam] = c, a
	}
	return in
}

// send injects the packet built from c (its source defaults to the
// injector's address of the destination's family).
func (in *injector) send(c crafted, inner []byte) {
	in.t.Helper()
	fam := 0
	if c.dst.Is6() {
		fam = 1
	}
	if !c.src.IsValid() {
		c.src = in.addr[fam]
	}
	if _, err := in.conn[fam].Write([][]byte{c.build(inner)}, 0); err != nil {
		in.t.Fatal(err)
	}
}

// sendRaw injects a whole outer packet as is.
func (in *injector) sendRaw(pkt []byte) {
	in.t.Helper()
	fam := 0
	if pkt[0]>>4 == 6 {
		fam = 1
	}
	if _, err := in.conn[fam].Write([][]byte{pkt}, 0); err != nil {
		in.t.Fatal(err)
	}
}
