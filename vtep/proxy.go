package vtep

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// ARP hardware types arp_reduce accepts (ARPHRD_ETHER, ARPHRD_IEEE802).
const (
	arpHrdEther   = 1
	arpHrdIEEE802 = 6
)

// proxyAnswerable reports whether proxy ARP/ND may answer for the
// neighbour n: it must be NUD_CONNECTED, and the FDB entry of its MAC, if
// any, must not be bridge-local (first remote 0.0.0.0 or ::). It also
// returns whether that entry has NTF_ROUTER.
func (l *Link) proxyAnswerable(n Neighbor, vni header.VNI) (ok, router bool) {
	if n.State&NUDConnected == 0 {
		return false, false
	}
	if f := l.fdb.Lookup(n.MAC, vni); f != nil {
		if r, ok := f.FirstRemote(); ok && r.BridgeLocal() {
			return false, false
		}
		router = f.IsRouter()
	}
	return true, router
}

// arpReduce is arp_reduce: with proxy on, an ARP request is answered from
// the neighbour table when the target is known and reachable, and is
// consumed in every case. frame holds at least an Ethernet header.
func (l *Link) arpReduce(b *txBatch, st *linkState, frame []byte, vni header.VNI) {
	l.stats.ProxyConsumed.Add(1)
	a := frame[header.EthernetSize:]
	if len(a) < header.ARPSize {
		// pskb_may_pull(skb, arp_hdr_len(dev)) failing.
		l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, vni))
		return
	}
	hrd := binary.BigEndian.Uint16(a[0:])
	if (hrd != arpHrdEther && hrd != arpHrdIEEE802) ||
		binary.BigEndian.Uint16(a[2:]) != header.EtherTypeIPv4 ||
		binary.BigEndian.Uint16(a[6:]) != header.ARPRequest ||
		a[4] != 6 || a[5] != 4 {
		return
	}
	sha := header.MAC(a[8:14])
	sip := [4]byte(a[14:18])
	tip := netip.AddrFrom4([4]byte(a[24:28]))
	if tip.IsLoopback() || tip.IsMulticast() {
		return
	}
	n, found := l.host.neigh.LookupNeighbor(l.name, tip)
	if !found {
		if st.l3miss {
			l.miss(Miss{Kind: L3Miss, IP: tip})
		}
		return
	}
	if ok, _ := l.proxyAnswerable(n, vni); !ok {
		return
	}
	// arp_create(ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha, n->ha, sha):
	// from the neighbour to the requester, 42 bytes, not padded.
	r := b.reply[tap.Headroom : tap.Headroom+header.EthernetSize+header.ARPSize]
	copy(r[0:6], sha[:])
	copy(r[6:12], n.MAC[:])
	binary.BigEndian.PutUint16(r[12:], header.EtherTypeARP)
	p := r[header.EthernetSize:]
	binary.BigEndian.PutUint16(p[0:], arpHrdEther)
	binary.BigEndian.PutUint16(p[2:], header.EtherTypeIPv4)
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], header.ARPReply)
	copy(p[8:14], n.MAC[:])
	t4 := tip.As4()
	copy(p[14:18], t4[:])
	copy(p[18:24], sha[:])
	copy(p[24:28], sip[:])
	if l.injectReply(b, len(r), st, vni) {
		l.stats.ProxyARPReplies.Add(1)
	}
}

