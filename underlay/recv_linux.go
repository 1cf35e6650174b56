package underlay

import (
	"encoding/binary"

	"github.com/vtepd/vtep/internal/sys"
)

// ctrlSize is the control buffer per message, enough for TOS/TCLASS,
// TTL/HOPLIMIT, PKTINFO, FLOWINFO and UDP_GRO (or, on send, UDP_SEGMENT).
const ctrlSize = 160

// sockaddrLen is the size of a sockaddr_in6, which also holds a sockaddr_in.
const sockaddrLen = sys.SizeofSockaddrInet6

// rxMeta is what recvmsg tells about one datagram.
type rxMeta struct {
	src, dst [16]byte
	sport    uint16
	tos, ttl uint8
	flow     uint32
	gso      int
	ifindex  int // the interface it arrived on (PKTINFO)
}

// receiver is the Read state: preallocated message headers, names and
// control buffers, and in GRO mode an arena of 64 KiB slots from which
// coalesced datagrams are split.
type receiver struct {
	c  *LinuxConn
	fn func(fd uintptr) bool
	hl int

	msgs  []sys.Mmsghdr
	iovs  []sys.Iovec
	names [][sockaddrLen]byte
	ctrl  []byte
	meta  []rxMeta

	// Call state. info is ReadInfo's argument (nil for Read).
	vlen int
	got  int
	err  error
	info []RxInfo

	// GRO mode: arena slots and what is still to be handed out.
	arena []byte
	pm    int // next message to split
	pn    int // messages received
	poff  int // offset in message pm of the next segment
}

func (r *receiver) init(c *LinuxConn) {
	r.c = c
	r.fn = r.recvFn
	r.hl = ipv4HeaderLen + udpHeaderLen
	if c.family == 6 {
		r.hl = ipv6HeaderLen + udpHeaderLen
	}
	n := c.batch
	if c.gro {
		n = groSlots
		r.arena = make([]byte, groSlots*maxGROSize)
	}
	r.msgs = make([]sys.Mmsghdr, n)
	r.iovs = make([]sys.Iovec, n)
	r.names = make([][sockaddrLen]byte, n)
	r.ctrl = make([]byte, n*ctrlSize)
	r.meta = make([]rxMeta, n)
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		h.Name = &r.names[i][0]
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.ctrl[i*ctrlSize]
		if r.arena != nil {
			sys.SetIovec(&r.iovs[i], r.arena[i*maxGROSize:(i+1)*maxGROSize])
		}
	}
}

// Read reads up to len(bufs) packets into bufs[i][offset:], each rebuilt as
// an outer IPv4 or IPv6 header (no options, no extension headers) plus a UDP
// header in front of the datagram, so that the datapath sees whole packets:
// source and destination address, TOS/traffic class, TTL/hop limit and (IPv6)
// flow label are the received ones; the IPv4 ID and DF bit are not reported
// by the socket API and are 0; the IPv4 header checksum is valid; the UDP
// checksum is 0 because the kernel already verified it (see
// RXChecksumVerified). A buffer too small for its datagram drops the datagram
// (Stats.RxTruncated).
//
// With UDP_GRO, datagrams the kernel coalesced are split back into separate
// packets, one per buffer; what does not fit is returned by the next Read.
// A coalesced datagram (one burst of one flow) is handed out whole by one
// Read unless it has more segments than len(bufs), so that the datapath's
// GRO can rebuild it as one super-frame.
func (c *LinuxConn) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return c.read(bufs, sizes, nil, offset)
}

