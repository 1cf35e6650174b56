package vtep

// Tests that drive the datapath functions directly, without goroutines in
// between: allocation budgets, benchmarks and fuzz targets.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/mroute"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// nullConn is an underlay.Conn whose Read blocks until Close and whose
// Write accepts everything, keeping a copy of the packets when keep is set.
type nullConn struct {
	port     uint16
	verified bool
	closed   chan struct{}
	once     sync.Once
	readers  atomic.Int32 // calls to Read so far (they never return before Close)

	mu   sync.Mutex
	keep bool
	pkts [][]byte
}

var _ underlay.Conn = (*nullConn)(nil)

func newNullConn(port uint16, verified bool) *nullConn {
	return &nullConn{port: port, verified: verified, closed: make(chan struct{})}
}

func (c *nullConn) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	c.readers.Add(1)
	<-c.closed
	return 0, net.ErrClosed
}

func (c *nullConn) Write(bufs [][]byte, offset int) (int, error) {
	c.mu.Lock()
	if c.keep {
		for _, b := range bufs {
			c.pkts = append(c.pkts, append([]byte(nil), b[offset:]...))
		}
	}
	c.mu.Unlock()
	return len(bufs), nil
}

func (c *nullConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pkts
	c.pkts = nil
	return p
}

func (c *nullConn) BatchSize() int                   { return 64 }
func (c *nullConn) LocalPort() uint16                { return c.port }
func (c *nullConn) JoinGroup(netip.Addr, int) error  { return nil }
func (c *nullConn) LeaveGroup(netip.Addr, int) error { return nil }
func (c *nullConn) RXChecksumVerified() bool         { return c.verified }
func (c *nullConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *nullConn) setKeep(k bool)                   { c.mu.Lock(); c.keep = k; c.mu.Unlock() }

// nullDev is a tap.Device whose Read blocks until Close and whose Write
// accepts everything.
type nullDev struct {
	closed  chan struct{}
	once    sync.Once
	frames  int
	mu      sync.Mutex
	readers atomic.Int32 // calls to Read so far (they never return before Close)
}

func newNullDev() *nullDev { return &nullDev{closed: make(chan struct{})} }

func (d *nullDev) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.readers.Add(1)
	<-d.closed
	return 0, net.ErrClosed
}

func (d *nullDev) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.Lock()
	d.frames += len(bufs)
	d.mu.Unlock()
	return len(bufs), nil
}

func (d *nullDev) BatchSize() int { return 64 }
func (d *nullDev) Close() error   { d.once.Do(func() { close(d.closed) }); return nil }

// rig is one Host with null I/O and direct access to its links and sockets.
type rig struct {
	h     *Host
	conns map[SocketKey]*nullConn
}

