package underlay

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/internal/sys"
)

// txPkt is an outgoing packet's parsed outer header.
type txPkt struct {
	ok       bool
	tot      int // outer packet length (IP total length)
	hl       int // IP + UDP header length: the UDP payload starts here
	plen     int // UDP payload length
	src, dst [16]byte
	sport    uint16
	dport    uint16
	tos, ttl uint8
	df       bool
	zeroCsum bool
	flow     uint32
	fallback bool
	oif      int // output interface (WriteVia), 0 for none
}

// sameDest reports whether b can share a UDP_SEGMENT send with a.
func (a *txPkt) sameDest(b *txPkt) bool {
	return a.dst == b.dst && a.dport == b.dport && a.src == b.src && a.tos == b.tos && a.ttl == b.ttl &&
		a.flow == b.flow && a.df == b.df && a.zeroCsum == b.zeroCsum && a.oif == b.oif
}

// sender is the Write state.
type sender struct {
	c     *LinuxConn
	fnRaw func(fd uintptr) bool
	fnUDP func(fd uintptr) bool

	pk    []txPkt
	idx   []int
	msgs  []sys.Mmsghdr
	iovs  []sys.Iovec
	names [][sockaddrLen]byte
	ctrl  []byte
	// first[m], count[m]: the packets (positions in idx, or in bufs for
	// raw) that message m carries.
	first, count []int

	// Call state for the sendmmsg callbacks.
	vlen int
	sent int
	err  error

	// UDP socket state kept in step with the packets: -1 unknown.
	df, nocheck int

	// Raw mode: per-flow UDP sockets for GSO sends (flow_linux.go).
	flows   flowCache
	batchNo uint64
	flowErr bool // the last sendFlow failed on the flow's packets
	fmsg    [1]sys.Mmsghdr
	fiov    []sys.Iovec
	fctrl   [ctrlSize]byte
	fnFlow  func(fd uintptr) bool
	riovs   []sys.Iovec // raw mode: 3 per message
	csums   [][2]byte   // raw mode: completed UDP checksums
	one     [1]int      // raw mode: the packet a fallback sends
	fsent   int
	ferr    error
	npk     int // packets in the current Write
}

func (s *sender) init(c *LinuxConn) {
	s.c = c
	s.fnRaw = s.sendRawFn
	s.fnUDP = s.sendUDPFn
	s.fnFlow = s.sendFlowFn
	s.df, s.nocheck = -1, -1
	s.grow(c.batch)
}

func (s *sender) grow(n int) {
	if n <= len(s.pk) {
		return
	}
	s.pk = make([]txPkt, n)
	s.idx = make([]int, n)
	s.msgs = make([]sys.Mmsghdr, n)
	s.iovs = make([]sys.Iovec, n)
	s.names = make([][sockaddrLen]byte, n)
	s.ctrl = make([]byte, n*ctrlSize)
	s.first = make([]int, n)
	s.count = make([]int, n)
	s.riovs = make([]sys.Iovec, 3*n)
	s.csums = make([][2]byte, n)
	for i := range s.msgs {
		s.msgs[i].Hdr.Name = &s.names[i][0]
	}
}

// Write sends the packets bufs[i][offset:]. Each must be an outer IPv4 (for
// a family-4 Conn) or IPv6 header without extension headers, then UDP, then
// the payload, as the datapath builds them. It returns the number of packets
// the kernel accepted; packets that are malformed or that the kernel refuses
// (no route, too big with DF) are counted in Stats and skipped, so a short
// count with a nil error is not a failure of the Conn. The error is non-nil
// only when the Conn is closed or broken.
func (c *LinuxConn) Write(bufs [][]byte, offset int) (int, error) {
	return c.WriteVia(bufs, nil, offset)
}

