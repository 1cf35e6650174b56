package header_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vtepd/vtep/header"
)

// Differential tests against github.com/gopacket/gopacket/layers (a test-only
// dependency). Each frame is described layer by layer as text, once from our
// views and once from gopacket's decoder, and the two descriptions must be
// equal. gopacket maps only UDP port 4789 to VXLAN, so every VXLAN frame here
// uses that port.

// ourLayers describes frame as decoded by package header. Checksums that do
// not verify are reported as "BAD-CSUM" records, so frames whose checksums
// gopacket computed also cross-check our checksum code.
func ourLayers(frame []byte) []string {
	var out []string
	ourEthernet(frame, &out)
	return out
}

func ourEthernet(b []byte, out *[]string) {
	e := header.Ethernet(b)
	if !e.IsValid() {
		return
	}
	*out = append(*out, fmt.Sprintf("eth dst=%v src=%v type=%#04x", e.DestinationAddress(), e.SourceAddress(), e.Type()))
	et, off, ok := e.PayloadOffset()
	if !ok {
		return
	}
	for i := 0; ; i++ {
		tag, ok := e.VLANTagAt(i)
		if !ok {
			break
		}
		next := binary.BigEndian.Uint16(e[header.EthernetSize+header.VLANTagSize*i+2:])
		*out = append(*out, fmt.Sprintf("vlan pcp=%d dei=%v vid=%d type=%#04x", tag.Priority(), tag.DropEligible(), tag.ID(), next))
	}
	p := e[off:]
	switch et {
	case header.EtherTypeIPv4:
		ip := header.IPv4(p)
		if !ip.IsValid(len(p)) {
			return
		}
		*out = append(*out, fmt.Sprintf("ipv4 tos=%#x len=%d id=%d flags=%d frag=%d ttl=%d proto=%d csum=%#04x src=%v dst=%v opts=%x",
			ip.TOS(), ip.TotalLength(), ip.ID(), ip.Flags(), ip.FragmentOffset(), ip.TTL(), ip.Protocol(), ip.Checksum(),
			ip.SourceAddress(), ip.DestinationAddress(), ip.Options()))
		if !ip.IsChecksumValid() {
			*out = append(*out, "BAD-CSUM ipv4")
		}
		if ip.IsFragment() {
			return
		}
		ourTransport(ip.Protocol(), ip.Payload(), func(proto uint8, l int) uint16 { return ip.PseudoHeaderSum(proto, uint16(l)) }, out)
	case header.EtherTypeIPv6:
		ip := header.IPv6(p)
		if !ip.IsValid(len(p)) {
			return
		}
		*out = append(*out, fmt.Sprintf("ipv6 tc=%#x fl=%#x len=%d nh=%d hl=%d src=%v dst=%v",
			ip.TrafficClass(), ip.FlowLabel(), ip.PayloadLength(), ip.NextHeader(), ip.HopLimit(), ip.SourceAddress(), ip.DestinationAddress()))
		ourTransport(ip.NextHeader(), ip.Payload(), func(proto uint8, l int) uint16 { return ip.PseudoHeaderSum(proto, uint32(l)) }, out)
	case header.EtherTypeARP:
		a := header.ARP(p)
		if !a.IsValid() {
			return
		}
		*out = append(*out, fmt.Sprintf("arp op=%d sha=%v spa=%v tha=%v tpa=%v",
			a.Op(), a.SenderHardwareAddress(), a.SenderProtocolAddress(), a.TargetHardwareAddress(), a.TargetProtocolAddress()))
	}
}