// neighReduce is neigh_reduce: with proxy on, an IPv6 Neighbor
// Solicitation is answered with a Neighbor Advertisement built like
// vxlan_na_create when the target is known and reachable, and is consumed
// in every case. frame holds the Ethernet, IPv6 and NS headers.
func (l *Link) neighReduce(b *txBatch, st *linkState, frame []byte, vni header.VNI) {
	l.stats.ProxyConsumed.Add(1)
	ip6 := frame[header.EthernetSize:]
	ns := ip6[header.IPv6FixedSize:]
	daddr := netip.AddrFrom16([16]byte(ip6[24:40]))
	target := netip.AddrFrom16([16]byte(ns[8:24]))
	if daddr.IsLoopback() || target.IsMulticast() {
		return
	}
	n, found := l.host.neigh.LookupNeighbor(l.name, target)
	if !found {
		if st.l3miss {
			l.miss(Miss{Kind: L3Miss, IP: target})
		}
		return
	}
	ok, router := l.proxyAnswerable(n, vni)
	if !ok {
		return
	}
	// The reply goes to the source link-layer address option, else to the
	// frame's source. A zero-length or overlong option makes the kernel
	// give up without replying.
	dmac := frame[6:12]
	opts := ns[header.NDPNeighborSolicitSize:]
	olen := len(opts)
	for i := 0; i < olen-1; i += int(opts[i+1]) << 3 {
		ol := int(opts[i+1]) << 3
		if ol == 0 || i+ol > olen {
			return
		}
		if opts[i] == header.NDPOptionSourceLinkLayerAddress {
			dmac = opts[i+2 : i+8]
			break
		}
	}
	const naLen = header.NDPNeighborAdvertSize + 8 // with a target LL option
	r := b.reply[tap.Headroom : tap.Headroom+header.EthernetSize+header.IPv6FixedSize+naLen]
	copy(r[0:6], dmac)
	copy(r[6:12], n.MAC[:])
	binary.BigEndian.PutUint16(r[12:], header.EtherTypeIPv6)
	h := r[header.EthernetSize:]
	// Version 6, the request's priority (the top four bits of its traffic
	// class), flow label 0.
	h[0] = 0x60 | ip6[0]&0x0f
	h[1], h[2], h[3] = 0, 0, 0
	binary.BigEndian.PutUint16(h[4:], naLen)
	h[6] = header.ICMPv6ProtocolNumber
	h[7] = 255
	copy(h[8:24], ns[8:24])   // source: the target
	copy(h[24:40], ip6[8:24]) // destination: the solicitor
	na := h[header.IPv6FixedSize:]
	clear(na)
	na[0] = header.ICMPv6NeighborAdvertisement
	na[4] = header.NDPFlagSolicited | header.NDPFlagOverride
	if router {
		na[4] |= header.NDPFlagRouter
	}
	copy(na[8:24], ns[8:24])
	na[24] = header.NDPOptionTargetLinkLayerAddress
	na[25] = 1
	copy(na[26:32], n.MAC[:])
	ps := checksum.Pseudo(h[8:24], h[24:40], header.ICMPv6ProtocolNumber, naLen)
	binary.BigEndian.PutUint16(na[2:], ^checksum.Sum(na, ps))
	if l.injectReply(b, len(r), st, vni) {
		l.stats.ProxyNAReplies.Add(1)
	}
}

// injectReply delivers the proxy reply in b.reply to the link's own overlay
// port, as netif_rx on the vxlan device. A refused reply counts as
// rx_dropped; a delivered one bumps no device counter.
func (l *Link) injectReply(b *txBatch, size int, st *linkState, vni header.VNI) bool {
	b.one[0] = b.reply[:tap.Headroom+size]
	b.oneMeta[0] = tap.Meta{}
	n := l.write(b.queue, b.one[:], b.oneMeta[:], tap.Headroom)
	b.one[0] = nil
	if n == 1 {
		return true
	}
	l.stats.drop(DropOverlayFull)
	if vs := l.vniStatsFor(st, vni); vs != nil {
		vs.RXDrops.Add(1)
	}
	return false
}

// routeShortCircuit is route_shortcircuit: for a unicast IPv4 or IPv6
// frame, look the inner destination address up in the neighbour table
// (whatever its NUD state) and, if its MAC differs from the frame's
// destination, rewrite the frame to it (the old destination becomes the
// source). It reports whether it rewrote the frame. An unknown address
// raises an L3 miss when l3miss is on.
func (l *Link) routeShortCircuit(st *linkState, frame []byte) bool {
	dst := header.MAC(frame[0:6])
	if dst.IsMulticast() {
		return false
	}
	var ip netip.Addr
	switch binary.BigEndian.Uint16(frame[12:]) {
	case header.EtherTypeIPv4:
		if len(frame) < header.EthernetSize+header.IPv4MinimumSize {
			return false
		}
		ip = netip.AddrFrom4([4]byte(frame[30:34]))
	case header.EtherTypeIPv6:
		if len(frame) < header.EthernetSize+header.IPv6FixedSize {
			return false
		}
		ip = netip.AddrFrom16([16]byte(frame[38:54]))
	default:
		return false
	}
	n, found := l.host.neigh.LookupNeighbor(l.name, ip)
	if !found {
		if st.l3miss {
			l.miss(Miss{Kind: L3Miss, IP: ip})
		}
		return false
	}
	if n.MAC == dst {
		return false
	}
	copy(frame[6:12], dst[:])
	copy(frame[0:6], n.MAC[:])
	return true
}