// WriteVia is Write where a non-zero oifs[i] is the interface packet i
// leaves by (ViaWriter): it goes in the packet's PKTINFO ancillary data
// (ipi_ifindex, ipi6_ifindex), which constrains the route lookup as the
// kernel's vxlan does with flowi_oif, and is the scope of an IPv6
// link-local destination. A nil oifs is Write.
func (c *LinuxConn) WriteVia(bufs [][]byte, oifs []int, offset int) (int, error) {
	if c.closed.Load() {
		return 0, closedErr
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := &c.w
	s.grow(len(bufs))
	s.npk = len(bufs)
	for i, b := range bufs {
		s.pk[i] = txPkt{}
		if offset <= len(b) {
			s.parse(&s.pk[i], b[offset:])
		}
		if oifs != nil {
			s.pk[i].oif = oifs[i]
		}
		if !s.pk[i].ok {
			c.stats.TxMalformed.Add(1)
		}
	}
	var sent int
	var err error
	if c.mode == SendRaw {
		sent, err = s.writeRaw(bufs, offset)
	} else {
		n := 0
		for i := range bufs {
			if s.pk[i].ok {
				s.idx[n] = i
				n++
			}
		}
		sent, err = s.writeUDP(bufs, offset, s.idx[:n])
	}
	c.stats.TxPackets.Add(uint64(sent))
	if err != nil {
		return sent, c.ioErr("write", err)
	}
	return sent, nil
}

func (s *sender) parse(p *txPkt, b []byte) {
	if s.c.family == 4 {
		if len(b) < ipv4HeaderLen+udpHeaderLen || b[0]>>4 != 4 || b[9] != 17 {
			return
		}
		ihl := int(b[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < ipv4HeaderLen || tot > len(b) || tot < ihl+udpHeaderLen || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return
		}
		u := b[ihl:tot]
		ulen := int(binary.BigEndian.Uint16(u[4:]))
		if ulen < udpHeaderLen || ulen > len(u) {
			return
		}
		p.tot, p.hl, p.plen = tot, ihl+udpHeaderLen, ulen-udpHeaderLen
		copy(p.src[:4], b[12:16])
		copy(p.dst[:4], b[16:20])
		p.tos, p.ttl, p.df = b[1], b[8], b[6]&0x40 != 0
		p.sport, p.dport = binary.BigEndian.Uint16(u[0:]), binary.BigEndian.Uint16(u[2:])
		p.zeroCsum = u[6] == 0 && u[7] == 0
		p.ok = true
		return
	}
	if len(b) < ipv6HeaderLen+udpHeaderLen || b[0]>>4 != 6 || b[6] != 17 {
		return
	}
	tot := ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
	if tot > len(b) || tot < ipv6HeaderLen+udpHeaderLen {
		return
	}
	u := b[ipv6HeaderLen:tot]
	ulen := int(binary.BigEndian.Uint16(u[4:]))
	if ulen < udpHeaderLen || ulen > len(u) {
		return
	}
	w := binary.BigEndian.Uint32(b)
	p.tot, p.hl, p.plen = tot, ipv6HeaderLen+udpHeaderLen, ulen-udpHeaderLen
	p.tos, p.flow, p.ttl = uint8(w>>20), w&0xfffff, b[7]
	copy(p.src[:], b[8:24])
	copy(p.dst[:], b[24:40])
	p.sport, p.dport = binary.BigEndian.Uint16(u[0:]), binary.BigEndian.Uint16(u[2:])
	p.zeroCsum = u[6] == 0 && u[7] == 0
	p.ok = true
}

// setName writes a sockaddr for dst (port 0 for raw sockets), scoped to
// interface oif when dst needs it.
func (s *sender) setName(m int, dst *[16]byte, port uint16, oif int) {
	n := &s.names[m]
	clear(n[:])
	h := &s.msgs[m].Hdr
	if s.c.family == 4 {
		binary.NativeEndian.PutUint16(n[0:], sys.AF_INET)
		binary.BigEndian.PutUint16(n[2:], port)
		copy(n[4:8], dst[:4])
		h.Namelen = sys.SizeofSockaddrInet4
		return
	}
	binary.NativeEndian.PutUint16(n[0:], sys.AF_INET6)
	binary.BigEndian.PutUint16(n[2:], port)
	copy(n[8:24], dst[:])
	if oif != 0 && needsScope(dst) {
		binary.NativeEndian.PutUint32(n[24:], uint32(oif)) // sin6_scope_id
	}
	h.Namelen = sys.SizeofSockaddrInet6
}

// needsScope reports whether an IPv6 address is link-local unicast
// (fe80::/10) or multicast of interface- or link-local scope, the
// addresses that mean nothing without an interface
// (__ipv6_addr_needs_scope_id).
func needsScope(a *[16]byte) bool {
	if a[0] == 0xfe && a[1]&0xc0 == 0x80 {
		return true
	}
	return a[0] == 0xff && (a[1]&0x0f == 1 || a[1]&0x0f == 2)
}

// writeRaw sends whole packets through the raw socket, except runs of
// equal-size datagrams of one flow, which go out as one UDP_SEGMENT send
// from a UDP socket bound to the flow's own source address and port (see
// flow_linux.go), so that they too carry the datapath's source port.
func (s *sender) writeRaw(bufs [][]byte, offset int) (int, error) {
	s.batchNo++
	m, sent := 0, 0
	for i := 0; i < len(bufs); {
		p := &s.pk[i]
		if !p.ok {
			i++
			continue
		}
		if run := s.flowRun(i); run > 0 {
			// Keep the order: what is queued for the raw socket goes first.
			n, err := s.flushRaw(bufs, offset, m)
			sent += n
			m = 0
			if err != nil {
				return sent, err
			}
			n, err = s.sendFlow(bufs, offset, i, run)
			sent += n
			if err != nil {
				return sent, err
			}
			if n > 0 || s.flowErr {
				i += run
				continue
			}
			// No flow socket for this flow: send the run raw.
			for k := i; k < i+run; k++ {
				s.queueRaw(bufs, offset, k, m)
				m++
			}
			i += run
			continue
		}
		s.queueRaw(bufs, offset, i, m)
		m++
		i++
	}
	n, err := s.flushRaw(bufs, offset, m)
	return sent + n, err
}

// queueRaw prepares raw message m for packet i. The datapath left the
// folded pseudo-header sum in the UDP checksum field (TXChecksumOffload);
// the completed checksum goes out from our own 2 bytes, spliced in with a
// three-part iovec, so that the caller's packet is not modified.
func (s *sender) queueRaw(bufs [][]byte, offset, i, m int) {
	p := &s.pk[i]
	b := bufs[i][offset : offset+p.tot]
	iov := s.riovs[3*m : 3*m+3]
	h := &s.msgs[m].Hdr
	h.Iov = &iov[0]
	if p.zeroCsum {
		sys.SetIovec(&iov[0], b)
		h.SetIovlen(1)
	} else {
		u := b[p.hl-udpHeaderLen : p.hl+p.plen]
		c := ^checksum.Sum(u, 0)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(s.csums[m][:], c)
		sys.SetIovec(&iov[0], b[:p.hl-2])
		sys.SetIovec(&iov[1], s.csums[m][:])
		sys.SetIovec(&iov[2], b[p.hl:])
		h.SetIovlen(3)
	}
	s.setName(m, &p.dst, 0, p.oif)
	// The raw packet has its addresses, but an IPv6 route lookup without
	// the source must choose one, and for a group it may only take the
	// output interface's (ipv6_dev_get_saddr), which may have none of the
	// group's scope; the kernel's vxlan gives it (vxlan6_get_route).
	var src *[16]byte
	if s.c.family == 6 && p.src != ([16]byte{}) {
		src = &p.src
	}
	if p.oif != 0 || src != nil {
		n := s.putPktinfo(s.ctrl[m*ctrlSize:(m+1)*ctrlSize], src, p.oif)
		h.Control = &s.ctrl[m*ctrlSize]
		h.SetControllen(n)
	} else {
		h.Control = nil
		h.SetControllen(0)
	}
	s.first[m] = i
}

// flushRaw sends raw messages 0..m-1. A message that fails on its own is
// skipped and counted; one too big for a raw send that may be fragmented
// (DF clear) goes out from the UDP socket, which fragments it, in its place:
// the messages after it are sent after it, as the kernel's vxlan sends them.
func (s *sender) flushRaw(bufs [][]byte, offset, m int) (int, error) {
	sent := 0
	for done := 0; done < m; {
		s.vlen, s.sent, s.err = m, done, nil
		if err := s.c.rawRC.Write(s.fnRaw); err != nil {
			return sent, err
		}
		sent += s.sent - done
		done = s.sent
		if s.err == nil {
			continue
		}
		i := s.first[done]
		p := &s.pk[i]
		if s.err == sys.EMSGSIZE && !p.df {
			// From the flow's own socket when it can have one, which
			// keeps the source port, with the packets of its too-big
			// run in one sendmmsg. Else this one alone from the bound
			// socket.
			run := s.tooBigRun(done, m)
			// writeUDP and sendFlowPlain reuse the message arrays (and
			// writeUDP s.first): keep the packets queued after this
			// one, to queue again those still to send raw.
			rest := copy(s.idx, s.first[done+1:m])
			n, err := 0, error(nil)
			s.flowErr = false
			if flowable(s.c.family, p) {
				if fs := s.flowSocket(p); fs != nil && s.syncFlowDF(fs, p) {
					n, err = s.sendFlowPlain(fs, bufs, offset, i, run)
				}
			}
			if n == 0 && !s.flowErr {
				run = 1
				p.fallback = true
				s.one[0] = i
				n, err = s.writeUDP(bufs, offset, s.one[:])
				s.c.stats.TxFallback.Add(uint64(n))
			}
			sent += n
			if err != nil {
				return sent, err
			}
			rest = copy(s.idx, s.idx[run-1:rest])
			for k := range rest {
				s.queueRaw(bufs, offset, s.idx[k], k)
			}
			m, done = rest, 0
			continue
		}
		if isFatal(s.err) {
			return sent, s.err
		}
		s.c.stats.TxErrors.Add(1)
		done++
	}
	return sent, nil
}

// tooBigRun returns how many queued raw messages from done on carry the
// refused packet of message done and the packets right after it of the
// same flow and no smaller, which the raw socket would refuse too (at most
// gsoMaxSegments).
func (s *sender) tooBigRun(done, m int) int {
	i := s.first[done]
	p := &s.pk[i]
	run := 1
	for run < gsoMaxSegments && done+run < m && s.first[done+run] == i+run {
		q := &s.pk[i+run]
		if q.sport != p.sport || !p.sameDest(q) || q.tot < p.tot {
			break
		}
		run++
	}
	return run
}

// sendmmsg is the system call the send paths use; tests replace it to play
// kernels that refuse UDP_SEGMENT sends.
var sendmmsg = sys.Sendmmsg

// sendRawFn and sendUDPFn run under the poller: sendmmsg from message
// s.sent to s.vlen, stopping at the first failing message (s.err).
func (s *sender) sendRawFn(fd uintptr) bool { return s.sendFn(fd) }
func (s *sender) sendUDPFn(fd uintptr) bool { return s.sendFn(fd) }

func (s *sender) sendFn(fd uintptr) bool {
	for s.sent < s.vlen {
		n, err := sendmmsg(fd, s.msgs[s.sent:s.vlen], 0)
		if n > 0 {
			s.sent += n
			continue
		}
		switch err {
		case nil:
			s.err = sys.EIO // sendmmsg sent nothing and said nothing
			return true
		case sys.EAGAIN:
			return false
		case sys.EINTR:
			continue
		default:
			s.err = err
			return true
		}
	}
	return true
}

// isFatal tells errors of the socket from errors of one packet.
func isFatal(err error) bool {
	return err == sys.EBADF || err == sys.ENOTSOCK || err == sys.EFAULT
}

// writeUDP sends the UDP payloads of the packets bufs[idx[k]] from the UDP
// socket, keeping DF and the zero-checksum setting in step and coalescing
// runs of equal-size datagrams into UDP_SEGMENT sends.
func (s *sender) writeUDP(bufs [][]byte, offset int, idx []int) (int, error) {
	sent := 0
	for p := 0; p < len(idx); {
		// A run of packets that need the same socket settings.
		first := &s.pk[idx[p]]
		r := p + 1
		for r < len(idx) && s.pk[idx[r]].df == first.df && s.pk[idx[r]].zeroCsum == first.zeroCsum {
			r++
		}
		if err := s.syncSocket(first); err != nil {
			return sent, err
		}
		n, err := s.sendRun(bufs, offset, idx[p:r])
		sent += n
		if err != nil {
			return sent, err
		}
		p = r
	}
	return sent, nil
}

// syncSocket sets IP_MTU_DISCOVER (DF) and SO_NO_CHECK / UDP_NO_CHECK6_TX
// to what packet p needs, if they differ from the current settings.
func (s *sender) syncSocket(p *txPkt) error {
	df, nocheck := b2i(p.df), b2i(p.zeroCsum)
	if s.c.family == 6 {
		df = s.df // IPv6 has no DF bit; the kernel's vxlan never sets one either
	}
	if df == s.df && nocheck == s.nocheck {
		return nil
	}
	var err error
	cerr := s.c.udpRC.Control(func(fd uintptr) {
		if df != s.df {
			v := sys.IP_PMTUDISC_DONT
			if df == 1 {
				v = sys.IP_PMTUDISC_DO
			}
			if err = sys.SetInt(int(fd), sys.SOL_IP, sys.IP_MTU_DISCOVER, v); err != nil {
				return
			}
			s.df = df
		}
		if nocheck != s.nocheck {
			if s.c.family == 4 {
				err = sys.SetInt(int(fd), sys.SOL_SOCKET, sys.SO_NO_CHECK, nocheck)
			} else {
				err = sys.SetInt(int(fd), sys.SOL_UDP, sys.UDP_NO_CHECK6_TX, nocheck)
			}
			if err == nil {
				s.nocheck = nocheck
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sendRun sends packets with equal socket settings. A UDP_SEGMENT send the
// kernel refuses is sent again as plain datagrams, from the refused message
// on; the messages before it were sent and are not repeated.
func (s *sender) sendRun(bufs [][]byte, offset int, idx []int) (int, error) {
	sent := 0
	single := 0 // idx positions before this go out one datagram per message
	for p := 0; p < len(idx); {
		m := s.buildUDP(bufs, offset, idx, p, single)
		s.vlen, s.sent, s.err = m, 0, nil
		if err := s.c.udpRC.Write(s.fnUDP); err != nil {
			return sent, err
		}
		for k := range s.sent {
			sent += s.count[k]
			if s.count[k] > 1 {
				s.c.stats.TxGSOSends.Add(1)
			}
		}
		if s.err == nil {
			p = s.first[m-1] + s.count[m-1]
			continue
		}
		bad := s.sent
		if s.count[bad] > 1 {
			switch s.err {
			case sys.EIO:
				// udp_send_skb cannot segment on this path (no checksum
				// offload before Linux 6.11, an IPsec route): turn UDP
				// GSO off for good and resend from this message.
				s.c.gso.Store(false)
				p = s.first[bad]
				continue
			case sys.EMSGSIZE, sys.EINVAL:
				// The segment size is above the path MTU (udp_send_skb:
				// EMSGSIZE, on older kernels EINVAL): GSO cannot fragment,
				// plain sends can (DF clear) or fail one by one (DF set).
				// Resend this message's datagrams singly; GSO stays on,
				// but not for this flow's runs of this size for a while.
				p = s.first[bad]
				s.noteTooBig(&s.pk[idx[p]])
				single = p + s.count[bad]
				continue
			}
		}
		if isFatal(s.err) {
			return sent, s.err
		}
		s.c.stats.TxErrors.Add(uint64(s.count[bad]))
		p = s.first[bad] + s.count[bad]
	}
	return sent, nil
}

// buildUDP fills message headers for idx[p:], coalescing where allowed
// (not before position single), and returns the number of messages.
func (s *sender) buildUDP(bufs [][]byte, offset int, idx []int, p, single int) int {
	gso := s.c.gso.Load()
	limit := 65535 - ipv4HeaderLen - udpHeaderLen
	if s.c.family == 6 {
		limit = 65535 - udpHeaderLen
	}
	m, iv := 0, 0
	for p < len(idx) {
		pk := &s.pk[idx[p]]
		b := bufs[idx[p]][offset:]
		s.first[m], s.count[m] = p, 1
		h := &s.msgs[m].Hdr
		s.setName(m, &pk.dst, pk.dport, pk.oif)
		h.Iov = &s.iovs[iv]
		sys.SetIovec(&s.iovs[iv], b[pk.hl:pk.hl+pk.plen])
		iv++
		total, seg := pk.plen, pk.plen
		coalesce := gso && p >= single && !pk.zeroCsum && !pk.fallback && seg > 0 && !s.refusedBefore(pk)
		p++
		// UDP GSO refuses sockets without checksums (udp_send_skb), a
		// packet a raw send refused as too big is too big for a segment,
		// and a size refused as too big lately is not tried again.
		for coalesce && p < len(idx) && s.count[m] < gsoMaxSegments {
			q := &s.pk[idx[p]]
			if !pk.sameDest(q) || q.plen > seg || q.plen == 0 || total+q.plen > limit {
				break
			}
			qb := bufs[idx[p]][offset:]
			sys.SetIovec(&s.iovs[iv], qb[q.hl:q.hl+q.plen])
			iv++
			total += q.plen
			s.count[m]++
			p++
			if q.plen < seg {
				break // a shorter datagram ends a GSO batch
			}
		}
		h.SetIovlen(s.count[m])
		segSize := 0
		if s.count[m] > 1 {
			segSize = seg
		}
		n := s.putCmsgs(m, pk, segSize)
		if n == 0 {
			h.Control = nil
		} else {
			h.Control = &s.ctrl[m*ctrlSize]
		}
		h.SetControllen(n)
		m++
	}
	return m
}

// putCmsgs writes message m's ancillary data: TOS/TCLASS, TTL/HOPLIMIT,
// the source address (PKTINFO) and, for GSO, UDP_SEGMENT.
func (s *sender) putCmsgs(m int, p *txPkt, gsoSize int) int {
	b := s.ctrl[m*ctrlSize : (m+1)*ctrlSize]
	clear(b)
	n := 0
	var zero [16]byte
	if s.c.family == 4 {
		n += putCmsgInt(b[n:], sys.SOL_IP, sys.IP_TOS, int32(p.tos))
		n += putCmsgInt(b[n:], sys.SOL_IP, sys.IP_TTL, int32(p.ttl))
	} else {
		n += putCmsgInt(b[n:], sys.SOL_IPV6, sys.IPV6_TCLASS, int32(p.tos))
		n += putCmsgInt(b[n:], sys.SOL_IPV6, sys.IPV6_HOPLIMIT, int32(p.ttl))
	}
	if p.src != zero || p.oif != 0 {
		var src *[16]byte
		if p.src != zero {
			src = &p.src
		}
		n += s.putPktinfo(b[n:], src, p.oif)
	}
	if gsoSize > 0 {
		d := putCmsgHdr(b[n:], sys.SOL_UDP, sys.UDP_SEGMENT, 2)
		putNative16(d, uint16(gsoSize))
		n += sys.CmsgSpace(2)
	}
	return n
}

// putPktinfo writes an IP_PKTINFO or IPV6_PKTINFO message with the source
// address src (nil: the route chooses) and the output interface oif (0:
// the route chooses) and returns its length.
func (s *sender) putPktinfo(b []byte, src *[16]byte, oif int) int {
	return putPktinfo(b, s.c.family, src, oif)
}

// putPktinfo is sender.putPktinfo for a socket of family 4 or 6.
func putPktinfo(b []byte, family int, src *[16]byte, oif int) int {
	if family == 4 {
		d := putCmsgHdr(b, sys.SOL_IP, sys.IP_PKTINFO, 12)
		clear(d)
		binary.NativeEndian.PutUint32(d[0:], uint32(oif)) // ipi_ifindex
		if src != nil {
			copy(d[4:8], src[:4]) // ipi_spec_dst: the source address
		}
		return sys.CmsgSpace(12)
	}
	d := putCmsgHdr(b, sys.SOL_IPV6, sys.IPV6_PKTINFO, 20)
	clear(d)
	if src != nil {
		copy(d[0:16], src[:])
	}
	binary.NativeEndian.PutUint32(d[16:], uint32(oif)) // ipi6_ifindex
	return sys.CmsgSpace(20)
}

func putCmsgHdr(b []byte, level, typ, dataLen int) []byte {
	binary.NativeEndian.PutUint64(b[0:], uint64(sys.CmsgLen(dataLen)))
	binary.NativeEndian.PutUint32(b[8:], uint32(level))
	binary.NativeEndian.PutUint32(b[12:], uint32(typ))
	return b[sys.CmsgHdrLen : sys.CmsgHdrLen+dataLen]
}

func putCmsgInt(b []byte, level, typ int, v int32) int {
	d := putCmsgHdr(b, level, typ, 4)
	binary.NativeEndian.PutUint32(d, uint32(v))
	return sys.CmsgSpace(4)
}

func putNative16(b []byte, v uint16) { binary.NativeEndian.PutUint16(b, v) }
