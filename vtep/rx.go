package vtep

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// rxBatch is the per-goroutine state of a socket's receive routine: the
// buffers it reads into and the frames it has decapsulated, grouped by
// link, waiting to be written. Everything is allocated once.
type rxBatch struct {
	worker int // the index of the socket's Conn this batch reads from
	fails  readFailures
	bufs   [][]byte
	sizes  []int
	// info[i] is what the Conn told about packet i (underlay.InfoReader):
	// whether it vouched for its whole payload, the interface it arrived
	// on; all zero for a plain Read.
	info []underlay.RxInfo
	// inIf is the interface the packet being received arrived on.
	inIf int

	groups []rxGroup // links seen in this batch, in first-seen order

	// last is the previous source learned without a drop in this batch:
	// a GRO burst is dozens of frames from one source, and learning the
	// first refreshes the entry for all (the kernel's vxlan_snoop would
	// find it known and current).
	last struct {
		l    *Link
		mac  header.MAC
		vni  header.VNI
		src  [16]byte // the outer source address (IPv4 in the first 4 bytes)
		inIf int      // the interface it arrived on
		ok   bool
	}
}

// outerSource returns the outer source address of the outer header o.
func outerSource(o []byte, v6 bool) (a [16]byte) {
	if v6 {
		copy(a[:], o[8:24])
	} else {
		copy(a[:4], o[12:16])
	}
	return a
}

// learned reports whether the same source was learned earlier in the
// batch.
func (b *rxBatch) learned(l *Link, mac []byte, vni header.VNI, o []byte, v6 bool) bool {
	c := &b.last
	return c.ok && c.l == l && c.vni == vni && c.mac == header.MAC(mac) && c.src == outerSource(o, v6) && c.inIf == b.inIf
}

func (b *rxBatch) setLearned(l *Link, mac []byte, vni header.VNI, o []byte, v6 bool) {
	c := &b.last
	c.l, c.mac, c.vni, c.src, c.inIf, c.ok = l, header.MAC(mac), vni, outerSource(o, v6), b.inIf, true
}

// rxGroup collects the frames of one batch for one link.
type rxGroup struct {
	link   *Link
	frames [][]byte // frames[i][rxOffset:] is a frame
	metas  []tap.Meta
	lens   []int       // bytes to count in rx_bytes per frame
	vnis   []*VNIStats // per-VNI counters per frame
	// partial counts frames whose partial inner checksum was found
	// (rx_csum_partial), added to the link's counter once per batch.
	partial int
}

// rxOffset is the offset at which decapsulated frames are handed to the
// overlay port: frames are re-sliced so that rxOffset bytes of headroom
// precede them, as tap.Device.Write expects.
const rxOffset = tap.Headroom

func newRXBatch(n, bufSize int) *rxBatch {
	b := &rxBatch{bufs: make([][]byte, n), sizes: make([]int, n), info: make([]underlay.RxInfo, n)}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bufSize)
	}
	return b
}

func (b *rxBatch) group(l *Link) *rxGroup {
	for i := range b.groups {
		if b.groups[i].link == l {
			return &b.groups[i]
		}
	}
	for i := len(b.groups); i < cap(b.groups); i++ {
		// Reuse a slot (and its slices) from an earlier batch.
		b.groups = b.groups[:i+1]
		g := &b.groups[i]
		g.link = l
		return g
	}
	n := len(b.bufs)
	b.groups = append(b.groups, rxGroup{
		link:   l,
		frames: make([][]byte, 0, n),
		metas:  make([]tap.Meta, 0, n),
		lens:   make([]int, 0, n),
		vnis:   make([]*VNIStats, 0, n),
	})
	return &b.groups[len(b.groups)-1]
}

// routineReceive reads outer packets from the socket's Conn w and
// delivers their frames, to overlay queue w of each link, until the Conn
// is closed (the last link using the socket was deleted) or keeps failing.
func (s *socket) routineReceive(w int) {
	defer s.host.wg.Done()
	defer s.host.pinRoutine(w)()
	conn := s.conns[w]
	bs := min(max(conn.BatchSize(), 1), 256)
	b := newRXBatch(bs, s.host.bufSize)
	b.worker = w
	for s.receiveBatch(conn, b) {
	}
}

