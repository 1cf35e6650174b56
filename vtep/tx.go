package vtep

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/flow"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/mroute"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// txBatch is the per-goroutine state of a link's transmit routine: the
// buffers frames are read into, spare buffers for the copies head-end
// replication needs, and the outer packets waiting to be written, one
// queue per underlay family. Everything is allocated once and reused; the
// slices only grow (to the largest flood seen), so the steady state
// allocates nothing.
type txBatch struct {
	queue int // the overlay queue this batch reads from
	fails readFailures
	bufs  [][]byte
	sizes []int
	metas []tap.Meta

	bufSize int
	spare   [][]byte // free clone buffers
	inUse   [][]byte // clones handed out since the last flush

	q [2]txQueue // outer packets: [0] IPv4, [1] IPv6
	// limit is how many outer packets may wait before they are written.
	limit int

	// last is the FDB hit of the previous frame of this batch: a TSO
	// burst is dozens of frames to one destination, and the entry found
	// for the first serves the rest (a lookup a few microseconds late).
	last struct {
		l   *Link
		mac header.MAC
		vni header.VNI
		e   *fdb.Entry
	}

	one     [1][]byte   // single-frame overlay writes (bypass, replies)
	oneMeta [1]tap.Meta //
	reply   []byte      // proxy ARP/ND reply scratch buffer
	icmp    []byte      // PMTU error scratch buffer
	mtu     mtuCache    // the last path MTU answer, this batch
	mrOuts  []int       // multicast routing's outgoing interfaces scratch
	// segs and segSizes hold the segments of a super-frame that is not
	// sent whole (xmitSegments).
	segs     [][]byte
	segSizes []int
	// oif is the injector's last output interface answer, this batch.
	oif struct {
		valid bool
		dst   netip.Addr
		oif   int
	}
}

// txQueue holds the outer packets of one family. pkts[i] is a whole buffer
// cut at the end of its packet; the packet starts txOffset(v6) bytes in.
type txQueue struct {
	pkts   [][]byte
	oifs   []int       // output interfaces (fdb.Remote.Ifindex), 0 for none
	via    bool        // some oifs[i] is not 0
	bytes  []int       // tx_bytes: the inner length past the MAC header
	vnis   []*VNIStats // per-VNI counters, or nil
	vbytes []int       // per-VNI bytes: the whole inner frame
}

func (q *txQueue) reset() {
	clear(q.pkts) // drop references to buffers
	q.pkts, q.oifs, q.bytes, q.vnis, q.vbytes = q.pkts[:0], q.oifs[:0], q.bytes[:0], q.vnis[:0], q.vbytes[:0]
	q.via = false
}

// txOffset is where an outer packet starts in its buffer: the inner frame
// sits at tap.Headroom and the outer IP, UDP and VXLAN headers are written
// in front of it.
func txOffset(v6 bool) int {
	if v6 {
		return tap.Headroom - outer6Len
	}
	return tap.Headroom - outer4Len
}

func newTXBatch(n, bufSize int) *txBatch {
	b := &txBatch{
		bufs:    make([][]byte, n),
		sizes:   make([]int, n),
		metas:   make([]tap.Meta, n),
		bufSize: bufSize,
		limit:   max(n, 64),
		reply:   make([]byte, tap.Headroom+128),
		icmp:    make([]byte, tap.Headroom+pmtuErrorMax),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bufSize)
	}
	for i := range b.q {
		b.q[i] = txQueue{
			pkts:   make([][]byte, 0, b.limit),
			oifs:   make([]int, 0, b.limit),
			bytes:  make([]int, 0, b.limit),
			vnis:   make([]*VNIStats, 0, b.limit),
			vbytes: make([]int, 0, b.limit),
		}
	}
	return b
}

// clone copies the frame buf[tap.Headroom:tap.Headroom+size] into a spare
// buffer (skb_clone for one more remote) and returns that buffer.
func (b *txBatch) clone(buf []byte, size int) []byte {
	return b.cloneRange(buf, tap.Headroom, tap.Headroom+size)
}