func ourTransport(proto uint8, b []byte, pseudo func(uint8, int) uint16, out *[]string) {
	switch proto {
	case header.UDPProtocolNumber:
		u := header.UDP(b)
		if !u.IsValid() {
			return
		}
		*out = append(*out, fmt.Sprintf("udp sport=%d dport=%d len=%d csum=%#04x", u.SourcePort(), u.DestinationPort(), u.Length(), u.Checksum()))
		if u.Checksum() != 0 && !u[:u.Length()].IsChecksumValid(pseudo(proto, int(u.Length()))) {
			*out = append(*out, "BAD-CSUM udp")
		}
		if u.DestinationPort() == header.VXLANPort {
			v := header.VXLAN(u.Payload())
			if !v.IsValid() {
				return
			}
			*out = append(*out, fmt.Sprintf("vxlan i=%v vni=%d g=%v d=%v a=%v gpid=%d",
				v.IFlag(), v.VNI(), v.GBP(), v.GBPDontLearn(), v.GBPPolicyApplied(), v.GroupPolicyID()))
			ourEthernet(v[header.VXLANSize:], out)
		}
	case header.TCPProtocolNumber:
		tc := header.TCP(b)
		if !tc.IsValid() {
			return
		}
		var kinds []uint8
		for o := tc.Options(); len(o) > 0; {
			kind, _, rest, ok := header.NextTCPOption(o)
			if !ok {
				break // like tcp_parse_options and gopacket: stop at a malformed option
			}
			kinds = append(kinds, kind)
			o = rest
		}
		*out = append(*out, fmt.Sprintf("tcp sport=%d dport=%d seq=%d ack=%d doff=%d flags=%s win=%d csum=%#04x urg=%d opts=%x kinds=%v",
			tc.SourcePort(), tc.DestinationPort(), tc.SequenceNumber(), tc.AckNumber(), tc.DataOffset(), tc.Flags(),
			tc.WindowSize(), tc.Checksum(), tc.UrgentPointer(), tc.Options(), kinds))
		if !tc.IsChecksumValid(pseudo(proto, len(tc))) {
			*out = append(*out, "BAD-CSUM tcp")
		}
	case header.ICMPv6ProtocolNumber:
		m := header.ICMPv6(b)
		if len(m) < 4 {
			return
		}
		*out = append(*out, fmt.Sprintf("icmpv6 type=%d code=%d csum=%#04x", m.Type(), m.Code(), m.Checksum()))
		if !m.IsChecksumValid(pseudo(proto, len(m))) {
			*out = append(*out, "BAD-CSUM icmpv6")
		}
		switch m.Type() {
		case header.ICMPv6NeighborSolicitation:
			ns := header.NDPNeighborSolicit(m)
			if !ns.IsValid() {
				return
			}
			*out = append(*out, fmt.Sprintf("ns target=%v opts=%s", ns.TargetAddress(), ourNDPOptions(ns.Options())))
		case header.ICMPv6NeighborAdvertisement:
			na := header.NDPNeighborAdvert(m)
			if !na.IsValid() {
				return
			}
			*out = append(*out, fmt.Sprintf("na flags=%#x target=%v opts=%s", na.Flags(), na.TargetAddress(), ourNDPOptions(na.Options())))
		}
	}
}

func ourNDPOptions(o header.NDPOptions) string {
	var s []string
	for len(o) > 0 {
		typ, body, rest, ok := o.Next()
		if !ok {
			return "malformed"
		}
		s = append(s, fmt.Sprintf("%d:%x", typ, body))
		o = rest
	}
	return "[" + strings.Join(s, " ") + "]"
}

func mac(hw net.HardwareAddr) header.MAC {
	if len(hw) != 6 {
		return header.MAC{} // a mutated ARP header with another hardware size
	}
	return header.MAC(hw)
}

func addr(ip net.IP) netip.Addr  { a, _ := netip.AddrFromSlice(ip); return a }
func addr4(ip net.IP) netip.Addr { return addr(ip.To4()) }
func tcpFlags(t *layers.TCP) header.TCPFlags {
	var f header.TCPFlags
	for i, on := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if on {
			f |= 1 << i
		}
	}
	return f
}

