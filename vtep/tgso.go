package vtep

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// Injector sends whole VXLAN super-packets, an inner TCP super-frame under
// one set of outer headers, as UDP tunnel GSO packets (SKB_GSO_UDP_TUNNEL),
// the way the kernel's vxlan hands its packets to the underlay: they are
// cut into datagrams by the device that has to, and cross a veth whole.
// underlay.Injector is the Linux one.
type Injector interface {
	// Write sends pkt (underlay.TunnelHdrLen bytes of tunnel header, an
	// Ethernet header naming the output interface, the outer packet)
	// through queue q.
	Write(q int, pkt []byte) error
	// Oif returns the output interface of the route to dst, 0 for none.
	Oif(dst netip.Addr) int
}

// wholeSuperFrames is the optional method of an overlay queue (tap.Queue)
// that hands TCP super-frames out whole.
type wholeSuperFrames interface{ SetWholeSuperFrames(on bool) }

// superMeta returns the virtio_net_hdr fields that describe the
// super-frame with metadata m, for package gso.
func superMeta(m *tap.Meta) header.VirtioNetHdrFields {
	return header.VirtioNetHdrFields{
		Flags:      header.VirtioNetHdrFlagNeedsCsum,
		GSOType:    m.GSOType,
		GSOSize:    m.GSOSize,
		CsumStart:  m.ChecksumStart,
		CsumOffset: m.ChecksumOffset,
	}
}

// xmitSegments is xmitOne for each segment of the super-frame
// buf[tap.Headroom:][:size], for the cases the super-packet path does not
// take: the segments go into spare buffers, which are released with the
// batch.
func (l *Link) xmitSegments(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta, defaultVNI header.VNI, r *fdb.Remote, didRSC bool) {
	frame := buf[tap.Headroom : tap.Headroom+size]
	h := superMeta(m)
	lay, err := gso.Parse(frame, h)
	if err != nil || lay.Segments > 1024 {
		l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, defaultVNI))
		return
	}
	if cap(b.segs) < lay.Segments {
		b.segs = make([][]byte, 0, lay.Segments)
		b.segSizes = make([]int, lay.Segments)
	}
	segs := b.segs[:0]
	for range lay.Segments {
		segs = append(segs, b.spareBuf())
	}
	n, err := gso.Split(segs, b.segSizes, tap.Headroom, frame, h, gso.PartialChecksum)
	if err != nil {
		l.drop(DropTXHeaderTruncated, l.vniStatsFor(st, defaultVNI))
		return
	}
	sm := *m
	sm.GSOType, sm.GSOSize = 0, 0
	sm.ChecksumPartial = true
	sm.ChecksumStart, sm.ChecksumOffset = uint16(lay.CsumStart), uint16(lay.CsumOffset)
	for i := range n {
		seg := sm
		l.xmitOne(b, st, segs[i], b.segSizes[i], &seg, defaultVNI, r, didRSC)
	}
	clear(segs)
}

// spareBuf returns a spare buffer that stays in use until the batch is
// flushed.
func (b *txBatch) spareBuf() []byte {
	var c []byte
	if n := len(b.spare); n > 0 {
		c = b.spare[n-1]
		b.spare[n-1] = nil
		b.spare = b.spare[:n-1]
	} else {
		c = make([]byte, b.bufSize)
	}
	b.inUse = append(b.inUse, c)
	return c
}

// injectOif is inj.Oif(dst), asked once per batch and destination: the
// injector's answer is a locked lookup shared by every worker, and a TSO
// burst is many super-frames to one remote.
func (b *txBatch) injectOif(inj Injector, dst netip.Addr) int {
	c := &b.oif
	if !c.valid || c.dst != dst {
		c.valid, c.dst, c.oif = true, dst, inj.Oif(dst)
	}
	return c.oif
}

// injectable reports whether the super-frame with metadata m, on its way
// to dst, may go out whole through the host's Injector: an Ethernet frame
// (not raw GPE) to a unicast remote, with room in front for the tunnel
// and Ethernet headers.
func (l *Link) injectable(st *linkState, m *tap.Meta, dst netip.Addr) bool {
	return l.host.inj != nil && !isRaw(st, m) && !st.gpe && dst.IsValid() && !dst.IsMulticast()
}

// inject sends the super-packet buf[off:tap.Headroom+size], whose outer
// IP, UDP and VXLAN headers are built, through the host's Injector. The
// inner frame's network header is maclen bytes in; udpSum says the UDP
// checksum field holds the pseudo-header sum and every datagram is to
// carry a checksum. Packets queued for the sockets go first, so that a
// flow stays in order.
func (l *Link) inject(b *txBatch, s *socket, buf []byte, off, size, maclen int, v6, udpSum bool, m *tap.Meta, dst netip.Addr, oif int, vs *VNIStats) {
	if len(b.q[0].pkts)+len(b.q[1].pkts) > 0 {
		l.flushTX(b)
	}
	if oif == 0 {
		oif = b.injectOif(l.host.inj, dst)
		if oif == 0 {
			l.drop(DropNoRoute, vs)
			return
		}
	}
	ipLen := header.IPv4MinimumSize
	gt := m.GSOType | underlay.TunnelGSOUDPTunnelIPv4
	if v6 {
		ipLen = header.IPv6FixedSize
		gt = m.GSOType | underlay.TunnelGSOUDPTunnelIPv6
	} else {
		ip := buf[off : off+ipLen]
		binary.BigEndian.PutUint16(ip[4:], uint16(s.ipID.Add(1)))
		binary.BigEndian.PutUint16(ip[10:], ipv4HeaderChecksum(ip))
	}
	eth := off - header.EthernetSize
	start := eth - underlay.TunnelHdrLen
	underlay.PutOifMAC(buf[eth:], oif, v6)
	inner := uint16(tap.Headroom - eth) // the inner frame, from the outer Ethernet header
	frame := buf[tap.Headroom : tap.Headroom+size]
	cs := int(m.ChecksumStart)
	thl := int(frame[cs+12]>>4) * 4
	underlay.PutTunnelHdr(buf[start:], &underlay.TunnelHdr{
		GSOType:        gt,
		UDPCsum:        udpSum,
		GSOSize:        m.GSOSize,
		HdrLen:         inner + uint16(cs+thl),
		CsumStart:      inner + uint16(cs),
		CsumOffset:     m.ChecksumOffset,
		OuterTransport: uint16(header.EthernetSize + ipLen),
		InnerNetwork:   inner + uint16(maclen),
	})
	if err := l.host.inj.Write(b.queue, buf[start:tap.Headroom+size]); err != nil {
		l.drop(DropUnderlayWrite, vs)
		return
	}
	l.stats.TXPackets.Add(1)
	l.stats.TXBytes.Add(uint64(size - maclen))
	l.stats.TXSuperPackets.Add(1)
	vs.addTX(1, uint64(size))
}