// ReadInfo is Read that also fills info[i] for packet i (InfoReader):
// the interface it arrived on, from IP_PKTINFO/IPV6_PKTINFO, and Verified
// when it is known to have carried a non-zero UDP checksum that the kernel
// verified, so that the whole VXLAN payload, inner frame included, is
// intact and its inner checksums need not be checked again (what
// RXPayloadVerified says for all packets of an IPv6 Conn).
// len(info) >= len(bufs).
//
// Verified holds, besides every packet of an IPv6 Conn without
// ZeroChecksum6RX, for
// every packet split from a datagram the kernel coalesced (UDP_GRO): the
// kernel merges only datagrams with a non-zero checksum, which it verifies
// ("requires non zero csum, for symmetry with GSO",
// udp_gro_receive_segment), and a local sender cannot use UDP_SEGMENT
// without checksums (udp_send_skb refuses GSO with no_check_tx). A lone
// IPv4 datagram may have had a zero checksum (RFC 768), which the socket
// API does not reveal: Verified is false for it.
func (c *LinuxConn) ReadInfo(bufs [][]byte, sizes []int, info []RxInfo, offset int) (int, error) {
	if len(info) < len(bufs) {
		bufs = bufs[:len(info)]
	}
	return c.read(bufs, sizes, info, offset)
}

func (c *LinuxConn) read(bufs [][]byte, sizes []int, info []RxInfo, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if c.closed.Load() {
		return 0, closedErr
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	r := &c.r
	r.info = info
	defer func() { r.info = nil }()
	if r.arena != nil {
		return r.readGRO(bufs, sizes, offset)
	}
	return r.readDirect(bufs, sizes, offset)
}

// setInfo records for ReadInfo what is known of packet j, received as
// meta; coalesced says it came from a datagram the kernel reported with a
// UDP_GRO segment size (a GSO skb: see ReadInfo).
func (r *receiver) setInfo(j int, meta *rxMeta, coalesced bool) {
	if r.info != nil {
		r.info[j] = RxInfo{Verified: coalesced || r.c.RXPayloadVerified(), Ifindex: meta.ifindex}
	}
}

// recvFn runs under the poller: one non-blocking recvmmsg.
func (r *receiver) recvFn(fd uintptr) bool {
	for {
		for i := range r.vlen {
			h := &r.msgs[i].Hdr
			h.Namelen = sockaddrLen
			h.SetControllen(ctrlSize)
			h.Flags = 0
		}
		n, err := sys.Recvmmsg(fd, r.msgs[:r.vlen], sys.MSG_DONTWAIT)
		switch err {
		case nil:
			r.got = n
			return true
		case sys.EAGAIN:
			return false
		case sys.EINTR:
			continue
		}
		r.err = err
		return true
	}
}

func (r *receiver) recv() error {
	r.got, r.err = 0, nil
	if err := r.c.udpRC.Read(r.fn); err != nil {
		return r.c.ioErr("read", err)
	}
	if r.err != nil {
		return r.c.ioErr("read", r.err)
	}
	return nil
}

// readDirect receives straight into the caller's buffers, leaving room for
// the rebuilt headers in front.
func (r *receiver) readDirect(bufs [][]byte, sizes []int, offset int) (int, error) {
	r.vlen = min(len(bufs), len(r.msgs))
	for i := range r.vlen {
		var b []byte
		if len(bufs[i]) > offset+r.hl {
			b = bufs[i][offset+r.hl:]
		}
		sys.SetIovec(&r.iovs[i], b) // too small: the datagram shows as truncated
	}
	if err := r.recv(); err != nil {
		return 0, err
	}
	j := 0
	for i := range r.got {
		m := &r.msgs[i]
		if m.Hdr.Flags&(sys.MSG_TRUNC|sys.MSG_CTRUNC) != 0 {
			r.c.stats.RxTruncated.Add(1)
			continue
		}
		n := int(m.Len)
		if len(bufs[i]) < offset+r.hl+n || len(bufs[j]) < offset+r.hl+n {
			r.c.stats.RxTruncated.Add(1)
			continue
		}
		r.parse(i)
		if j != i {
			copy(bufs[j][offset+r.hl:], bufs[i][offset+r.hl:offset+r.hl+n])
		}
		r.build(bufs[j][offset:], &r.meta[i], n)
		sizes[j] = r.hl + n
		r.setInfo(j, &r.meta[i], false)
		j++
	}
	r.c.stats.RxPackets.Add(uint64(j))
	return j, nil
}

// readGRO receives into the arena and splits each datagram by its gso_size
// into the caller's buffers.
func (r *receiver) readGRO(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		if r.pm >= r.pn {
			r.vlen = len(r.msgs)
			if err := r.recv(); err != nil {
				return 0, err
			}
			r.pm, r.pn, r.poff = 0, r.got, 0
			for i := range r.pn {
				r.parse(i)
			}
		}
		j := r.split(bufs, sizes, offset)
		if j > 0 {
			r.c.stats.RxPackets.Add(uint64(j))
			return j, nil
		}
	}
}