// cloneRange copies buf[from:to] into a spare buffer, at the same offsets,
// and returns that buffer.
func (b *txBatch) cloneRange(buf []byte, from, to int) []byte {
	c := b.spareBuf()
	copy(c[from:to], buf[from:to])
	return c
}

// lookup is l.fdb.Lookup(mac, vni), reusing the previous frame's hit.
func (b *txBatch) lookup(l *Link, mac header.MAC, vni header.VNI) *fdb.Entry {
	c := &b.last
	if c.e != nil && c.l == l && c.mac == mac && c.vni == vni {
		return c.e
	}
	e := l.fdb.Lookup(mac, vni)
	c.l, c.mac, c.vni, c.e = l, mac, vni, e
	return e
}

// release returns the clones to the free list; the packets they held have
// been written.
func (b *txBatch) release() {
	b.spare = append(b.spare, b.inUse...)
	clear(b.inUse)
	b.inUse = b.inUse[:0]
}

// routineTransmit reads frames from the link's overlay queue q and sends
// them, through Conn q (modulo their number) of the link's socket, until
// the port is closed (the link was deleted) or keeps failing.
func (l *Link) routineTransmit(q int) {
	defer l.host.wg.Done()
	defer l.host.pinRoutine(q)()
	p := l.ports[q]
	bs := min(max(p.dev.BatchSize(), 1), 256)
	b := newTXBatch(bs, l.host.bufSize)
	b.queue = q
	for l.transmitBatch(p, b) {
	}
}

// readFailures counts a datapath routine's consecutive failed Reads.
type readFailures int

// maxReadFailures is how many Reads in a row may fail before the routine
// stops.
const maxReadFailures = 100

// fail counts a failed Read (other than a close) in the host's
// ReadErrors and reports whether the routine goes on: after
// maxReadFailures in a row it logs msg with attrs and err, and stops.
func (f *readFailures) fail(h *Host, err error, msg string, attrs ...any) bool {
	h.stats.ReadErrors.Add(1)
	if *f++; *f < maxReadFailures {
		return true
	}
	h.log.Error(msg, append(attrs, "err", err)...)
	return false
}

// transmitBatch is one turn of the transmit loop: one Read from the
// overlay queue p and the frames it returned. It reports whether the loop
// goes on.
func (l *Link) transmitBatch(p *port, b *txBatch) bool {
	var n int
	var err error
	if p.mdev != nil {
		n, err = p.mdev.ReadMeta(b.bufs, b.sizes, b.metas, tap.Headroom)
	} else {
		n, err = p.dev.Read(b.bufs, b.sizes, tap.Headroom)
		clear(b.metas[:n])
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) || l.gone.Load() {
			return false
		}
		if !b.fails.fail(l.host, err, "overlay read keeps failing; link transmit stopped", "link", l.name) {
			return false
		}
		if n == 0 {
			return true
		}
	}
	b.fails = 0
	l.transmit(b, n)
	return true
}

// transmit handles n frames read into b.bufs[i][tap.Headroom:] with their
// metadata in b.metas, then writes the outer packets.
func (l *Link) transmit(b *txBatch, n int) {
	b.last.e = nil
	b.mtu.valid = false
	b.oif.valid = false
	st := l.state.Load()
	l.fdb.Tick()
	up := l.up.Load()
	mark := l.defaultMark.Load()
	for i := range n {
		m := &b.metas[i]
		if !up {
			l.stats.Drops[DropTXDevDown].Add(1)
			continue
		}
		if m.Mark == 0 {
			m.Mark = mark
		}
		l.xmit(b, st, b.bufs[i], b.sizes[i], m)
	}
	l.flushTX(b)
}

// isRaw reports whether a frame on a GPE link is a bare network packet
// rather than an Ethernet frame (skb->protocol != ETH_P_TEB).
func isRaw(st *linkState, m *tap.Meta) bool {
	return st.gpe && m.Protocol != 0 && m.Protocol != header.EtherTypeTransparentEthernetBridging
}

