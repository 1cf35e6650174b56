package vtep

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// Path MTU (skb_tunnel_check_pmtu). A frame whose network packet is longer
// than the path MTU to its remote less the encapsulation is counted
// (tx_pmtu_exceeded). When the kernel's conditions for an ICMP error hold,
// the error is built the way iptunnel_pmtud_build_icmp{,v6} builds it and
// delivered back through the link (vxlan_encap_bypass without snooping);
// on a bridge port the frame is then not sent, as in the kernel. On a
// routed link the kernel only lowers the PMTU of the frame's route and
// sends the frame; a TAP has no route of ours to lower, so the same error
// tells the host's stack instead, and the frame is sent as well.

const (
	// icmpQuote4 and icmpQuote6 are how much of the offending packet an
	// error quotes: 576 and 1280 bytes less the new IP and ICMP headers
	// (the pskb_trim in iptunnel_pmtud_build_icmp{,v6}).
	icmpQuote4 = 576 - header.IPv4MinimumSize - 8
	icmpQuote6 = 1280 - header.IPv6FixedSize - 8
	// pmtuErrorMax is the longest error frame.
	pmtuErrorMax = header.EthernetSize + 1280
)

// pmtuHeadroom is vxlan_headroom: the outer IP, UDP and VXLAN headers,
// and the inner Ethernet header unless the link is GPE.
func pmtuHeadroom(v6, gpe bool) int {
	h := header.IPv4MinimumSize + vxlanHdrLen // vxlanHdrLen: UDP and VXLAN
	if v6 {
		h = header.IPv6FixedSize + vxlanHdrLen
	}
	if !gpe {
		h += header.EthernetSize
	}
	return h
}

// mtuCache is a transmit batch's last path MTU answer: a burst of frames
// to one remote asks once.
type mtuCache struct {
	valid bool
	s     *socket
	dst   netip.Addr
	oif   int
	mtu   int
}

// pathMTU returns the path MTU to dst out of interface oif (0: as routed)
// through s, 0 when unknown.
func (b *txBatch) pathMTU(s *socket, dst netip.Addr, oif int) int {
	if s.pmtu == nil {
		return 0
	}
	c := &b.mtu
	if !c.valid || c.s != s || c.dst != dst || c.oif != oif {
		*c = mtuCache{valid: true, s: s, dst: dst, oif: oif, mtu: s.pmtu.PathMTU(dst, oif)}
	}
	return c.mtu
}

// checkPMTU is skb_tunnel_check_pmtu for the frame buf[tap.Headroom:][:size]
// whose network header is at maclen: mtu is the path MTU to the remote. It
// reports whether the frame is consumed (answered with an ICMP error on a
// bridge port) rather than to be sent.
func (l *Link) checkPMTU(b *txBatch, st *linkState, buf []byte, size, maclen int, et uint16, noError, v6 bool, mtu int, vni header.VNI) bool {
	limit := mtu - pmtuHeadroom(v6, st.gpe)
	if size-maclen <= limit {
		return false
	}
	l.stats.PMTUExceeded.Add(1)
	if noError || maclen != header.EthernetSize {
		// The kernel's builder assumes a bare Ethernet header before the
		// network header: VLAN-tagged and raw GPE frames get no error
		// here, nor do frames with tunnel metadata (external mode).
		return false
	}
	frame := buf[tap.Headroom : tap.Headroom+size]
	n := buildPMTUError(b.icmp[tap.Headroom:], frame, et, limit)
	if n == 0 {
		return false
	}
	l.stats.PMTUErrors.Add(1)
	l.bypass(b, st, l, b.icmp, n, &tap.Meta{}, vni, false)
	return l.bridgePort.Load()
}

// buildPMTUError writes into out the ICMP Fragmentation Needed (IPv4) or
// ICMPv6 Packet Too Big error for frame, an Ethernet frame without VLAN
// tags carrying the packet that did not fit into mtu, and returns its
// length; 0 when the kernel would send none (iptunnel_pmtud_check_icmp,
// iptunnel_pmtud_check_icmpv6). out holds pmtuErrorMax bytes.
func buildPMTUError(out, frame []byte, et uint16, mtu int) int {
	nh := frame[header.EthernetSize:]
	var n int
	switch et {
	case header.EtherTypeIPv4:
		n = buildFragNeeded(out[header.EthernetSize:], nh, mtu)
	case header.EtherTypeIPv6:
		n = buildPacketTooBig(out[header.EthernetSize:], nh, mtu)
	}
	if n == 0 {
		return 0
	}
	// Back to the sender: the addresses swapped, the EtherType kept.
	copy(out[0:6], frame[6:12])
	copy(out[6:12], frame[0:6])
	copy(out[12:14], frame[12:14])
	return header.EthernetSize + n
}