func newRig(tb testing.TB, verified bool, locals ...string) *rig {
	tb.Helper()
	r := &rig{conns: map[SocketKey]*nullConn{}}
	var mu sync.Mutex
	var addrs []netip.Addr
	for _, a := range locals {
		addrs = append(addrs, netip.MustParseAddr(a))
	}
	h, err := NewHost(HostOptions{
		Opener: OpenerFunc(func(k SocketKey) (underlay.Conn, error) {
			c := newNullConn(k.Port, verified)
			mu.Lock()
			r.conns[k] = c
			mu.Unlock()
			return c, nil
		}),
		LocalAddrs: addrs,
		HashSeed:   1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.h = h
	tb.Cleanup(func() { h.Close() })
	return r
}

func (r *rig) link(tb testing.TB, name, args string) *Link {
	tb.Helper()
	cfg, err := config.ParseArgs(strings.Fields(args))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Name = name
	l, err := r.h.AddLink(cfg, newNullDev())
	if err != nil {
		tb.Fatal(err)
	}
	if err := l.SetUp(true); err != nil {
		tb.Fatal(err)
	}
	r.waitParked(tb)
	return l
}

// waitParked waits until every receive and transmit routine of the host
// has reached its first Read, so that their one-time setup (allocating
// their batches) is over before a benchmark's timer or an allocation count
// starts: B/op then reflects the steady state only.
func (r *rig) waitParked(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.parked() {
		if time.Now().After(deadline) {
			tb.Fatal("receive/transmit routines did not reach Read")
		}
		runtime.Gosched()
	}
}

func (r *rig) parked() bool {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	for _, s := range r.h.sockets {
		for _, c := range s.conns {
			if nc, ok := c.(*nullConn); ok && nc.readers.Load() == 0 {
				return false
			}
		}
	}
	for _, l := range r.h.links {
		for _, p := range l.ports {
			if nd, ok := p.dev.(*nullDev); ok && nd.readers.Load() == 0 {
				return false
			}
		}
	}
	return true
}

var (
	benchSrcMAC = header.MustParseMAC("02:aa:00:00:00:01")
	benchDstMAC = header.MustParseMAC("02:aa:00:00:00:02")
)

// udpFrame returns an Ethernet/IPv4/UDP frame of size bytes for flow i.
func udpFrame(size, i int) []byte {
	f := make([]byte, size)
	copy(f[0:6], benchDstMAC[:])
	copy(f[6:12], benchSrcMAC[:])
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8], ip[9] = 64, header.UDPProtocolNumber
	copy(ip[12:16], []byte{10, 1, 0, 1})
	copy(ip[16:20], []byte{10, 1, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:20], 0))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], uint16(1000+i))
	binary.BigEndian.PutUint16(u[2:], 5201)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	return f
}

// fillTX puts n copies of frames into a transmit batch.
func fillTX(b *txBatch, frames [][]byte) {
	for i, f := range frames {
		b.sizes[i] = copy(b.bufs[i][tap.Headroom:], f)
		b.metas[i] = tap.Meta{}
	}
}

// encapRig returns a link on 192.0.2.1 with a static entry for the bench
// destination at 192.0.2.2, and a filled batch of n frames of size bytes.
func encapRig(tb testing.TB, size, n int, args string) (*Link, *txBatch, [][]byte) {
	r := newRig(tb, true, "192.0.2.1")
	l := r.link(tb, "vx0", "id 42 local 192.0.2.1 dstport 4789 "+args)
	err := l.fdb.Add(fdb.Request{MAC: benchDstMAC, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("192.0.2.2")})
	if err != nil {
		tb.Fatal(err)
	}
	b := newTXBatch(n, l.host.bufSize)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(size, i)
	}
	fillTX(b, frames)
	return l, b, frames
}

// decapRig returns a socket with a link for VNI 42 that knows the source
// MAC, and a batch of n outer packets of size-byte frames as encapsulated
// by a peer.
func decapRig(tb testing.TB, size, n int, verified bool) (*socket, *rxBatch) {
	// Encapsulate on a peer rig.
	pl, pb, _ := encapRig(tb, size, n, "")
	pc := pl.sockFor(false).conn.(*nullConn)
	pc.setKeep(true)
	pl.transmit(pb, n)
	pkts := pc.take()
	if len(pkts) != n {
		tb.Fatalf("peer sent %d packets, want %d", len(pkts), n)
	}
	r := newRig(tb, verified, "192.0.2.2")
	l := r.link(tb, "vx0", "id 42 local 192.0.2.2 dstport 4789")
	// Learn the source once so that the steady state is LearnKnown.
	l.fdb.Learn(benchSrcMAC, 42, netip.MustParseAddr("192.0.2.1"), 0)
	b := newRXBatch(n, r.h.bufSize)
	for i, p := range pkts {
		b.sizes[i] = copy(b.bufs[i][tap.Headroom:], p)
	}
	return l.sockFor(false), b
}