// xmit is vxlan_xmit for the frame buf[tap.Headroom:][:size]: tunnel
// metadata (external mode), proxy ARP/ND, the MDB, FDB lookup with route
// short-circuit, the all-zeros fallback and L2 misses, then one
// vxlan_xmit_one per remote.
func (l *Link) xmit(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta) {
	frame := buf[tap.Headroom : tap.Headroom+size]
	var vni header.VNI // the frame's source VNI: 0, or the tunnel key's
	if st.external {
		ti := &m.Tunnel
		if !ti.Valid {
			// "packet without necessary metadata reached a device
			// which is in 'external' mode" (TUNNEL_TXINFO).
			l.stats.drop(DropTXInfo)
			return
		}
		if !ti.Bridge {
			l.xmitOne(b, st, buf, size, m, 0, nil, false)
			return
		}
		vni = ti.VNI
	}
	if isRaw(st, m) || len(frame) < header.EthernetSize {
		// FDB lookups need an Ethernet header.
		l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, vni))
		return
	}
	et := binary.BigEndian.Uint16(frame[12:])
	if st.proxy {
		if et == header.EtherTypeARP {
			l.arpReduce(b, st, frame, vni)
			return
		}
		// The kernel pulls sizeof(ipv6hdr)+sizeof(nd_msg) from the MAC
		// header; we require the whole NS body it then reads.
		if et == header.EtherTypeIPv6 && len(frame) >= header.EthernetSize+header.IPv6FixedSize+header.NDPNeighborSolicitSize &&
			frame[header.EthernetSize+6] == header.ICMPv6ProtocolNumber {
			icmp := frame[header.EthernetSize+header.IPv6FixedSize:]
			if icmp[1] == 0 && icmp[0] == header.ICMPv6NeighborSolicitation {
				l.neighReduce(b, st, frame, vni)
				return
			}
		}
	}
	if l.fdb.HasMDB() && l.mdbXmit(b, st, buf, size, m, vni) {
		return
	}
	dst := header.MAC(frame[0:6])
	f := b.lookup(l, dst, vni)
	didRSC := false
	if f != nil && f.IsRouter() && st.rsc && (et == header.EtherTypeIPv4 || et == header.EtherTypeIPv6) {
		if didRSC = l.routeShortCircuit(st, frame); didRSC {
			f = l.fdb.Lookup(header.MAC(frame[0:6]), vni)
		}
	}
	if f == nil {
		f = l.fdb.Lookup(header.ZeroMAC, vni)
		if f == nil {
			// The destination as route short-circuit may have left it.
			if dst := header.MAC(frame[0:6]); st.l2miss && !dst.IsMulticast() {
				l.miss(Miss{Kind: L2Miss, MAC: dst})
			}
			l.drop(DropNoTXTarget, l.vniStatsFor(st, vni))
			return
		}
	}
	if nhid := f.NHID(); nhid != 0 {
		if vni == 0 {
			vni = l.fdb.VNI()
		}
		l.xmitNH(b, st, buf, size, m, vni, nhid, didRSC)
		return
	}
	rs := f.Remotes()
	if len(rs) == 0 {
		l.drop(DropNoTXTarget, l.vniStatsFor(st, vni))
		return
	}
	l.replicate(b, st, buf, size, m, vni, rs, didRSC)
}

// xmitNH is vxlan_xmit_nh: an entry that points to a nexthop group sends
// the frame to one gateway of the group, chosen by the frame's flow hash
// (the hash of the outer source port), with the link's port and vni as
// the VNI.
func (l *Link) xmitNH(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta, vni header.VNI, nhid uint32, didRSC bool) {
	frame := buf[tap.Headroom : tap.Headroom+size]
	gw, ok := l.host.nexthops.Select(nhid, txHash(frame, false, m.Protocol, l.host.seed))
	if !ok {
		l.drop(DropNexthopNoPath, l.vniStatsFor(st, vni))
		return
	}
	r := fdb.Remote{IP: gw}
	l.xmitOne(b, st, buf, size, m, vni, &r, didRSC)
}

// replicate sends the frame to every remote of rs (not empty) as
// vxlan_xmit and vxlan_mdb_xmit do: every remote after the first gets a
// clone, in list order, and the first remote gets the original last.
func (l *Link) replicate(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta, vni header.VNI, rs []fdb.Remote, didRSC bool) {
	for i := 1; i < len(rs); i++ {
		c := b.clone(buf, size)
		cm := *m
		l.xmitOne(b, st, c, size, &cm, vni, &rs[i], didRSC)
	}
	l.xmitOne(b, st, buf, size, m, vni, &rs[0], didRSC)
}

