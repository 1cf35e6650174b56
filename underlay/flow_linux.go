package underlay

import (
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/vtepd/vtep/internal/sys"
)

// Flow sockets: UDP GSO for SendRaw without giving up the source port.
//
// The kernel's vxlan driver picks the outer UDP source port per inner flow
// (udp_flow_src_port), which spreads flows over ECMP paths and receive
// queues; the datapath copies that. A UDP socket always sends from its bound
// port, and UDP_SEGMENT works only on UDP sockets, so a raw socket gets the
// port right but cannot use GSO. For a run of at least minFlowRun
// equal-size datagrams of one flow (same addresses, ports, TOS, TTL, DF, a
// checksum, no IPv6 flow label) the sender uses a UDP socket bound to the
// flow's source address and port and connected to its destination, and
// sends the run as one UDP_SEGMENT send. The packets on the wire are those
// the raw path would send, except that the kernel picks the IPv4 IDs and
// computes the UDP checksums (RFC 6864: with DF set the ID has no meaning).
//
// Because it is connected, such a socket only receives datagrams from the
// remote VTEP's destination port to our source port, which VXLAN peers do
// not send; its receive buffer is minimal and never read. A source port
// already bound by another socket makes bind fail; the flow is then sent raw
// and not retried for flowRetryBatches batches. At most maxFlowSockets are
// kept, the least recently used one being closed to make room. Each holds
// its port for as long as it is open.
const (
	minFlowRun       = 4
	maxFlowSockets   = 128
	flowRetryBatches = 4096
)

type flowKey struct {
	src, dst     [16]byte
	sport, dport uint16
	oif          int // output interface, 0 for none
}

// flowKey returns the flow packet p belongs to.
func (p *txPkt) flowKey() flowKey {
	return flowKey{src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, oif: p.oif}
}

type flowSock struct {
	f    io.Closer
	rc   syscall.RawConn
	df   int
	last uint64
}

// flowCache is used under the Conn's write lock; mu additionally guards
// socks and closed so that Close can close the sockets while a Write is
// blocked.
type flowCache struct {
	mu     sync.Mutex
	closed bool
	socks  map[flowKey]*flowSock
	failed map[flowKey]uint64
	// tooBig remembers, per flow, a segment size the kernel refused to
	// send with UDP_SEGMENT (above the path MTU), and the batch it did:
	// runs of that size or larger go out plainly, without trying GSO
	// first, for flowRetryBatches batches. Both send modes use it, under
	// the Conn's write lock only.
	tooBig map[flowKey]tooBigRun
}

type tooBigRun struct {
	size  int
	batch uint64
}

// noteTooBig remembers that the kernel refused a GSO run of p's flow with
// segments of p's size as larger than the path MTU.
func (s *sender) noteTooBig(p *txPkt) {
	if s.flows.tooBig == nil || len(s.flows.tooBig) > 4*maxFlowSockets {
		s.flows.tooBig = map[flowKey]tooBigRun{}
	}
	s.flows.tooBig[p.flowKey()] = tooBigRun{p.plen, s.batchNo}
}

// refusedBefore reports whether a GSO run of p's flow and size was refused
// as too big in the last flowRetryBatches batches.
func (s *sender) refusedBefore(p *txPkt) bool {
	fc := &s.flows
	if len(fc.tooBig) == 0 {
		return false
	}
	k := p.flowKey()
	r, ok := fc.tooBig[k]
	if !ok {
		return false
	}
	if s.batchNo-r.batch >= flowRetryBatches {
		delete(fc.tooBig, k)
		return false
	}
	return p.plen >= r.size
}

func (fc *flowCache) closeAll() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.closed = true
	fc.closeSocks()
}

// release closes the open flow sockets (GSO is off: they are not needed).
func (fc *flowCache) release() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.closeSocks()
}

func (fc *flowCache) closeSocks() {
	for k, fs := range fc.socks {
		fs.f.Close()
		delete(fc.socks, k)
	}
}