// TestEncapAllocsZero: the steady-state transmit path allocates nothing
// (house rule: no per-packet allocation).
func TestEncapAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, args := range []string{"", "noudpcsum", "df inherit tos inherit ttl inherit"} {
		l, b, _ := encapRig(t, 1500, 64, args)
		if a := testing.AllocsPerRun(50, func() { l.transmit(b, 64) }); a != 0 {
			t.Errorf("%q: %v allocations per batch of 64", args, a)
		}
		if got := l.stats.TXPackets.Load(); got != 51*64 {
			t.Errorf("%q: tx_packets %d", args, got)
		}
	}
}

// TestFloodAllocsZero: head-end replication reuses its clone buffers once
// they exist.
func TestFloodAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, b, frames := encapRig(t, 256, 16, "remote 192.0.2.2")
	for _, a := range []string{"192.0.2.3", "192.0.2.4"} {
		if err := l.fdb.Append(fdb.Request{MAC: header.ZeroMAC, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr(a)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range frames {
		frames[i][0] = 0xff // broadcast-ish multicast destination: flood
	}
	fillTX(b, frames)
	if a := testing.AllocsPerRun(50, func() { l.transmit(b, 16) }); a != 0 {
		t.Errorf("%v allocations per flooded batch", a)
	}
	if got := l.stats.TXPackets.Load(); got != 51*16*3 {
		t.Errorf("tx_packets %d, want %d", got, 51*16*3)
	}
}

// forwardingRouter routes every packet out of two interfaces and counts
// what it is shown.
type forwardingRouter struct{ reports int }

func (r *forwardingRouter) RouteMulticast(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	return mroute.Forward, append(outs, 3, 4)
}

func (r *forwardingRouter) Report(src, group netip.Addr, oif int, pkt []byte) { r.reports++ }

func (r *forwardingRouter) ResolveHeld(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	return mroute.Unresolved, outs
}

func (r *forwardingRouter) SendResolved(pkt []byte, oif int) error { return nil }

// TestMCRouteForwardAllocsZero: a link with mcroute sends a copy of each
// frame out of each interface routing names and shows each to the
// reporter without allocating, once its clone buffers exist.
func TestMCRouteForwardAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, b, frames := encapRig(t, 256, 16, "group 233.252.0.1 dev lo10 mcroute")
	r := &forwardingRouter{}
	l.host.mrouter, l.host.mreport = r, r
	for i := range frames {
		frames[i][0] = 0xff // flooded to the group
	}
	fillTX(b, frames)
	if a := testing.AllocsPerRun(50, func() { l.transmit(b, 16) }); a != 0 {
		t.Errorf("%v allocations per routed batch", a)
	}
	if got, want := l.stats.TXPackets.Load(), uint64(51*16*2); got != want || r.reports != 51*16 {
		t.Errorf("tx_packets %d, reports %d; want %d, %d", got, r.reports, want, 51*16)
	}
}

// TestDecapAllocsZero: the steady-state receive path allocates nothing.
func TestDecapAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, verified := range []bool{true, false} {
		s, b := decapRig(t, 1500, 64, verified)
		if a := testing.AllocsPerRun(50, func() { s.receive(b, 64) }); a != 0 {
			t.Errorf("verified=%v: %v allocations per batch of 64", verified, a)
		}
		l, _ := s.lookup(42, 0)
		if got := l.stats.RXPackets.Load(); got != 51*64 {
			t.Errorf("rx_packets %d (drops: %v)", got, l.Stats().Map())
		}
	}
}