// gopacketLayers describes frame as decoded by gopacket. failed reports
// that gopacket stopped with a decoding error; its decoders add the failing
// layer (with partial fields) before returning the error, so that layer is
// the last record.
func gopacketLayers(frame []byte) (out []string, failed bool) {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			out = append(out, fmt.Sprintf("eth dst=%v src=%v type=%#04x", mac(l.DstMAC), mac(l.SrcMAC), uint16(l.EthernetType)))
		case *layers.Dot1Q:
			out = append(out, fmt.Sprintf("vlan pcp=%d dei=%v vid=%d type=%#04x", l.Priority, l.DropEligible, l.VLANIdentifier, uint16(l.Type)))
		case *layers.IPv4:
			out = append(out, fmt.Sprintf("ipv4 tos=%#x len=%d id=%d flags=%d frag=%d ttl=%d proto=%d csum=%#04x src=%v dst=%v opts=%x",
				l.TOS, l.Length, l.Id, uint8(l.Flags), l.FragOffset*8, l.TTL, uint8(l.Protocol), l.Checksum,
				addr4(l.SrcIP), addr4(l.DstIP), tail(l.Contents, header.IPv4MinimumSize)))
		case *layers.IPv6:
			out = append(out, fmt.Sprintf("ipv6 tc=%#x fl=%#x len=%d nh=%d hl=%d src=%v dst=%v",
				l.TrafficClass, l.FlowLabel, l.Length, uint8(l.NextHeader), l.HopLimit, addr(l.SrcIP), addr(l.DstIP)))
		case *layers.ARP:
			out = append(out, fmt.Sprintf("arp op=%d sha=%v spa=%v tha=%v tpa=%v",
				l.Operation, mac(l.SourceHwAddress), addr4(l.SourceProtAddress), mac(l.DstHwAddress), addr4(l.DstProtAddress)))
		case *layers.UDP:
			out = append(out, fmt.Sprintf("udp sport=%d dport=%d len=%d csum=%#04x", l.SrcPort, l.DstPort, l.Length, l.Checksum))
		case *layers.VXLAN:
			out = append(out, fmt.Sprintf("vxlan i=%v vni=%d g=%v d=%v a=%v gpid=%d",
				l.ValidIDFlag, l.VNI, l.GBPExtension, l.GBPDontLearn, l.GBPApplied, l.GBPGroupPolicyID))
		case *layers.TCP:
			var kinds []uint8
			for _, o := range l.Options {
				kinds = append(kinds, uint8(o.OptionType))
			}
			out = append(out, fmt.Sprintf("tcp sport=%d dport=%d seq=%d ack=%d doff=%d flags=%s win=%d csum=%#04x urg=%d opts=%x kinds=%v",
				l.SrcPort, l.DstPort, l.Seq, l.Ack, int(l.DataOffset)*4, tcpFlags(l), l.Window, l.Checksum, l.Urgent,
				tail(l.Contents, header.TCPMinimumSize), kinds))
		case *layers.ICMPv6:
			out = append(out, fmt.Sprintf("icmpv6 type=%d code=%d csum=%#04x", l.TypeCode.Type(), l.TypeCode.Code(), l.Checksum))
		case *layers.ICMPv6NeighborSolicitation:
			out = append(out, fmt.Sprintf("ns target=%v opts=%s", addr(l.TargetAddress), gopacketNDPOptions(l.Options)))
		case *layers.ICMPv6NeighborAdvertisement:
			out = append(out, fmt.Sprintf("na flags=%#x target=%v opts=%s", l.Flags, addr(l.TargetAddress), gopacketNDPOptions(l.Options)))
		}
	}
	return out, p.ErrorLayer() != nil
}

// tail returns b[n:], or nil when gopacket kept fewer than n bytes of a
// truncated layer.
func tail(b []byte, n int) []byte {
	if len(b) < n {
		return nil
	}
	return b[n:]
}