// xmitOne is vxlan_xmit_one: encapsulate the frame buf[tap.Headroom:][:size]
// for the remote r (nil: the frame's tunnel metadata) and queue the outer
// packet, or deliver it to a local link (local bypass). defaultVNI is the
// frame's source VNI.
func (l *Link) xmitOne(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta, defaultVNI header.VNI, r *fdb.Remote, didRSC bool) {
	super := m.GSOType != 0
	if super {
		// A whole TCP super-frame goes out as one tunnel GSO packet
		// when it can (inject); otherwise it is segmented here.
		var dst netip.Addr
		if r == nil {
			dst = m.Tunnel.Remote
		} else if !r.BridgeLocal() {
			dst = r.IP
		}
		dst = dst.Unmap()
		if !l.injectable(st, m, dst) || (st.localBypass && l.host.isLocal(dst)) {
			l.xmitSegments(b, st, buf, size, m, defaultVNI, r, didRSC)
			return
		}
	}
	frame := buf[tap.Headroom : tap.Headroom+size]
	// skb_vlan_inet_prepare: find the network header past any VLAN
	// tags, and make sure a base IPv4/IPv6 header is there.
	raw := isRaw(st, m)
	maclen, et := 0, m.Protocol
	if !raw {
		if len(frame) < header.EthernetSize {
			l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, defaultVNI))
			return
		}
		maclen, et = networkOffset(frame)
	}
	need := maclen
	switch et {
	case header.EtherTypeIPv4:
		need += header.IPv4MinimumSize
	case header.EtherTypeIPv6:
		need += header.IPv6FixedSize
	}
	if len(frame) < need {
		l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, defaultVNI))
		return
	}
	nh := frame[maclen:]

	var ti *tap.TunnelInfo
	if st.external {
		ti = &m.Tunnel
	}
	var (
		dstIP  netip.Addr
		dport  uint16
		vni    header.VNI
		ttl    uint8
		tos    uint8
		udpSum bool
		label  uint32
		src    netip.Addr
		oif    int // the output interface (remote_ifindex), or 0
	)
	if r != nil {
		if r.BridgeLocal() {
			if didRSC {
				// "short-circuited back to local bridge"
				l.bypass(b, st, l, buf, size, m, defaultVNI, true)
				return
			}
			l.drop(DropRemoteAny, l.vniStatsFor(st, defaultVNI))
			return
		}
		dstIP = r.IP
		dport = r.TxPort(st.port)
		oif = r.Ifindex
		vni = r.TxVNI(defaultVNI)
		if st.ttlInherit {
			ttl = innerTTL(nh, et)
		} else {
			ttl = st.ttl
			if ttl == 0 && dstIP.IsMulticast() {
				ttl = 1
			}
		}
		tos = st.tos
		if tos == config.TOSInherit {
			tos = dsfield(nh, et)
		}
		if dstIP.Is6() {
			udpSum = st.udpCsum6
		} else {
			udpSum = st.udpCsum4
		}
		if st.labelInherit {
			label = flowLabel(nh, et)
		} else {
			label = st.label
		}
		src = st.local
	} else {
		dstIP = ti.Remote
		dport = ti.RemotePort
		if dport == 0 {
			dport = st.port
		}
		vni = ti.VNI
		ttl, tos = ti.TTL, ti.TOS
		udpSum = !ti.NoChecksum
		label = ti.Label & config.MaxFlowLabel
		if ti.Local.IsValid() && !ti.Local.IsUnspecified() {
			src = ti.Local
		} else {
			src = st.local
		}
	}
	vs := l.vniStatsFor(st, vni)
	dstIP = dstIP.Unmap()
	v6 := dstIP.Is6()
	s := l.sockFor(v6)
	if !dstIP.IsValid() || s == nil || (src.IsValid() && src.Is6() != v6) {
		// No route of the remote's family (ENETUNREACH).
		l.drop(DropNoRoute, vs)
		return
	}
	if !src.IsValid() {
		src = l.host.sourceFor(v6)
	}

	// Local bypass (encap_bypass_if_local), only without tunnel metadata:
	// the remote is one of this host's addresses.
	if ti == nil && st.localBypass && !dstIP.IsMulticast() && l.host.isLocal(dstIP) {
		// The route's interface: the remote's, else the device the
		// link's sockets are bound to.
		rif := oif
		if rif == 0 {
			rif = l.socks.Load().bind
		}
		dl := l.host.findLink(v6, dport, st.flags, vni, rif)
		if dl == nil {
			l.drop(DropBypassNoLink, vs)
			return
		}
		l.bypass(b, st, dl, buf, size, m, vni, true)
		return
	}

	var df bool
	if ti == nil {
		switch st.df {
		case config.DFSet:
			df = true
		case config.DFInherit:
			// The kernel looks at the Ethernet header's EtherType, not
			// past VLAN tags, and at the (VLAN-aware) network header.
			eth := binary.BigEndian.Uint16(frame[12:])
			if raw {
				eth = m.Protocol
			}
			df = eth == header.EtherTypeIPv6 || (eth == header.EtherTypeIPv4 && nh[6]&0x40 != 0)
		}
	} else {
		df = ti.DontFragment
	}
	psize := size
	if super {
		// What has to fit the path is each segment.
		cs := int(m.ChecksumStart)
		psize = min(size, cs+int(frame[cs+12]>>4)*4+int(m.GSOSize))
	}
	if mtu := b.pathMTU(s, dstIP, oif); mtu > 0 && l.checkPMTU(b, st, buf, psize, maclen, et, raw || ti != nil, v6, mtu, vni) {
		return
	}

	tos = header.ECNEncapsulate(tos, dsfield(nh, et))
	if ttl == 0 {
		ttl = l.host.ttl
	}

	// VXLAN header (vxlan_build_skb).
	w0, w1 := uint32(vxFlagI), uint32(vni)<<8
	if m.ChecksumPartial && !super {
		cs, co := int(m.ChecksumStart), int(m.ChecksumOffset)
		if st.remcsumTX && cs <= maxRemcsumStart && cs&1 == 0 && (co == 6 || co == 16) && cs+co+2 <= len(frame) {
			// Remote checksum offload: the inner checksum is left to
			// the receiver, which completes it from start and offset.
			w0 |= vxFlagRCO
			w1 |= uint32(cs >> 1)
			if co == 6 {
				w1 |= vxRCOUDP
			}
		} else if !completeChecksum(frame, cs, co) {
			// skb_checksum_help failing.
			l.drop(DropTXHeaderTruncated, vs)
			return
		}
	}
	if st.gbp && m.Mark != 0 {
		w0 |= vxFlagGBP | m.Mark&gbpMarkMask
	}
	if st.gpe {
		p := uint16(header.EtherTypeTransparentEthernetBridging)
		if raw {
			p = m.Protocol
		}
		np := etherTypeToGPE(p)
		if np == 0 {
			l.drop(DropGPEProtocol, vs)
			return
		}
		w0 |= vxGPEP | uint32(np)
	}

	// Outer headers.
	ipLen := header.IPv4MinimumSize
	if v6 {
		ipLen = header.IPv6FixedSize
	}
	udpLen := vxlanHdrLen + size
	if ipLen+udpLen > 0xffff+boolInt(v6)*header.IPv6FixedSize {
		if super {
			l.xmitSegments(b, st, buf, size, m, defaultVNI, r, didRSC)
			return
		}
		l.drop(DropTXTooBig, vs)
		return
	}
	off := tap.Headroom - ipLen - vxlanHdrLen
	pkt := buf[off : tap.Headroom+size]
	udp := pkt[ipLen:]
	binary.BigEndian.PutUint32(udp[8:], w0)
	binary.BigEndian.PutUint32(udp[12:], w1)
	var sport uint16
	if h := txHash(frame, raw, m.Protocol, l.host.seed); l.host.portByQ {
		sport = flow.SourcePortIn(h, st.srcMin, st.srcMax, b.queue, len(l.ports))
	} else {
		sport = flow.SourcePort(h, st.srcMin, st.srcMax)
	}
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	udp[6], udp[7] = 0, 0

	ip := pkt[:ipLen]
	var ps uint16 // the pseudo-header sum, when a checksum is sent
	if v6 {
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(tos)<<20|label&config.MaxFlowLabel)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = header.UDPProtocolNumber
		ip[7] = ttl
		putAddr16(ip[8:24], src)
		d := dstIP.As16()
		copy(ip[24:40], d[:])
		if udpSum {
			ps = checksum.Pseudo(ip[8:24], ip[24:40], header.UDPProtocolNumber, uint32(udpLen))
		}
	} else {
		ip[0] = 0x45
		ip[1] = tos
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+udpLen))
		// Identification and header checksum: at flush, for the batch.
		if df {
			ip[6], ip[7] = 0x40, 0
		} else {
			ip[6], ip[7] = 0, 0
		}
		ip[8] = ttl
		ip[9] = header.UDPProtocolNumber
		ip[10], ip[11] = 0, 0
		putAddr4(ip[12:16], src)
		d := dstIP.As4()
		copy(ip[16:20], d[:])
		if udpSum {
			ps = checksum.Pseudo(ip[12:16], ip[16:20], header.UDPProtocolNumber, uint32(udpLen))
		}
	}
	if udpSum {
		var c uint16
		if s.txCsumOffload || super {
			c = ps // CHECKSUM_PARTIAL: the Conn (or GSO) completes it.
		} else if c = ^checksum.Sum(udp, ps); c == 0 {
			c = 0xffff // udp_set_csum: CSUM_MANGLED_0
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}

	if st.mcroute && dstIP.IsMulticast() && l.host.mrouter != nil {
		l.mcroute(b, s, buf, off, size, maclen, src, dstIP, oif, ttl, df, udpSum && s.txCsumOffload, vs)
		return
	}
	if super {
		l.inject(b, s, buf, off, size, maclen, v6, udpSum, m, dstIP, oif, vs)
		return
	}
	l.enqueue(b, v6, buf[:tap.Headroom+size], oif, size-maclen, vs, size)
}