// flowRun returns the length of the run of packets from i that can go out
// as one GSO send from a flow socket, or 0.
func (s *sender) flowRun(i int) int {
	if !s.c.gso.Load() {
		return 0
	}
	p := &s.pk[i]
	if !flowable(s.c.family, p) || (p.df && s.refusedBefore(p)) {
		return 0
	}
	limit := 65535 - ipv4HeaderLen - udpHeaderLen
	if s.c.family == 6 {
		limit = 65535 - udpHeaderLen
	}
	n, total, seg := 1, p.plen, p.plen
	for j := i + 1; j < s.npk && n < gsoMaxSegments; j++ {
		q := &s.pk[j]
		if !q.ok || q.sport != p.sport || !p.sameDest(q) || q.plen > seg || q.plen == 0 || total+q.plen > limit {
			break
		}
		n++
		total += q.plen
		if q.plen < seg {
			break
		}
	}
	if n < minFlowRun {
		return 0
	}
	return n
}

// flowable reports whether a flow socket can send packet p as the raw
// socket would: with a UDP checksum, a payload, IPv6 flow label 0, to a
// unicast destination.
func flowable(family int, p *txPkt) bool {
	return !p.zeroCsum && p.plen != 0 && p.flow == 0 && !isMulticast(family, &p.dst)
}

func isMulticast(family int, a *[16]byte) bool {
	if family == 4 {
		return a[0]&0xf0 == 0xe0
	}
	return a[0] == 0xff
}

// flowSocket returns the socket for packet p's flow, opening it if needed;
// nil means: send raw.
func (s *sender) flowSocket(p *txPkt) *flowSock {
	fc := &s.flows
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return nil
	}
	k := p.flowKey()
	if fs := fc.socks[k]; fs != nil {
		fs.last = s.batchNo
		return fs
	}
	if t, ok := fc.failed[k]; ok && s.batchNo-t < flowRetryBatches {
		return nil
	}
	if fc.socks == nil {
		fc.socks = map[flowKey]*flowSock{}
		fc.failed = map[flowKey]uint64{}
	}
	if len(fc.socks) >= maxFlowSockets {
		var oldest flowKey
		var min uint64 = ^uint64(0)
		for k, fs := range fc.socks {
			if fs.last < min {
				oldest, min = k, fs.last
			}
		}
		fc.socks[oldest].f.Close()
		delete(fc.socks, oldest)
	}
	fs, err := s.openFlow(k)
	if err != nil {
		if len(fc.failed) > 4*maxFlowSockets {
			clear(fc.failed)
		}
		fc.failed[k] = s.batchNo
		s.c.stats.TxFlowSocketFailures.Add(1)
		return nil
	}
	fs.last = s.batchNo
	fc.socks[k] = fs
	s.c.stats.TxFlowSockets.Add(1)
	return fs
}

func (s *sender) openFlow(k flowKey) (*flowSock, error) {
	c := s.c
	af := sys.AF_INET
	if c.family == 6 {
		af = sys.AF_INET6
	}
	setup := s.flowSetup(k)
	var rc syscall.RawConn
	var closer io.Closer
	err := c.netns.Do(func() (err error) {
		rc, closer, err = sys.SocketConn(af, sys.SOCK_DGRAM, sys.IPPROTO_UDP, fmt.Sprintf("flow%d:%d", c.family, k.sport), setup, c.inThread)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &flowSock{f: closer, rc: rc, df: 0}, nil
}

// flowSetup returns the socket setup for flow k: options, bind, connect.
func (s *sender) flowSetup(k flowKey) func(fd int) error {
	c := s.c
	return func(fd int) error {
		sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_RCVBUF, 0)
		setBuffers(fd, -1, 1<<20)
		if c.device != "" {
			if err := sys.SetString(fd, sys.SOL_SOCKET, sys.SO_BINDTODEVICE, c.device); err != nil {
				return err
			}
		} else if k.oif != 0 {
			// The flow's output interface; it is also the scope of
			// link-local addresses, which bind and connect need.
			if err := sys.SetInt(fd, sys.SOL_SOCKET, sys.SO_BINDTOIFINDEX, k.oif); err != nil {
				return err
			}
		}
		if c.family == 4 {
			if err := sys.SetInt(fd, sys.SOL_IP, sys.IP_MTU_DISCOVER, sys.IP_PMTUDISC_DONT); err != nil {
				return err
			}
			sys.SetInt(fd, sys.SOL_IP, sys.IP_MULTICAST_LOOP, 0) // as the UDP socket
			if err := sys.Bind4(fd, [4]byte(k.src[:4]), k.sport); err != nil {
				return err
			}
			return sys.Connect4(fd, [4]byte(k.dst[:4]), k.dport)
		}
		sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_V6ONLY, 1)
		sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_MULTICAST_LOOP, 0) // as the UDP socket
		// The datapath's label is 0 for these flows: keep the kernel from
		// choosing one (net.ipv6.auto_flowlabels).
		sys.SetInt(fd, sys.SOL_IPV6, sys.IPV6_AUTOFLOWLABEL, 0)
		if err := sys.Bind6(fd, k.src, k.sport); err != nil {
			return err
		}
		return sys.Connect6(fd, k.dst, k.dport, 0)
	}
}