func gopacketNDPOptions(opts layers.ICMPv6Options) string {
	var s []string
	for _, o := range opts {
		s = append(s, fmt.Sprintf("%d:%x", o.Type, o.Data))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func compareLayers(t *testing.T, name string, frame []byte) {
	t.Helper()
	ours := ourLayers(frame)
	theirs, failed := gopacketLayers(frame)
	if failed {
		t.Fatalf("%s: gopacket failed to decode % x", name, frame)
	}
	if !slices.Equal(ours, theirs) {
		t.Fatalf("%s: decoders disagree on frame\n% x\nheader:\n  %s\ngopacket:\n  %s", name, frame,
			strings.Join(ours, "\n  "), strings.Join(theirs, "\n  "))
	}
}

func TestGopacketGolden(t *testing.T) {
	compareLayers(t, "goldenVXLANTCP", unhex(t, goldenVXLANTCP))
	if n := len(ourLayers(unhex(t, goldenVXLANTCP))); n != 7 {
		t.Errorf("golden frame decoded into %d layers, want 7", n)
	}
}

// ---- random frames serialized by gopacket, decoded by both ----

type frameGen struct{ r *rand.Rand }

func (g frameGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g frameGen) mac() net.HardwareAddr { return net.HardwareAddr(g.bytes(6)) }
func (g frameGen) ip4() net.IP           { return net.IP(g.bytes(4)) }
func (g frameGen) ip6() net.IP           { return net.IP(g.bytes(16)) }
func (g frameGen) bool() bool            { return g.r.IntN(2) == 1 }

// port returns a port gopacket does not map to an application decoder.
func (g frameGen) udpPort() layers.UDPPort {
	for {
		p := layers.UDPPort(1024 + g.r.IntN(64512))
		if p.LayerType() == gopacket.LayerTypePayload && p != header.VXLANPort {
			return p
		}
	}
}

func (g frameGen) tcpPort() layers.TCPPort {
	for {
		p := layers.TCPPort(g.r.IntN(65536))
		if p.LayerType() == gopacket.LayerTypePayload {
			return p
		}
	}
}

// ethernet returns an Ethernet layer with 0-2 VLAN tags ending in typ.
func (g frameGen) ethernet(typ layers.EthernetType) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{DstMAC: g.mac(), SrcMAC: g.mac(), EthernetType: typ}
	out := []gopacket.SerializableLayer{eth}
	n := g.r.IntN(3)
	prev := &eth.EthernetType
	for i := 0; i < n; i++ {
		tpid := layers.EthernetTypeDot1Q
		if i == 0 && n == 2 && g.bool() {
			tpid = layers.EthernetTypeQinQ
		}
		*prev = tpid
		q := &layers.Dot1Q{Priority: uint8(g.r.IntN(8)), DropEligible: g.bool(), VLANIdentifier: uint16(g.r.IntN(4096)), Type: typ}
		out = append(out, q)
		prev = &q.Type
	}
	return out
}

func (g frameGen) ipv4(proto layers.IPProtocol, options bool) *layers.IPv4 {
	ip := &layers.IPv4{Version: 4, TOS: uint8(g.r.Uint32()), Id: uint16(g.r.Uint32()), TTL: uint8(g.r.Uint32()),
		Protocol: proto, SrcIP: g.ip4(), DstIP: g.ip4()}
	if g.bool() {
		ip.Flags = layers.IPv4DontFragment
	}
	if options {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		if g.bool() {
			ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 7, OptionLength: 7, OptionData: append([]byte{4}, g.bytes(4)...)})
		}
	}
	return ip
}

func (g frameGen) ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: uint8(g.r.Uint32()), FlowLabel: g.r.Uint32() & 0xfffff,
		NextHeader: next, HopLimit: uint8(g.r.Uint32()), SrcIP: g.ip6(), DstIP: g.ip6()}
}