// icmpIsError is icmp_is_err: the ICMP types that report an error.
func icmpIsError(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// buildFragNeeded is iptunnel_pmtud_check_icmp + iptunnel_pmtud_build_icmp
// for the IPv4 packet nh: it writes the IPv4 packet of the error to out
// and returns its length, or 0.
func buildFragNeeded(out, nh []byte, mtu int) int {
	if mtu < 576 || len(nh) < header.IPv4MinimumSize || binary.BigEndian.Uint16(nh[6:]) != 0x4000 {
		return 0 // too small a PMTU to report, or not DF alone (RFC 1191)
	}
	src, dst := netip.AddrFrom4([4]byte(nh[12:16])), netip.AddrFrom4([4]byte(nh[16:20]))
	bcast := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if dst == bcast || dst.IsMulticast() || nh[12] == 0 || src.IsLoopback() || src == bcast || src.IsMulticast() {
		return 0
	}
	if nh[9] == header.ICMPv4ProtocolNumber {
		ihl := int(nh[0]&0x0f) * 4
		if ihl >= len(nh) || icmpIsError(nh[ihl]) {
			return 0 // never an error about an error (RFC 1122 3.2.2)
		}
	}
	quote := nh[:min(len(nh), icmpQuote4)]
	ip := out[:header.IPv4MinimumSize]
	icmp := out[header.IPv4MinimumSize:]
	copy(icmp[8:], quote)
	icmp[0], icmp[1] = 3, 4 // destination unreachable, fragmentation needed
	binary.BigEndian.PutUint32(icmp[2:], 0)
	binary.BigEndian.PutUint16(icmp[6:], uint16(mtu))
	binary.BigEndian.PutUint16(icmp[2:], checksum.Checksum(icmp[:8+len(quote)], 0))
	total := header.IPv4MinimumSize + 8 + len(quote)
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	binary.BigEndian.PutUint32(ip[4:], 0x4000) // ID 0, DF
	ip[8], ip[9] = nh[8], header.ICMPv4ProtocolNumber
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], nh[16:20])
	copy(ip[16:20], nh[12:16])
	binary.BigEndian.PutUint16(ip[10:], ipv4HeaderChecksum(ip))
	return total
}

// buildPacketTooBig is iptunnel_pmtud_check_icmpv6 +
// iptunnel_pmtud_build_icmpv6 for the IPv6 packet nh.
func buildPacketTooBig(out, nh []byte, mtu int) int {
	if mtu < 1280 || len(nh) < header.IPv6FixedSize {
		return 0
	}
	src := netip.AddrFrom16([16]byte(nh[8:24]))
	if src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() {
		return 0
	}
	proto, off, ok := header.IPv6(nh).UpperLayer()
	if !ok || proto == header.IPv6FragmentProtocolNumber && header.IPv6Fragment(nh[off:]).FragmentOffset() != 0 {
		return 0 // malformed, or not the first fragment
	}
	if proto == header.ICMPv6ProtocolNumber {
		if off >= len(nh) || nh[off] < 128 || nh[off] == 137 {
			return 0 // an error, or a redirect
		}
	}
	quote := nh[:min(len(nh), icmpQuote6)]
	ip := out[:header.IPv6FixedSize]
	icmp := out[header.IPv6FixedSize:]
	copy(icmp[8:], quote)
	plen := 8 + len(quote)
	icmp[0], icmp[1] = 2, 0 // packet too big
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint32(icmp[4:], uint32(mtu))
	binary.BigEndian.PutUint32(ip[0:], 6<<28)
	binary.BigEndian.PutUint16(ip[4:], uint16(plen))
	ip[6], ip[7] = header.ICMPv6ProtocolNumber, nh[7]
	copy(ip[8:24], nh[24:40])
	copy(ip[24:40], nh[8:24])
	ps := checksum.Pseudo(ip[8:24], ip[24:40], header.ICMPv6ProtocolNumber, uint32(plen))
	binary.BigEndian.PutUint16(icmp[2:], checksum.Checksum(icmp[:plen], ps))
	return header.IPv6FixedSize + plen
}