// sendFlow sends packets i..i+run-1 (one flow) as one UDP_SEGMENT send. It
// returns the number sent; 0 with s.flowErr false means no flow socket could
// be used or the kernel refused to segment the run, nothing was sent, and
// the caller sends them raw; with s.flowErr true they were dropped (counted
// in TxErrors).
func (s *sender) sendFlow(bufs [][]byte, offset, i, run int) (int, error) {
	s.flowErr = false
	p := &s.pk[i]
	fs := s.flowSocket(p)
	if fs == nil || !s.syncFlowDF(fs, p) {
		return 0, nil
	}
	if s.refusedBefore(p) {
		// Too big for the path (flowRun leaves such runs with DF set to
		// the raw socket): plain datagrams that IP fragments.
		return s.sendFlowPlain(fs, bufs, offset, i, run)
	}
	s.flowIovecs(bufs, offset, i, run)
	h := &s.fmsg[0].Hdr
	h.Name, h.Namelen = nil, 0
	h.Iov = &s.fiov[0]
	h.SetIovlen(run)
	n := s.putFlowCmsgs(p, true)
	h.Control = &s.fctrl[0]
	h.SetControllen(n)
	for attempt := 0; ; attempt++ {
		s.fsent, s.ferr = 0, nil
		if err := fs.rc.Write(s.fnFlow); err != nil {
			// The flow socket itself is gone; forget it.
			s.dropFlow(p)
			return 0, nil
		}
		switch {
		case s.ferr == nil && s.fsent == 1:
			s.c.stats.TxGSOSends.Add(1)
			return run, nil
		case s.ferr == sys.ECONNREFUSED && attempt == 0:
			// An ICMP port unreachable for an earlier send was reported
			// on this connected socket; the send did not happen.
			continue
		case s.ferr == sys.EIO:
			// udp_send_skb cannot segment on this path (no checksum
			// offload before Linux 6.11, an IPsec route): no UDP GSO
			// from now on. The flow sockets will be used again only for
			// datagrams above the path MTU; close them so that they
			// stop holding their ports. The caller sends the run raw.
			s.c.gso.Store(false)
			s.flows.release()
			return 0, nil
		case s.ferr == sys.EMSGSIZE || s.ferr == sys.EINVAL:
			// The segment size is above the path MTU (udp_send_skb
			// refuses the whole send; older kernels say EINVAL). With DF
			// clear the run goes out from this socket as plain
			// datagrams, which IP fragments, keeping the flow's source
			// port as the kernel's vxlan does. With DF set the caller
			// sends it raw, which drops and counts each datagram as any
			// other too-big packet. Runs of this size are not tried
			// with GSO again for a while.
			s.noteTooBig(p)
			if !p.df {
				return s.sendFlowPlain(fs, bufs, offset, i, run)
			}
			return 0, nil
		}
		s.c.stats.TxErrors.Add(uint64(run))
		s.flowErr = true
		return 0, nil
	}
}

func (s *sender) dropFlow(p *txPkt) {
	k := p.flowKey()
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	if fs := s.flows.socks[k]; fs != nil {
		fs.f.Close()
		delete(s.flows.socks, k)
	}
}

// sendFlowFn runs under the poller: one sendmsg of s.fmsg.
func (s *sender) sendFlowFn(fd uintptr) bool {
	for {
		n, err := sendmmsg(fd, s.fmsg[:], 0)
		switch err {
		case nil:
			s.fsent = n
			return true
		case sys.EAGAIN:
			return false
		case sys.EINTR:
			continue
		}
		s.ferr = err
		return true
	}
}