// split hands out pending segments; it returns how many buffers it filled.
//
// A coalesced datagram is one burst of one flow (a sender's UDP_SEGMENT
// send, or what the kernel's UDP GRO merged), which the datapath's GRO
// turns back into one super-frame for the TAP. So that the burst is not cut
// in two across Reads (two smaller super-frames, two TAP writes), a
// datagram that does not fit whole into the buffers left is kept for the
// next Read, unless nothing was handed out yet (a burst larger than the
// whole batch has to be split anyway).
func (r *receiver) split(bufs [][]byte, sizes []int, offset int) int {
	j := 0
	for r.pm < r.pn && j < len(bufs) {
		m := &r.msgs[r.pm]
		if m.Hdr.Flags&(sys.MSG_TRUNC|sys.MSG_CTRUNC) != 0 {
			r.c.stats.RxTruncated.Add(1)
			r.pm, r.poff = r.pm+1, 0
			continue
		}
		n := int(m.Len)
		meta := &r.meta[r.pm]
		seg := meta.gso
		if seg <= 0 || seg > n {
			seg = n
		}
		if r.poff == 0 && j > 0 && seg > 0 && (n+seg-1)/seg > len(bufs)-j {
			break // the next Read starts with this datagram
		}
		if r.poff == 0 && seg < n {
			r.c.stats.RxCoalesced.Add(1)
		}
		data := r.arena[r.pm*maxGROSize:]
		for r.poff < n && j < len(bufs) {
			l := min(seg, n-r.poff)
			b := bufs[j]
			if len(b) < offset+r.hl+l {
				r.c.stats.RxTruncated.Add(1)
			} else {
				copy(b[offset+r.hl:], data[r.poff:r.poff+l])
				r.build(b[offset:], meta, l)
				sizes[j] = r.hl + l
				r.setInfo(j, meta, meta.gso > 0)
				j++
			}
			r.poff += l
		}
		if r.poff >= n {
			r.pm, r.poff = r.pm+1, 0
		}
	}
	return j
}