func benchEncap(b *testing.B, size int, args string) {
	const n = 64
	l, tb, _ := encapRig(b, size, n, args)
	l.transmit(tb, n) // warm-up, like the decap side
	b.ReportAllocs()
	b.SetBytes(int64(size * n))
	for b.Loop() {
		l.transmit(tb, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pkt")
}

func benchDecap(b *testing.B, size int, verified bool) {
	const n = 64
	s, rb := decapRig(b, size, n, verified)
	s.receive(rb, n) // warm-up: the batch grows its per-link group once
	b.ReportAllocs()
	b.SetBytes(int64(size * n))
	for b.Loop() {
		s.receive(rb, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pkt")
}

// BenchmarkEncap encapsulates batches of 64 frames (one op = one batch):
// with the default outer UDP checksum computed in software, and without
// ("noudpcsum", or an underlay that offloads it).
func BenchmarkEncap(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB/udpcsum", size), func(b *testing.B) { benchEncap(b, size, "") })
		b.Run(fmt.Sprintf("%dB/noudpcsum", size), func(b *testing.B) { benchEncap(b, size, "noudpcsum") })
	}
}

// BenchmarkDecap decapsulates batches of 64 packets (one op = one batch):
// "verified" is an underlay that checked the UDP checksum already (a kernel
// socket), "verify" checks it in the datapath.
func BenchmarkDecap(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB/verified", size), func(b *testing.B) { benchDecap(b, size, true) })
		b.Run(fmt.Sprintf("%dB/verify", size), func(b *testing.B) { benchDecap(b, size, false) })
	}
}

// FuzzReceive feeds arbitrary outer packets to a socket's receive path.
// It must not panic, and every packet must end up counted exactly once:
// as a host drop, a link drop, or a delivered frame.
func FuzzReceive(f *testing.F) {
	s4, b4 := decapRig(f, 120, 1, false)
	for _, p := range [][]byte{b4.bufs[0][tap.Headroom : tap.Headroom+b4.sizes[0]]} {
		f.Add(append([]byte(nil), p...))
		q := append([]byte(nil), p...)
		q[20+8+3] = 0x01 // reserved bit
		f.Add(q)
		q = append([]byte(nil), p...)
		q[20+8] = 0 // no I flag
		f.Add(q)
		f.Add(p[:30])
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) > len(b4.bufs[0])-tap.Headroom {
			return
		}
		l, _ := s4.lookup(42, 0)
		before := countAll(s4.host, l)
		b4.sizes[0] = copy(b4.bufs[0][tap.Headroom:], pkt)
		s4.receive(b4, 1)
		if got := countAll(s4.host, l) - before; got != 1 {
			t.Fatalf("packet counted %d times: host %v link %v", got, s4.host.Stats().Map(), l.Stats().Map())
		}
	})
}

// countAll sums the host and link drop counters and the link's rx_packets.
func countAll(h *Host, l *Link) uint64 {
	var n uint64
	for r := range NumDropReasons {
		n += h.stats.Drops[r].Load() + l.stats.Drops[r].Load()
	}
	return n + l.stats.RXPackets.Load()
}

// FuzzTransmit feeds arbitrary frames (with arbitrary metadata) to a link's
// transmit path. It must not panic, and every packet it writes must be a
// well-formed outer IPv4/UDP/VXLAN packet.
func FuzzTransmit(f *testing.F) {
	r := newRig(f, true, "192.0.2.1")
	l := r.link(f, "vx0", "id 42 local 192.0.2.1 remote 192.0.2.2 dstport 4789 proxy rsc l2miss l3miss gbp remcsumtx ttl inherit tos inherit df inherit")
	r.h.neigh.(*MemNeighbors).Set("vx0", netip.MustParseAddr("10.1.0.2"), Neighbor{MAC: benchDstMAC, State: NUDReachable})
	conn := l.sockFor(false).conn.(*nullConn)
	conn.setKeep(true)
	b := newTXBatch(1, r.h.bufSize)
	f.Add(udpFrame(100, 1), uint32(0), uint16(0), uint16(0))
	f.Add(udpFrame(60, 1), uint32(0x400012), uint16(34), uint16(6))
	f.Fuzz(func(t *testing.T, frame []byte, mark uint32, cs, co uint16) {
		if len(frame) > len(b.bufs[0])-tap.Headroom {
			return
		}
		b.sizes[0] = copy(b.bufs[0][tap.Headroom:], frame)
		b.metas[0] = tap.Meta{Mark: mark, ChecksumPartial: co != 0, ChecksumStart: cs, ChecksumOffset: co}
		l.transmit(b, 1)
		for _, p := range conn.take() {
			if len(p) < 36 || p[0] != 0x45 || int(binary.BigEndian.Uint16(p[2:])) != len(p) ||
				int(binary.BigEndian.Uint16(p[24:])) != len(p)-20 || p[28]&0x08 == 0 {
				t.Fatalf("malformed outer packet %x", p[:min(len(p), 64)])
			}
			if checksum.Sum(p[:20], 0) != 0xffff {
				t.Fatalf("bad outer IPv4 checksum")
			}
		}
	})
}