func (g frameGen) tcp(nl gopacket.NetworkLayer) []gopacket.SerializableLayer {
	t := &layers.TCP{SrcPort: g.tcpPort(), DstPort: g.tcpPort(), Seq: g.r.Uint32(), Ack: g.r.Uint32(),
		Window: uint16(g.r.Uint32()), Urgent: uint16(g.r.Uint32())}
	f := uint8(g.r.Uint32())
	t.FIN, t.SYN, t.RST, t.PSH = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	t.ACK, t.URG, t.ECE, t.CWR = f&16 != 0, f&32 != 0, f&64 != 0, f&128 != 0
	for n := g.r.IntN(5); n > 0; n-- {
		switch g.r.IntN(6) {
		case 0:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: g.bytes(2)})
		case 1:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: g.bytes(1)})
		case 2:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted})
		case 3:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: g.bytes(8)})
		case 4:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: g.bytes(8 * (1 + g.r.IntN(3)))})
		case 5:
			t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop})
		}
	}
	if len(t.Options) > 0 && g.r.IntN(4) == 0 {
		t.Options = append(t.Options, layers.TCPOption{OptionType: layers.TCPOptionKindEndList})
	}
	// Keep within the 40-byte option space.
	for optLen(t.Options) > 40 {
		t.Options = t.Options[:len(t.Options)-1]
	}
	t.SetNetworkLayerForChecksum(nl)
	return []gopacket.SerializableLayer{t, gopacket.Payload(g.bytes(g.r.IntN(64)))}
}

func optLen(opts []layers.TCPOption) int {
	n := 0
	for _, o := range opts {
		if o.OptionType <= 1 {
			n++
		} else {
			n += 2 + len(o.OptionData)
		}
	}
	return n
}

// inner returns an inner Ethernet frame carrying IPv4/TCP, IPv6/TCP or ARP.
func (g frameGen) inner() []gopacket.SerializableLayer {
	switch g.r.IntN(3) {
	case 0:
		ip := g.ipv4(layers.IPProtocolTCP, false)
		return append(append(g.ethernet(layers.EthernetTypeIPv4), ip), g.tcp(ip)...)
	case 1:
		ip := g.ipv6(layers.IPProtocolTCP)
		return append(append(g.ethernet(layers.EthernetTypeIPv6), ip), g.tcp(ip)...)
	default:
		return append(g.ethernet(layers.EthernetTypeARP), g.arp())
	}
}

func (g frameGen) arp() *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: uint16(1 + g.r.IntN(2)), SourceHwAddress: g.mac(), SourceProtAddress: g.ip4(), DstHwAddress: g.mac(), DstProtAddress: g.ip4()}
}

func (g frameGen) vxlan() *layers.VXLAN {
	v := &layers.VXLAN{ValidIDFlag: g.r.IntN(8) != 0, VNI: g.r.Uint32() & 0xffffff}
	if g.bool() {
		v.GBPExtension, v.GBPDontLearn, v.GBPApplied, v.GBPGroupPolicyID = true, g.bool(), g.bool(), uint16(g.r.Uint32())
	}
	return v
}

func (g frameGen) ndp(ip *layers.IPv6) []gopacket.SerializableLayer {
	var opts layers.ICMPv6Options
	for n := g.r.IntN(3); n > 0; n-- {
		switch g.r.IntN(3) {
		case 0:
			opts = append(opts, layers.ICMPv6Option{Type: layers.ICMPv6OptSourceAddress, Data: g.bytes(6)})
		case 1:
			opts = append(opts, layers.ICMPv6Option{Type: layers.ICMPv6OptTargetAddress, Data: g.bytes(6)})
		default:
			opts = append(opts, layers.ICMPv6Option{Type: layers.ICMPv6OptMTU, Data: g.bytes(6)})
		}
	}
	icmp := &layers.ICMPv6{}
	icmp.SetNetworkLayerForChecksum(ip)
	if g.bool() {
		icmp.TypeCode = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)
		return []gopacket.SerializableLayer{icmp, &layers.ICMPv6NeighborSolicitation{TargetAddress: g.ip6(), Options: opts}}
	}
	icmp.TypeCode = layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)
	return []gopacket.SerializableLayer{icmp, &layers.ICMPv6NeighborAdvertisement{Flags: uint8(g.r.IntN(8)) << 5, TargetAddress: g.ip6(), Options: opts}}
}