// parse decodes message i's source address and control messages.
func (r *receiver) parse(i int) {
	meta := &r.meta[i]
	*meta = rxMeta{}
	name := &r.names[i]
	meta.sport = binary.BigEndian.Uint16(name[2:])
	if r.c.family == 4 {
		copy(meta.src[:4], name[4:8])
	} else {
		copy(meta.src[:], name[8:24])
	}
	h := &r.msgs[i].Hdr
	ctrl := r.ctrl[i*ctrlSize : i*ctrlSize+int(h.Controllen)]
	for len(ctrl) >= sys.CmsgHdrLen {
		clen := int(binary.NativeEndian.Uint64(ctrl[0:]))
		level := int(int32(binary.NativeEndian.Uint32(ctrl[8:])))
		typ := int(int32(binary.NativeEndian.Uint32(ctrl[12:])))
		if clen < sys.CmsgHdrLen || clen > len(ctrl) {
			break
		}
		data := ctrl[sys.CmsgHdrLen:clen]
		switch level {
		case sys.SOL_IP:
			switch typ {
			case sys.IP_TOS:
				if len(data) >= 1 {
					meta.tos = data[0]
				}
			case sys.IP_TTL:
				if len(data) >= 4 {
					meta.ttl = uint8(binary.NativeEndian.Uint32(data))
				}
			case sys.IP_PKTINFO:
				if len(data) >= 12 {
					meta.ifindex = int(int32(binary.NativeEndian.Uint32(data[0:])))
					copy(meta.dst[:4], data[8:12]) // ipi_addr: header destination
				}
			}
		case sys.SOL_IPV6:
			switch typ {
			case sys.IPV6_TCLASS:
				if len(data) >= 4 {
					meta.tos = uint8(binary.NativeEndian.Uint32(data))
				}
			case sys.IPV6_HOPLIMIT:
				if len(data) >= 4 {
					meta.ttl = uint8(binary.NativeEndian.Uint32(data))
				}
			case sys.IPV6_PKTINFO:
				if len(data) >= 20 {
					copy(meta.dst[:], data[:16])
					meta.ifindex = int(int32(binary.NativeEndian.Uint32(data[16:])))
				}
			case sys.IPV6_FLOWINFO:
				if len(data) >= 4 {
					meta.flow = binary.BigEndian.Uint32(data) & 0xfffff
				}
			}
		case sys.SOL_UDP:
			if typ == sys.UDP_GRO && len(data) >= 2 {
				if len(data) >= 4 {
					meta.gso = int(binary.NativeEndian.Uint32(data))
				} else {
					meta.gso = int(binary.NativeEndian.Uint16(data))
				}
			}
		}
		ctrl = ctrl[min(sys.CmsgSpace(clen-sys.CmsgHdrLen), len(ctrl)):]
	}
}

// build writes the outer IP and UDP headers for a datagram of n bytes.
func (r *receiver) build(b []byte, m *rxMeta, n int) {
	if r.c.family == 4 {
		_ = b[27]
		tot := uint16(ipv4HeaderLen + udpHeaderLen + n)
		// Version/IHL and TOS; total length; ID, flags and fragment
		// offset (0); TTL and protocol; checksum; addresses.
		binary.BigEndian.PutUint32(b[0:], 0x45<<24|uint32(m.tos)<<16|uint32(tot))
		binary.BigEndian.PutUint32(b[4:], 0)
		binary.BigEndian.PutUint32(b[8:], uint32(m.ttl)<<24|17<<16|uint32(ipv4HeaderChecksum(m, tot)))
		copy(b[12:16], m.src[:4])
		copy(b[16:20], m.dst[:4])
		b = b[ipv4HeaderLen:]
	} else {
		_ = b[47]
		binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(m.tos)<<20|m.flow)
		binary.BigEndian.PutUint16(b[4:], uint16(udpHeaderLen+n))
		b[6] = 17
		b[7] = m.ttl
		copy(b[8:24], m.src[:])
		copy(b[24:40], m.dst[:])
		b = b[ipv6HeaderLen:]
	}
	binary.BigEndian.PutUint16(b[0:], m.sport)
	binary.BigEndian.PutUint16(b[2:], r.c.port)
	binary.BigEndian.PutUint16(b[4:], uint16(udpHeaderLen+n))
	b[6], b[7] = 0, 0
}

// ipv4HeaderChecksum returns the header checksum (RFC 791) of the
// option-less IPv4 header build writes for m with total length tot,
// computed from the field values rather than read back from the buffer
// (the 16-bit words: 0x45 and TOS, the total length, ID 0, flags 0, TTL
// and protocol 17, the two addresses). It runs for every packet Read
// returns.
func ipv4HeaderChecksum(m *rxMeta, tot uint16) uint16 {
	s := uint32(0x4500) | uint32(m.tos)
	s += uint32(tot)
	s += uint32(m.ttl)<<8 | 17
	s += uint32(m.src[0])<<8 | uint32(m.src[1])
	s += uint32(m.src[2])<<8 | uint32(m.src[3])
	s += uint32(m.dst[0])<<8 | uint32(m.dst[1])
	s += uint32(m.dst[2])<<8 | uint32(m.dst[3])
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return ^uint16(s)
}