// receiveBatch is one turn of the receive loop: one Read from conn and
// the packets it returned. It reports whether the loop goes on.
func (s *socket) receiveBatch(conn underlay.Conn, b *rxBatch) bool {
	var n int
	var err error
	if ir, ok := conn.(underlay.InfoReader); ok {
		n, err = ir.ReadInfo(b.bufs, b.sizes, b.info, tap.Headroom)
	} else {
		n, err = conn.Read(b.bufs, b.sizes, tap.Headroom)
		clear(b.info[:n])
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return false
		}
		if !b.fails.fail(s.host, err, "underlay read keeps failing; socket receive stopped", "socket", s.key.String()) {
			return false
		}
		if n == 0 {
			return true
		}
	}
	b.fails = 0
	s.receive(b, n)
	return true
}

// receive processes n packets read into b.bufs.
func (s *socket) receive(b *rxBatch, n int) {
	s.host.stats.RXPackets.Add(uint64(n))
	b.last.ok = false
	for i := range b.groups {
		g := &b.groups[i]
		g.link = nil
		g.frames, g.metas, g.lens, g.vnis = g.frames[:0], g.metas[:0], g.lens[:0], g.vnis[:0]
		g.partial = 0
	}
	b.groups = b.groups[:0]
	for i := range n {
		b.inIf = b.info[i].Ifindex
		s.receiveOne(b, b.bufs[i], tap.Headroom, tap.Headroom+b.sizes[i], b.info[i].Verified)
	}
	for i := range b.groups {
		b.groups[i].link.deliver(&b.groups[i], b.worker)
	}
}

// hostDrop counts a drop that happens before a link is known.
func (s *socket) hostDrop(r DropReason) { s.host.stats.Drops[r].Add(1) }