// frame returns the layers of one random frame.
func (g frameGen) frame() []gopacket.SerializableLayer {
	switch g.r.IntN(6) {
	case 0, 1: // IPv4 underlay, VXLAN
		ip := g.ipv4(layers.IPProtocolUDP, g.r.IntN(4) == 0)
		udp := &layers.UDP{SrcPort: layers.UDPPort(49152 + g.r.IntN(16384)), DstPort: header.VXLANPort}
		udp.SetNetworkLayerForChecksum(ip)
		out := append(g.ethernet(layers.EthernetTypeIPv4), ip, udp, g.vxlan())
		return append(out, g.inner()...)
	case 2: // IPv6 underlay, VXLAN
		ip := g.ipv6(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: layers.UDPPort(49152 + g.r.IntN(16384)), DstPort: header.VXLANPort}
		udp.SetNetworkLayerForChecksum(ip)
		out := append(g.ethernet(layers.EthernetTypeIPv6), ip, udp, g.vxlan())
		return append(out, g.inner()...)
	case 3: // plain UDP over IPv4 with options, maybe a fragment
		ip := g.ipv4(layers.IPProtocolUDP, g.bool())
		if g.r.IntN(3) == 0 {
			ip.Flags |= layers.IPv4MoreFragments
			ip.FragOffset = uint16(g.r.IntN(8192))
		}
		udp := &layers.UDP{SrcPort: g.udpPort(), DstPort: g.udpPort()}
		udp.SetNetworkLayerForChecksum(ip)
		return append(g.ethernet(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(g.bytes(g.r.IntN(40))))
	case 4:
		ip := g.ipv6(layers.IPProtocolICMPv6)
		return append(append(g.ethernet(layers.EthernetTypeIPv6), ip), g.ndp(ip)...)
	default:
		return g.inner()
	}
}

// TestGopacketRandomFrames serializes random frames with gopacket
// (lengths and checksums computed by gopacket) and decodes them with both.
func TestGopacketRandomFrames(t *testing.T) {
	g := frameGen{rand.New(rand.NewPCG(1, 2))}
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, g.frame()...); err != nil {
			t.Fatalf("frame %d: gopacket serialize: %v", i, err)
		}
		compareLayers(t, fmt.Sprintf("frame %d", i), buf.Bytes())
	}
}

// TestGopacketMutatedFrames flips random bytes of valid frames. Wherever
// gopacket still decodes a layer and our IsValid accepts it, the fields
// must agree; the comparison stops at the first layer either side rejects.
func TestGopacketMutatedFrames(t *testing.T) {
	g := frameGen{rand.New(rand.NewPCG(3, 4))}
	n := 3000
	if s := os.Getenv("VTEP_MUTATIONS"); s != "" {
		n, _ = strconv.Atoi(s) // longer runs by hand
	}
	if testing.Short() {
		n = 300
	}
	compared := 0
	for i := 0; i < n; i++ {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, g.frame()...); err != nil {
			t.Fatal(err)
		}
		frame := bytes.Clone(buf.Bytes())
		for k := 1 + g.r.IntN(3); k > 0; k-- {
			frame[g.r.IntN(len(frame))] = byte(g.r.Uint32())
		}
		if g.r.IntN(4) == 0 {
			frame = frame[:g.r.IntN(len(frame))]
		}
		ours := ourLayers(frame)
		theirs, failed := gopacketLayers(frame)
		if failed && len(theirs) > 0 {
			// gopacket rejects more than IsValid does (for example
			// malformed IPv4 or TCP options, which our views leave to
			// the caller); drop the layer it failed on.
			theirs = theirs[:len(theirs)-1]
		}
		// Compare the common prefix, ignoring our BAD-CSUM records (gopacket
		// does not verify checksums) and stopping at the first layer whose
		// kind differs (one decoder rejected it).
		ours = slices.DeleteFunc(ours, func(s string) bool { return strings.HasPrefix(s, "BAD-CSUM") })
		for j := 0; j < min(len(ours), len(theirs)); j++ {
			if kind(ours[j]) != kind(theirs[j]) {
				break
			}
			if ours[j] != theirs[j] && !mptcpDifference(ours[j], theirs[j]) {
				t.Fatalf("frame %d layer %d:\n header:   %s\n gopacket: %s\nframe % x", i, j, ours[j], theirs[j], frame)
			}
			compared++
		}
	}
	t.Logf("compared %d layers", compared)
}