// TestDropReasonNames: every drop reason has its own counter name.
func TestDropReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumDropReasons {
		n := r.String()
		if n == "" || strings.HasPrefix(n, "DropReason(") || seen[n] {
			t.Errorf("drop reason %d has name %q", r, n)
		}
		seen[n] = true
	}
	drops, names := 0, map[string]bool{}
	for _, c := range (&Stats{}).Snapshot().Counters {
		if names[c.Name] {
			t.Errorf("counter %s appears twice", c.Name)
		}
		names[c.Name] = true
		if strings.HasPrefix(c.Name, "drop_") {
			drops++
		}
	}
	if drops != int(NumDropReasons) {
		t.Errorf("snapshot has %d drop counters, want %d", drops, NumDropReasons)
	}
}

// replay is an underlay.Conn and a tap.MetaDevice whose Read returns the
// same packets or frames every time, copied into the caller's buffers, and
// whose Write accepts everything: a source that never runs dry, for
// measuring whole loop turns.
type replay struct {
	pkts  [][]byte
	metas []tap.Meta
}

// newReplay replays frames. With partial it replaces each of them, in
// frames itself, by a copy whose inner UDP checksum is left partial, as a
// TAP hands it over.
func newReplay(frames [][]byte, partial bool) *replay {
	r := &replay{pkts: frames}
	if partial {
		r.metas = make([]tap.Meta, len(frames))
		for i, f := range frames {
			r.pkts[i] = append([]byte(nil), f...)
			r.metas[i] = partialUDP(r.pkts[i])
		}
	}
	return r
}

func (r *replay) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return r.ReadMeta(bufs, sizes, nil, offset)
}

func (r *replay) ReadMeta(bufs [][]byte, sizes []int, metas []tap.Meta, offset int) (int, error) {
	n := min(len(bufs), len(r.pkts))
	for i := range n {
		sizes[i] = copy(bufs[i][offset:], r.pkts[i])
		if metas != nil {
			metas[i] = tap.Meta{}
			if r.metas != nil {
				metas[i] = r.metas[i]
			}
		}
	}
	return n, nil
}

func (r *replay) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (r *replay) WriteMeta(bufs [][]byte, _ []tap.Meta, offset int) (int, error) {
	return len(bufs), nil
}
func (r *replay) BatchSize() int                   { return 64 }
func (r *replay) LocalPort() uint16                { return 4789 }
func (r *replay) JoinGroup(netip.Addr, int) error  { return nil }
func (r *replay) LeaveGroup(netip.Addr, int) error { return nil }
func (r *replay) Close() error                     { return nil }