// enqueue queues the outer packet that ends pkt (see txQueue) to be sent
// out of interface oif (0: as routed), counting bytes toward tx_bytes and
// vbytes toward the VNI's.
func (l *Link) enqueue(b *txBatch, v6 bool, pkt []byte, oif, bytes int, vs *VNIStats, vbytes int) {
	q := &b.q[boolInt(v6)]
	q.pkts = append(q.pkts, pkt)
	q.oifs = append(q.oifs, oif)
	q.via = q.via || oif != 0
	q.bytes = append(q.bytes, bytes)
	q.vnis = append(q.vnis, vs)
	q.vbytes = append(q.vbytes, vbytes)
	if len(b.q[0].pkts)+len(b.q[1].pkts) >= b.limit {
		l.flushTX(b)
	}
}

// mcroute sends the outer packet buf[off:tap.Headroom+size], from src to
// the group dst with TTL ttl, through multicast routing, as a link with
// mcroute does (IPSKB_MCROUTE, ip_mr_output): as it is when routing leaves
// it alone, else one copy out of each outgoing interface routing names,
// highest vif first, with the TTL (hop limit) less one (ipmr_prepare_xmit,
// ip6mr_prepare_xmit). An IPv4 copy with DF that does not fit the MTU of
// its interface's route is dropped, as ipmr_prepare_xmit does. A packet
// routing has no entry for is held until its route comes when the router
// is a MulticastReporter, else dropped. The reporter is shown every packet
// routing forwards or holds (MulticastReporter.Report). partial says the
// UDP checksum field holds the pseudo-header sum, for the Conn to
// complete.
func (l *Link) mcroute(b *txBatch, s *socket, buf []byte, off, size, maclen int, src, dst netip.Addr, oif int, ttl uint8, df, partial bool, vs *VNIStats) {
	v6 := dst.Is6()
	act, outs := l.host.mrouter.RouteMulticast(b.mrOuts[:0], src, dst, oif, ttl)
	b.mrOuts = outs[:0]
	switch {
	case act == mroute.Output:
		l.enqueue(b, v6, buf[:tap.Headroom+size], oif, size-maclen, vs, size)
		return
	case act == mroute.Unresolved:
		if r := l.host.mreport; r != nil {
			pkt := buf[off : tap.Headroom+size]
			finishHeld(s, pkt, v6, partial)
			if l.host.hold(mcHeld{l: l, vs: vs, oif: oif, ttl: ttl, pkt: pkt, bytes: size - maclen, vbytes: size}, src, dst) {
				r.Report(src, dst, oif, pkt)
				return
			}
		}
		l.drop(DropMCRouteUnrouted, vs)
		return
	case act != mroute.Forward:
		l.drop(DropMCRouteUnrouted, vs)
		return
	}
	if r := l.host.mreport; r != nil {
		r.Report(src, dst, oif, buf[off:tap.Headroom+size])
	}
	if len(outs) == 0 {
		l.drop(DropMCRouteUnrouted, vs)
		return
	}
	end := tap.Headroom + size
	for i, out := range outs {
		p := buf
		if i < len(outs)-1 {
			p = b.cloneRange(buf, off, end)
		}
		ip := p[off:end]
		if v6 {
			ip[7]-- // hop limit
		} else {
			ip[8]-- // TTL; the header checksum is made at flush
			if mtu := b.pathMTU(s, dst, out); df && mtu > 0 && len(ip) > mtu {
				l.drop(DropMCRouteTooBig, vs)
				continue
			}
		}
		l.enqueue(b, v6, p[:end], out, size-maclen, vs, size)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// putAddr4 writes a (possibly invalid) IPv4 address; invalid is 0.0.0.0,
// which the underlay replaces with its own source.
func putAddr4(b []byte, a netip.Addr) {
	if !a.Is4() {
		clear(b[:4])
		return
	}
	x := a.As4()
	copy(b, x[:])
}

// putAddr16 writes a (possibly invalid) IPv6 address; invalid is ::.
func putAddr16(b []byte, a netip.Addr) {
	if !a.Is6() {
		clear(b[:16])
		return
	}
	x := a.As16()
	copy(b, x[:])
}

// flowLabel returns the flow label of an inner IPv6 header, 0 for other
// protocols (ip_tunnel_get_flowlabel).
func flowLabel(nh []byte, et uint16) uint32 {
	if et == header.EtherTypeIPv6 {
		return binary.BigEndian.Uint32(nh[0:]) & config.MaxFlowLabel
	}
	return 0
}

// txHash is skb_get_hash of the frame as udp_flow_src_port uses it: the
// inner flow, or the Ethernet addresses and protocol.
func txHash(frame []byte, raw bool, proto uint16, seed uint64) uint32 {
	if !raw {
		return flow.HashFrame(frame, seed)
	}
	if k, ok := flow.ClassifyL3(proto, frame); ok {
		return flow.Hash(&k, seed)
	}
	k := flow.Key{Kind: flow.KindL2, EtherType: proto}
	copy(k.Dst[:6], frame)
	if len(frame) > 6 {
		copy(k.Src[:6], frame[6:])
	}
	return flow.Hash(&k, seed)
}

// flushTX writes the queued outer packets and counts them.
func (l *Link) flushTX(b *txBatch) {
	for fam := range b.q {
		q := &b.q[fam]
		if len(q.pkts) == 0 {
			continue
		}
		s := l.sockFor(fam == 1)
		if s == nil {
			// The link went down after these were queued, and its
			// sockets with it.
			for _, vs := range q.vnis {
				l.drop(DropUnderlayWrite, vs)
			}
			q.reset()
			continue
		}
		off := txOffset(fam == 1)
		if fam == 0 {
			// IPv4 identification comes from the socket's counter, one
			// atomic add per batch, then the header checksum.
			id := s.ipID.Add(uint32(len(q.pkts))) - uint32(len(q.pkts))
			for _, p := range q.pkts {
				id++
				ip := p[off : off+header.IPv4MinimumSize]
				binary.BigEndian.PutUint16(ip[4:], uint16(id))
				binary.BigEndian.PutUint16(ip[10:], ipv4HeaderChecksum(ip))
			}
		}
		var n int
		var err error
		conn := s.connFor(b.queue)
		if vw, ok := conn.(underlay.ViaWriter); ok && q.via {
			n, err = vw.WriteVia(q.pkts, q.oifs, off)
		} else {
			n, err = conn.Write(q.pkts, off)
		}
		if err != nil && !errors.Is(err, net.ErrClosed) && n == 0 {
			l.host.log.Debug("underlay write failed", "link", l.name, "err", err)
		}
		var pkts, bytes uint64
		// Per-VNI counters are added per run of packets with the same
		// VNI, to keep atomic operations off the per-packet path.
		var run *VNIStats
		var runPkts, runBytes uint64
		for i := range q.pkts {
			vs := q.vnis[i]
			if i >= n {
				l.drop(DropUnderlayWrite, vs)
				continue
			}
			pkts++
			bytes += uint64(q.bytes[i])
			if vs != run {
				run.addTX(runPkts, runBytes)
				run, runPkts, runBytes = vs, 0, 0
			}
			runPkts++
			runBytes += uint64(q.vbytes[i])
		}
		run.addTX(runPkts, runBytes)
		l.stats.TXPackets.Add(pkts)
		l.stats.TXBytes.Add(bytes)
		q.reset()
	}
	b.release()
}

// bypass is vxlan_encap_bypass: deliver the frame to the local link dl
// without encapsulating it. With snoop, dl learns the frame's source MAC
// behind the loopback address of its family (if it learns), whatever the
// outcome. The sender counts a transmitted frame and dl a received one,
// both of the whole frame length.
func (l *Link) bypass(b *txBatch, st *linkState, dl *Link, buf []byte, size int, m *tap.Meta, vni header.VNI, snoop bool) {
	frame := buf[tap.Headroom : tap.Headroom+size]
	dst := dl.state.Load()
	dvs := dl.vniStatsFor(dst, vni)
	if !dl.up.Load() {
		dl.stats.Drops[DropDevReady].Add(1)
		dl.stats.RXDropped.Add(1)
		if dvs != nil {
			dvs.RXDrops.Add(1)
		}
		return
	}
	if snoop && dst.learn && len(frame) >= header.EthernetSize {
		lo := netip.AddrFrom4(loopback4)
		if dst.v6 {
			lo = netip.AddrFrom16(loopback6)
		}
		dl.snoop(header.MAC(frame[6:12]), vni, lo, 0)
	}
	l.stats.TXPackets.Add(1)
	l.stats.TXBytes.Add(uint64(size))
	if vs := l.vniStatsFor(st, vni); vs != nil {
		vs.TXPackets.Add(1)
		vs.TXBytes.Add(uint64(size))
	}
	l.stats.Bypassed.Add(1)

	dm := *m
	dm.Tunnel = tap.TunnelInfo{}
	if dm.ChecksumPartial && !dl.meta {
		completeChecksum(frame, int(dm.ChecksumStart), int(dm.ChecksumOffset))
		dm.ChecksumPartial = false
	}
	b.one[0] = buf[:tap.Headroom+size]
	b.oneMeta[0] = dm
	n := dl.write(b.queue, b.one[:], b.oneMeta[:], tap.Headroom)
	b.one[0] = nil
	if n == 1 {
		dl.stats.RXPackets.Add(1)
		dl.stats.RXBytes.Add(uint64(size))
		if dvs != nil {
			dvs.RXPackets.Add(1)
			dvs.RXBytes.Add(uint64(size))
		}
		return
	}
	dl.stats.drop(DropOverlayFull)
	if dvs != nil {
		dvs.RXDrops.Add(1)
	}
}

// miss sends an L2- or L3-miss notification (vxlan_fdb_miss,
// vxlan_ip_miss).
func (l *Link) miss(m Miss) {
	m.Link = l.name
	if m.Kind == L3Miss {
		m.VNI = MissVNI
		l.stats.L3Misses.Add(1)
	} else {
		l.stats.L2Misses.Add(1)
	}
	if d := l.misses.send(m); d > 0 {
		l.stats.MissesDropped.Add(uint64(d))
	}
}