// mptcpDifference reports a TCP option list that differs only because
// gopacket validates MPTCP (kind 30) subtypes and stops at one it dislikes;
// the kernel's tcp_parse_options hands MPTCP to mptcp_parse_option and keeps
// going, as NextTCPOption does.
func mptcpDifference(ours, theirs string) bool {
	o, ok1 := strings.CutSuffix(ours, "]")
	th, ok2 := strings.CutSuffix(theirs, "]")
	if kind(ours) != "tcp" || !ok1 || !ok2 || !strings.HasPrefix(o, th) {
		return false
	}
	rest := o[len(th):]
	return strings.HasPrefix(rest, " 30") || (strings.HasSuffix(th, "[") && strings.HasPrefix(rest, "30"))
}

func kind(s string) string { k, _, _ := strings.Cut(s, " "); return k }

// ---- frames encoded by package header, decoded by gopacket ----

// TestGopacketDecodesOurEncoding builds frames with the XxxFields encoders
// and our checksum methods, then checks that gopacket decodes the same
// fields and that re-serializing gopacket's layers with freshly computed
// lengths and checksums reproduces our bytes exactly.
func TestGopacketDecodesOurEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := frameGen{r}
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i := 0; i < n; i++ {
		frame := buildOurFrame(g)
		compareLayers(t, fmt.Sprintf("our frame %d", i), frame)

		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("our frame %d: gopacket error: %v", i, el.Error())
		}
		var sl []gopacket.SerializableLayer
		var nl gopacket.NetworkLayer
		for _, l := range p.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				nl = l
			case *layers.IPv6:
				nl = l
			case *layers.UDP:
				l.SetNetworkLayerForChecksum(nl)
			case *layers.TCP:
				l.SetNetworkLayerForChecksum(nl)
			}
			sl = append(sl, l.(gopacket.SerializableLayer))
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, sl...); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), frame) {
			t.Fatalf("our frame %d: gopacket re-serialization differs\nours     % x\ngopacket % x", i, frame, buf.Bytes())
		}
	}
}