// syncFlowDF sets the flow socket's IPv4 DF behaviour to packet p's; false
// means the socket refused.
func (s *sender) syncFlowDF(fs *flowSock, p *txPkt) bool {
	df := b2i(p.df)
	if s.c.family != 4 || df == fs.df {
		return true
	}
	v := sys.IP_PMTUDISC_DONT
	if df == 1 {
		v = sys.IP_PMTUDISC_DO
	}
	var err error
	fs.rc.Control(func(fd uintptr) { err = sys.SetInt(int(fd), sys.SOL_IP, sys.IP_MTU_DISCOVER, v) })
	if err != nil {
		return false
	}
	fs.df = df
	return true
}

// flowIovecs points s.fiov[0:run] at the UDP payloads of packets i..i+run-1.
func (s *sender) flowIovecs(bufs [][]byte, offset, i, run int) {
	if len(s.fiov) < gsoMaxSegments {
		s.fiov = make([]sys.Iovec, gsoMaxSegments)
	}
	for k := range run {
		q := &s.pk[i+k]
		b := bufs[i+k][offset:]
		sys.SetIovec(&s.fiov[k], b[q.hl:q.hl+q.plen])
	}
}

// sendFlowPlain sends packets i..i+run-1 (one flow, DF clear, at most
// gsoMaxSegments) from the flow's socket as plain datagrams in one
// sendmmsg: larger than the path MTU, they are fragmented by IP, and keep
// the flow's source port. It uses the message arrays, which hold no queued
// raw messages when it runs. It returns the number sent; 0 with s.flowErr
// false means nothing was sent and the caller sends them raw.
func (s *sender) sendFlowPlain(fs *flowSock, bufs [][]byte, offset, i, run int) (int, error) {
	p := &s.pk[i]
	s.flowIovecs(bufs, offset, i, run)
	n := s.putFlowCmsgs(p, false)
	for k := range run {
		h := &s.msgs[k].Hdr
		h.Name, h.Namelen = nil, 0 // connected
		h.Iov = &s.fiov[k]
		h.SetIovlen(1)
		h.Control = &s.fctrl[0]
		h.SetControllen(n)
	}
	defer func() {
		for k := range run {
			s.msgs[k].Hdr.Name = &s.names[k][0]
		}
	}()
	sent, refused := 0, false
	for done := 0; done < run; {
		s.vlen, s.sent, s.err = run, done, nil
		if err := fs.rc.Write(s.fnRaw); err != nil {
			// The flow socket itself is gone; forget it.
			s.dropFlow(p)
			if sent == 0 {
				return 0, nil
			}
			s.c.stats.TxErrors.Add(uint64(run - done))
			s.flowErr = true
			break
		}
		sent += s.sent - done
		done = s.sent
		switch {
		case s.err == nil:
		case s.err == sys.ECONNREFUSED && !refused:
			// An ICMP port unreachable for an earlier send was
			// reported on this connected socket; this send did not
			// happen.
			refused = true
		default:
			s.c.stats.TxErrors.Add(1)
			s.flowErr = true
			done++
		}
	}
	s.c.stats.TxFallback.Add(uint64(sent))
	return sent, nil
}

// putFlowCmsgs writes TOS/TCLASS, TTL/HOPLIMIT and, for a GSO send,
// UDP_SEGMENT for a flow send.
func (s *sender) putFlowCmsgs(p *txPkt, gso bool) int {
	b := s.fctrl[:]
	clear(b)
	n := 0
	if s.c.family == 4 {
		n += putCmsgInt(b[n:], sys.SOL_IP, sys.IP_TOS, int32(p.tos))
		n += putCmsgInt(b[n:], sys.SOL_IP, sys.IP_TTL, int32(p.ttl))
	} else {
		n += putCmsgInt(b[n:], sys.SOL_IPV6, sys.IPV6_TCLASS, int32(p.tos))
		n += putCmsgInt(b[n:], sys.SOL_IPV6, sys.IPV6_HOPLIMIT, int32(p.ttl))
	}
	if !gso {
		return n
	}
	d := putCmsgHdr(b[n:], sys.SOL_UDP, sys.UDP_SEGMENT, 2)
	putNative16(d, uint16(p.plen))
	return n + sys.CmsgSpace(2)
}