// receiveOne is vxlan_rcv for the outer packet buf[start:end]: the outer
// IP and UDP headers are checked here, as the IP and UDP layers would,
// then the VXLAN header and the link's receive path. verified says the
// Conn vouched for this packet's payload (see underlay.InfoReader); it
// arrived on interface b.inIf.
func (s *socket) receiveOne(b *rxBatch, buf []byte, start, end int, verified bool) {
	pkt := buf[start:end]
	var ipLen int
	var outerTOS uint8
	if !s.key.IPv6 {
		if len(pkt) < header.IPv4MinimumSize || pkt[0]>>4 != 4 {
			s.hostDrop(DropOuterInvalid)
			return
		}
		ipLen = int(pkt[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(pkt[2:]))
		if ipLen < header.IPv4MinimumSize || tot < ipLen || tot > len(pkt) || pkt[9] != header.UDPProtocolNumber {
			s.hostDrop(DropOuterInvalid)
			return
		}
		pkt = pkt[:tot]
		outerTOS = pkt[1]
		if b.worker > 0 && pkt[16] >= 224 && pkt[16] < 240 {
			s.host.stats.MulticastCopies.Add(1)
			return
		}
	} else {
		if len(pkt) < header.IPv6FixedSize || pkt[0]>>4 != 6 {
			s.hostDrop(DropOuterInvalid)
			return
		}
		ipLen = header.IPv6FixedSize
		tot := ipLen + int(binary.BigEndian.Uint16(pkt[4:]))
		if tot > len(pkt) || pkt[6] != header.UDPProtocolNumber {
			s.hostDrop(DropOuterInvalid)
			return
		}
		pkt = pkt[:tot]
		outerTOS = uint8(binary.BigEndian.Uint16(pkt[0:]) >> 4)
		if b.worker > 0 && pkt[24] == 0xff {
			s.host.stats.MulticastCopies.Add(1)
			return
		}
	}
	udp := pkt[ipLen:]
	if len(udp) < header.UDPSize {
		s.hostDrop(DropTooShort)
		return
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < header.UDPSize || ulen > len(udp) {
		s.hostDrop(DropOuterInvalid)
		return
	}
	udp = udp[:ulen]
	if csum := binary.BigEndian.Uint16(udp[6:]); csum == 0 {
		// RFC 768: zero means no checksum over IPv4. RFC 8200 §8.1: an
		// IPv6 receiver discards it, unless RFC 6936 zero-checksum
		// reception is enabled (udp6zerocsumrx).
		// A socket that verified checksums (csumVerified) already applied
		// this rule itself (UDP_NO_CHECK6_RX) and rebuilds the outer UDP
		// header with a zero checksum, so only unverified packets are checked.
		if s.key.IPv6 && !s.zeroCsum6OK && !s.csumVerified {
			s.hostDrop(DropUDPChecksum)
			return
		}
	} else if !s.csumVerified && !udpChecksumValid(pkt, ipLen, udp, s.key.IPv6) {
		s.hostDrop(DropUDPChecksum)
		return
	}
	// vxlan_rcv: pskb_may_pull(VXLAN_HLEN).
	if len(udp) < vxlanHdrLen {
		s.hostDrop(DropTooShort)
		return
	}
	w0 := binary.BigEndian.Uint32(udp[8:])
	w1 := binary.BigEndian.Uint32(udp[12:])
	// "VNI flag always required to be set".
	if w0&vxFlagI == 0 {
		s.hostDrop(DropInvalidHeader)
		return
	}
	vni := header.VNI(w1 >> 8)
	l, vs := s.lookup(vni, b.inIf)
	if l == nil {
		s.hostDrop(DropVNINotFound)
		return
	}
	innerStart := start + ipLen + vxlanHdrLen
	innerEnd := start + ipLen + ulen
	l.receive(b, s, buf, start, innerStart, innerEnd, w0, w1, vni, vs, outerTOS, verified || s.payloadVerified)
}

// udpChecksumValid verifies a non-zero UDP checksum.
func udpChecksumValid(pkt []byte, ipLen int, udp []byte, v6 bool) bool {
	var ps uint16
	if v6 {
		ps = checksum.Pseudo(pkt[8:24], pkt[24:40], header.UDPProtocolNumber, uint32(len(udp)))
	} else {
		ps = checksum.Pseudo(pkt[12:16], pkt[16:20], header.UDPProtocolNumber, uint32(len(udp)))
	}
	return checksum.Sum(udp, ps) == 0xffff
}

// drop counts r on the link and its VNI.
func (l *Link) drop(r DropReason, vs *VNIStats) {
	l.stats.drop(r)
	vs.drop(r)
}

// receive is the part of vxlan_rcv after the VNI lookup, in the kernel's
// order (Linux with IFLA_VXLAN_RESERVED_BITS): reserved bits, GPE,
// inner Ethernet header, remote checksum offload, metadata, GBP, loop
// check and learning, inner network header, ECN, link state.
// buf[outer:innerStart] holds the outer headers, buf[innerStart:innerEnd]
// the inner frame. verified says the outer UDP checksum, which covers the
// inner frame, was non-zero and checked by the Conn.
func (l *Link) receive(b *rxBatch, s *socket, buf []byte, outer, innerStart, innerEnd int, w0, w1 uint32, vni header.VNI, vs *VNIStats, outerTOS uint8, verified bool) {
	st := l.state.Load()
	if w0&st.rsvFlags != 0 || w1&st.rsvVNI != 0 {
		// "If the header uses bits besides those enabled by the
		// netdevice configuration, treat this as a malformed packet."
		l.drop(DropInvalidHeader, vs)
		return
	}
	var meta tap.Meta
	raw := false
	if st.gpe {
		// vxlan_parse_gpe_proto.
		np := gpeToEtherType(uint8(w0))
		if w0&vxGPEP == 0 || w0&vxGPEVer != 0 || w0&vxGPEO != 0 || np == 0 {
			l.stats.Drops[DropGPEInvalid].Add(1)
			return
		}
		raw = true
		meta.Protocol = np
	}
	frame := buf[innerStart:innerEnd]
	if !raw && len(frame) < header.EthernetSize {
		// __iptunnel_pull_header: pskb_may_pull(ETH_HLEN).
		l.stats.Drops[DropTooShort].Add(1)
		return
	}
	if st.remcsumRX && w0&vxFlagRCO != 0 {
		// vxlan_remcsum: start and offset from the VNI word's low byte,
		// measured from the inner frame.
		cs := int(w1&vxRCOMask) << 1
		co := 16 // offsetof(struct tcphdr, check)
		if w1&vxRCOUDP != 0 {
			co = 6 // offsetof(struct udphdr, check)
		}
		if cs+co+2 > len(frame) {
			l.stats.Drops[DropRemcsumTruncated].Add(1)
			return
		}
		// skb_remcsum_adjust_partial: the frame stays CHECKSUM_PARTIAL
		// with the sender's pseudo-header sum in the field. An overlay
		// port that carries metadata gets it so; otherwise the checksum
		// is completed here as skb_checksum_help would on the way out.
		if l.meta {
			meta.ChecksumPartial = true
			meta.ChecksumStart, meta.ChecksumOffset = uint16(cs), uint16(co)
		} else {
			completeChecksum(frame, cs, co)
		}
	}
	if st.external {
		ipLen := innerStart - vxlanHdrLen - outer
		o := buf[outer:innerStart]
		udp := o[ipLen:]
		meta.Tunnel = tap.TunnelInfo{
			Valid:      true,
			VNI:        vni,
			RemotePort: binary.BigEndian.Uint16(udp[0:]),
			TOS:        outerTOS,
		}
		if s.key.IPv6 {
			meta.Tunnel.Remote = netip.AddrFrom16([16]byte(o[8:24]))
			meta.Tunnel.Local = netip.AddrFrom16([16]byte(o[24:40]))
			meta.Tunnel.TTL = o[7]
			meta.Tunnel.Label = binary.BigEndian.Uint32(o[0:]) & 0xfffff
		} else {
			meta.Tunnel.Remote = netip.AddrFrom4([4]byte(o[12:16]))
			meta.Tunnel.Local = netip.AddrFrom4([4]byte(o[16:20]))
			meta.Tunnel.TTL = o[8]
			meta.Tunnel.DontFragment = o[6]&0x40 != 0
		}
		meta.Tunnel.NoChecksum = binary.BigEndian.Uint16(udp[6:]) == 0
	}
	if st.gbp && w0&vxFlagGBP != 0 {
		// vxlan_parse_gbp_hdr: mark = policy ID | D<<22 | A<<19. The D
		// (don't learn) bit is not consulted by learning.
		meta.Mark = w0 & gbpMarkMask
		l.stats.RXGBP.Add(1)
		l.stats.RXGBPLastMark.Store(uint64(meta.Mark))
	}
	var et uint16
	nh := 0
	if !raw {
		// eth_type_trans, then the loop check of vxlan_set_mac.
		if header.MAC(frame[6:12]) == st.mac {
			l.stats.Drops[DropLocalMAC].Add(1)
			return
		}
		if st.learn && !b.learned(l, frame[6:12], vni, buf[outer:innerStart], s.key.IPv6) {
			if r := l.learn(st, header.MAC(frame[6:12]), vni, buf[outer:innerStart], s.key.IPv6, b.inIf); r != 0 {
				l.stats.Drops[r].Add(1)
				return
			}
			b.setLearned(l, frame[6:12], vni, buf[outer:innerStart], s.key.IPv6)
		}
		et = binary.BigEndian.Uint16(frame[12:])
		nh = header.EthernetSize
	} else {
		et = meta.Protocol
	}
	// pskb_inet_may_pull on the inner packet.
	switch et {
	case header.EtherTypeIPv4:
		if len(frame) < nh+header.IPv4MinimumSize {
			l.drop(DropInnerTruncated, vs)
			return
		}
	case header.EtherTypeIPv6:
		if len(frame) < nh+header.IPv6FixedSize {
			l.drop(DropInnerTruncated, vs)
			return
		}
	}
	// RFC 6040 decapsulation. Like the kernel we look at untagged IPv4
	// and IPv6 frames only.
	if !ecnDecapsulate(outerTOS, frame[nh:], et) {
		l.drop(DropECN, vs)
		return
	}
	if !l.up.Load() {
		l.stats.Drops[DropDevReady].Add(1)
		l.stats.RXDropped.Add(1)
		if vs != nil {
			vs.RXDrops.Add(1)
		}
		return
	}
	// A kernel peer behind a veth leaves inner checksums partial, and an
	// outer checksum the Conn verified vouches for the inner one (see
	// csum.go).
	partial := 0
	cnh, cet := nh, et
	if !raw && header.IsVLANEtherType(et) {
		cnh, cet = networkOffset(frame)
	}
	mtu := st.mtu
	if !meta.ChecksumPartial {
		partial = l.rxChecksum(frame, cnh, cet, &meta, verified, mtu)
	} else if l.meta && len(frame)-cnh > mtu {
		// Remote checksum offload left it partial; a whole GSO burst
		// still goes on as one (csum.go).
		if start, end, off, _, ok := innerL4(frame, cnh, cet); ok && off == 16 && end-cnh > mtu {
			markWhole(frame, cnh, start, end, cet, &meta, mtu)
		}
	}
	// Deliver: rx_bytes counts what follows the Ethernet header
	// (eth_type_trans pulled it), as dev_dstats_rx_add(skb->len) does.
	g := b.group(l)
	g.partial += partial
	g.frames = append(g.frames, buf[innerStart-rxOffset:innerEnd])
	g.metas = append(g.metas, meta)
	g.lens = append(g.lens, len(frame)-nh)
	g.vnis = append(g.vnis, vs)
}

// learn is vxlan_snoop for the outer header o of a packet that arrived on
// interface inIf. It returns the drop reason, or 0 to go on.
func (l *Link) learn(st *linkState, src header.MAC, vni header.VNI, o []byte, v6 bool, inIf int) DropReason {
	var ip netip.Addr
	if v6 {
		ip = netip.AddrFrom16([16]byte(o[8:24]))
	} else {
		ip = netip.AddrFrom4([4]byte(o[12:16]))
	}
	return l.snoop(src, vni, ip, inIf)
}

// snoop learns src behind ip, reached by interface ifindex when ip is
// link-local (vxlan_snoop records skb->dev->ifindex for those), and maps
// the result to a drop reason.
func (l *Link) snoop(src header.MAC, vni header.VNI, ip netip.Addr, ifindex int) DropReason {
	if !l.up.Load() {
		// vxlan_snoop creates entries only while netif_running; existing
		// ones are still refreshed and migrated.
		if !src.IsValidUnicast() {
			return DropMACInvalidSource
		}
		if e, _ := l.fdb.Get(src, vni); e == nil {
			return 0
		}
	}
	switch l.fdb.Learn(src, vni, ip, ifindex) {
	case fdb.LearnInvalidSource:
		return DropMACInvalidSource
	case fdb.LearnEntryExists:
		return DropEntryExists
	case fdb.LearnCreated:
		l.stats.Learned.Add(1)
	case fdb.LearnMigrated:
		l.stats.Migrated.Add(1)
	}
	return 0
}

// deliver writes a batch of decapsulated frames to overlay queue q and
// counts them.
func (l *Link) deliver(g *rxGroup, q int) {
	n := l.write(q, g.frames, g.metas, rxOffset)
	var pkts, bytes uint64
	var run *VNIStats
	var runPkts, runBytes uint64
	for i := range g.frames {
		vs := g.vnis[i]
		if i < n {
			pkts++
			bytes += uint64(g.lens[i])
			if vs != run {
				run.addRX(runPkts, runBytes)
				run, runPkts, runBytes = vs, 0, 0
			}
			runPkts++
			runBytes += uint64(g.lens[i])
			continue
		}
		l.stats.Drops[DropOverlayFull].Add(1)
		l.stats.RXDropped.Add(1)
		if vs != nil {
			vs.RXDrops.Add(1)
		}
	}
	run.addRX(runPkts, runBytes)
	l.stats.RXPackets.Add(pkts)
	l.stats.RXBytes.Add(bytes)
	if g.partial > 0 {
		l.stats.RXChecksumPartial.Add(uint64(g.partial))
	}
}