// buildOurFrame builds Ethernet/IPvX/UDP(4789)/VXLAN/Ethernet/IPvX/TCP with
// random fields, computing every length and checksum with package header.
// Both Ethernet payloads are at least 46 bytes, so gopacket adds no padding
// when it re-serializes.
func buildOurFrame(g frameGen) []byte {
	r := g.r
	payload := g.bytes(10 + r.IntN(100)) // inner Ethernet payload >= 46: no padding
	var opts []byte
	if g.bool() {
		opts = header.AppendTCPMSSOption(opts, uint16(r.Uint32()))
	}
	if g.bool() {
		opts = header.AppendTCPTimestampsOption(opts, r.Uint32(), r.Uint32())
	}
	if g.bool() {
		opts = header.AppendTCPOption(opts, header.TCPOptionNOP, nil)
		opts = header.AppendTCPWindowScaleOption(opts, uint8(r.IntN(15)))
	}
	tcpf := header.TCPFields{SrcPort: uint16(g.tcpPort()), DstPort: uint16(g.tcpPort()), SeqNum: r.Uint32(), AckNum: r.Uint32(),
		Flags: header.TCPFlags(r.Uint32()), WindowSize: uint16(r.Uint32()), UrgentPointer: uint16(r.Uint32()), Options: opts}
	innerV6, outerV6 := g.bool(), g.bool()
	innerIPLen := header.IPv4MinimumSize
	if innerV6 {
		innerIPLen = header.IPv6FixedSize
	}
	outerIPLen := header.IPv4MinimumSize
	if outerV6 {
		outerIPLen = header.IPv6FixedSize
	}
	tcpLen := tcpf.EncodedLen() + len(payload)
	innerLen := header.EthernetSize + innerIPLen + tcpLen
	udpLen := header.UDPSize + header.VXLANSize + innerLen
	total := header.EthernetSize + outerIPLen + udpLen
	frame := make([]byte, total)

	ethType := func(v6 bool) uint16 {
		if v6 {
			return header.EtherTypeIPv6
		}
		return header.EtherTypeIPv4
	}
	// writeIP writes an IP header for a transport payload of n bytes and
	// returns the pseudo-header sum function.
	writeIP := func(b []byte, v6 bool, proto uint8, n int) func(int) uint16 {
		if v6 {
			ip := header.IPv6(b)
			ip.Encode(&header.IPv6Fields{TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32(), PayloadLength: uint16(n),
				NextHeader: proto, HopLimit: uint8(r.Uint32()), SrcAddr: addr(g.ip6()), DstAddr: addr(g.ip6())})
			return func(l int) uint16 { return ip.PseudoHeaderSum(proto, uint32(l)) }
		}
		ip := header.IPv4(b)
		var flags uint8
		if g.bool() {
			flags = header.IPv4FlagDontFragment
		}
		ip.Encode(&header.IPv4Fields{TOS: uint8(r.Uint32()), TotalLength: uint16(header.IPv4MinimumSize + n), ID: uint16(r.Uint32()),
			Flags: flags, TTL: uint8(r.Uint32()), Protocol: proto, SrcAddr: addr4(g.ip4()), DstAddr: addr4(g.ip4())})
		ip.SetChecksum(ip.CalculateChecksum())
		return func(l int) uint16 { return ip.PseudoHeaderSum(proto, uint16(l)) }
	}

	off := 0
	header.Ethernet(frame).Encode(&header.EthernetFields{Destination: mac(g.mac()), Source: mac(g.mac()), Type: ethType(outerV6)})
	off += header.EthernetSize
	outerPseudo := writeIP(frame[off:], outerV6, header.UDPProtocolNumber, udpLen)
	off += outerIPLen
	udp := header.UDP(frame[off : off+udpLen])
	udp.Encode(&header.UDPFields{SrcPort: uint16(49152 + r.IntN(16384)), DstPort: header.VXLANPort, Length: uint16(udpLen)})
	off += header.UDPSize
	vf := header.VXLANFields{VNI: header.VNI(r.Uint32()) & header.MaxVNI}
	if g.bool() {
		vf.GBP, vf.GBPDontLearn, vf.GBPPolicyApplied, vf.GroupPolicyID = true, g.bool(), g.bool(), uint16(r.Uint32())
	}
	header.VXLAN(frame[off:]).Encode(&vf)
	off += header.VXLANSize
	header.Ethernet(frame[off:]).Encode(&header.EthernetFields{Destination: mac(g.mac()), Source: mac(g.mac()), Type: ethType(innerV6)})
	off += header.EthernetSize
	innerPseudo := writeIP(frame[off:], innerV6, header.TCPProtocolNumber, tcpLen)
	off += innerIPLen
	tc := header.TCP(frame[off:])
	tc.Encode(&tcpf)
	copy(tc[tcpf.EncodedLen():], payload)
	tc.SetChecksum(tc.CalculateChecksum(innerPseudo(tcpLen)))
	udp.SetChecksum(udp.CalculateChecksum(outerPseudo(udpLen)))
	return frame
}

// TestGopacketNDPOptionsValidity compares NDPOptions.IsValid with gopacket's
// ICMPv6Options decoder on random option bytes: both reject length-zero and
// overlong options (RFC 4861 §4.6).
func TestGopacketNDPOptionsValidity(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.Uint32())
			if j%8 == 1 && r.IntN(2) == 0 {
				b[j] = byte(r.IntN(3)) // small lengths, so some are valid
			}
		}
		var o layers.ICMPv6Options
		theirs := o.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil
		if ours := header.NDPOptions(b).IsValid(); ours != theirs {
			t.Fatalf("options % x: IsValid = %v, gopacket ok = %v", b, ours, theirs)
		}
	}
}