// TestLoopTurnsAllocsZero: one whole turn of the receive loop (underlay
// Read, decapsulation, learning, delivery to the overlay queue) and of the
// transmit loop (overlay ReadMeta, FDB lookup, encapsulation, underlay
// Write) allocates nothing once warm, for full-size and small frames and
// for frames with partial checksums on both sides.
func TestLoopTurnsAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, size := range []int{60, 1500} {
		for _, partial := range []bool{false, true} {
			name := fmt.Sprintf("%dB partial=%v", size, partial)
			// Transmit: frames from the overlay, packets to a null Conn.
			l, b, frames := encapRig(t, size, 64, "")
			src := newReplay(frames, partial)
			p := &port{dev: src, mdev: src}
			if a := testing.AllocsPerRun(50, func() { l.transmitBatch(p, b) }); a != 0 {
				t.Errorf("%s: transmit turn: %v allocations", name, a)
			}
			if got := l.stats.TXPackets.Load(); got != 51*64 {
				t.Errorf("%s: tx_packets %d", name, got)
			}

			// Receive: the packets a peer sent, from a replaying Conn.
			pc := l.sockFor(false).conn.(*nullConn)
			pc.setKeep(true)
			l.transmit(b, 64)
			pkts := pc.take()
			if partial {
				// As a kernel peer over a veth sends them.
				for _, pk := range pkts {
					partialUDP(pk[20+vxlanHdrLen:])
				}
			}
			r := newRig(t, true, "192.0.2.2")
			rl := r.link(t, "vx0", "id 42 local 192.0.2.2 dstport 4789")
			rl.fdb.Learn(benchSrcMAC, 42, netip.MustParseAddr("192.0.2.1"), 0)
			rb := newRXBatch(64, r.h.bufSize)
			conn := &replay{pkts: pkts}
			if a := testing.AllocsPerRun(50, func() { rl.sockFor(false).receiveBatch(conn, rb) }); a != 0 {
				t.Errorf("%s: receive turn: %v allocations", name, a)
			}
			if got := rl.stats.RXPackets.Load(); got != 51*64 {
				t.Errorf("%s: rx_packets %d (%v)", name, got, rl.Stats().Map())
			}
			if got, want := rl.stats.RXChecksumPartial.Load(), uint64(51*64*boolInt(partial)); got != want {
				t.Errorf("%s: rx_csum_partial %d, want %d", name, got, want)
			}
		}
	}
}

// partialUDP turns the UDP checksum of an Ethernet/IPv4/UDP frame into
// the pseudo-header sum and returns the matching metadata.
func partialUDP(f []byte) tap.Meta {
	ip := f[14:]
	u := ip[20:]
	ps := checksum.Pseudo(ip[12:16], ip[16:20], header.UDPProtocolNumber, uint32(len(u)))
	binary.BigEndian.PutUint16(u[6:], ps)
	return tap.Meta{ChecksumPartial: true, ChecksumStart: 34, ChecksumOffset: 6}
}

// BenchmarkLoopTurn measures whole turns of the transmit and receive
// loops (one op = one batch of 64 frames) against replaying I/O, with
// complete and with partial inner checksums (partial: transmit completes
// them, receive finds a kernel peer's).
func BenchmarkLoopTurn(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, partial := range []bool{false, true} {
			l, tb, frames := encapRig(b, size, 64, "")
			src := newReplay(frames, partial)
			p := &port{dev: src, mdev: src}
			name := fmt.Sprintf("%dB/partial=%v", size, partial)
			b.Run("transmit/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size * 64))
				for b.Loop() {
					l.transmitBatch(p, tb)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
			})
			pc := l.sockFor(false).conn.(*nullConn)
			pc.setKeep(true)
			l.transmit(tb, 64)
			pkts := pc.take()
			pc.setKeep(false)
			if partial {
				for _, pk := range pkts {
					partialUDP(pk[20+vxlanHdrLen:])
				}
			}
			r := newRig(b, true, "192.0.2.2")
			rl := r.link(b, "vx0", "id 42 local 192.0.2.2 dstport 4789")
			rb := newRXBatch(64, r.h.bufSize)
			conn := &replay{pkts: pkts}
			b.Run("receive/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size * 64))
				for b.Loop() {
					rl.sockFor(false).receiveBatch(conn, rb)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
			})
		}
	}
}
