package underlay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/internal/sys"
)

const headroom = 128

func listen(t testing.TB, ns *nstest.NS, opts Options) *LinuxConn {
	t.Helper()
	var c *LinuxConn
	if err := ns.Do(func() (err error) {
		c, err = ListenUDP(opts)
		return err
	}); err != nil {
		t.Fatalf("ListenUDP(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pkt describes an outer packet for the tests to build.
type pkt struct {
	src, dst     netip.Addr
	sport, dport uint16
	tos, ttl     uint8
	df           bool
	flow         uint32
	zeroCsum     bool
	payload      []byte
}

// build returns a buffer with headroom holding the outer packet, as the
// datapath builds it for a Conn with TXChecksumOffload (pseudo-header sum in
// the UDP checksum field unless zeroCsum).
func (p pkt) build() []byte {
	var b []byte
	ul := udpHeaderLen + len(p.payload)
	if p.dst.Is4() {
		b = make([]byte, headroom+ipv4HeaderLen+ul)
		ip := b[headroom:]
		ip[0], ip[1] = 0x45, p.tos
		binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+ul))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		if p.df {
			ip[6] = 0x40
		}
		ip[8], ip[9] = p.ttl, 17
		s, d := p.src.As4(), p.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:20], 0))
	} else {
		b = make([]byte, headroom+ipv6HeaderLen+ul)
		ip := b[headroom:]
		binary.BigEndian.PutUint32(ip, 6<<28|uint32(p.tos)<<20|p.flow)
		binary.BigEndian.PutUint16(ip[4:], uint16(ul))
		ip[6], ip[7] = 17, p.ttl
		s, d := p.src.As16(), p.dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	ip := b[headroom:]
	hl := ipv4HeaderLen
	if p.dst.Is6() {
		hl = ipv6HeaderLen
	}
	u := ip[hl:]
	binary.BigEndian.PutUint16(u[0:], p.sport)
	binary.BigEndian.PutUint16(u[2:], p.dport)
	binary.BigEndian.PutUint16(u[4:], uint16(ul))
	copy(u[8:], p.payload)
	if !p.zeroCsum {
		// The Conn offloads the checksum (TXChecksumOffload): like the
		// datapath, leave the folded pseudo-header sum.
		binary.BigEndian.PutUint16(u[6:], checksum.Pseudo(p.src.AsSlice(), p.dst.AsSlice(), 17, uint32(ul)))
	}
	return b
}

// got is a received packet, decoded from the rebuilt headers.
type got struct {
	src, dst     netip.Addr
	sport, dport uint16
	tos, ttl     uint8
	flow         uint32
	csum         uint16
	payload      []byte
	ipv4CsumOK   bool
	ifindex      int // the interface it arrived on (ReadInfo)
}

func decode(t testing.TB, b []byte) got {
	t.Helper()
	var g got
	var u []byte
	switch b[0] >> 4 {
	case 4:
		g.src = netip.AddrFrom4([4]byte(b[12:16]))
		g.dst = netip.AddrFrom4([4]byte(b[16:20]))
		g.tos, g.ttl = b[1], b[8]
		g.ipv4CsumOK = checksum.Sum(b[:20], 0) == 0xffff
		if int(binary.BigEndian.Uint16(b[2:])) != len(b) {
			t.Errorf("IPv4 total length %d, packet %d", binary.BigEndian.Uint16(b[2:]), len(b))
		}
		u = b[20:]
	case 6:
		w := binary.BigEndian.Uint32(b)
		g.tos, g.flow, g.ttl = uint8(w>>20), w&0xfffff, b[7]
		g.src = netip.AddrFrom16([16]byte(b[8:24]))
		g.dst = netip.AddrFrom16([16]byte(b[24:40]))
		if int(binary.BigEndian.Uint16(b[4:]))+40 != len(b) {
			t.Errorf("IPv6 payload length %d, packet %d", binary.BigEndian.Uint16(b[4:]), len(b))
		}
		u = b[40:]
	default:
		t.Fatalf("rebuilt packet has IP version %d", b[0]>>4)
	}
	g.sport, g.dport = binary.BigEndian.Uint16(u), binary.BigEndian.Uint16(u[2:])
	if int(binary.BigEndian.Uint16(u[4:])) != len(u) {
		t.Errorf("UDP length %d, datagram %d", binary.BigEndian.Uint16(u[4:]), len(u))
	}
	g.csum = binary.BigEndian.Uint16(u[6:])
	g.payload = u[8:]
	return g
}

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+size)
	}
	return bufs, make([]int, n)
}

// readN reads exactly n packets (failing after a timeout), with batches of
// batch buffers.
func readN(t testing.TB, c *LinuxConn, n, batch, size int) []got {
	t.Helper()
	type result struct {
		pkts []got
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var out []got
		bufs, sizes := newBufs(batch, size)
		info := make([]RxInfo, batch)
		for len(out) < n {
			k, err := c.ReadInfo(bufs, sizes, info, headroom)
			if err != nil {
				done <- result{out, err}
				return
			}
			for i := range k {
				g := decode(t, bytes.Clone(bufs[i][headroom:headroom+sizes[i]]))
				g.ifindex = info[i].Ifindex
				out = append(out, g)
			}
		}
		done <- result{out, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Read after %d packets: %v", len(r.pkts), r.err)
		}
		return r.pkts
	case <-time.After(10 * time.Second):
		c.Close()
		t.Fatalf("timed out waiting for %d packets", n)
	}
	return nil
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

var loopback = map[int]netip.Addr{4: netip.MustParseAddr("127.0.0.1"), 6: netip.MustParseAddr("::1")}

// TestSendReceiveBatch sends a batch of 64 packets with distinct sizes,
// TOS and TTL from one Conn to another over loopback and checks what the
// receiver rebuilds: addresses, ports, TOS/TTL (IP_RECVTOS/IP_RECVTTL,
// IPV6_RECVTCLASS/IPV6_RECVHOPLIMIT), lengths and payloads. In raw mode
// the source port is the datapath's (wire-exact, like the kernel's vxlan
// per-flow source port from udp_flow_src_port); in UDP mode it is the
// sender's bound port.
func TestSendReceiveBatch(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			for _, inThread := range []bool{false, true} {
				name := fmt.Sprintf("ipv%d/%v", fam, mode)
				if inThread {
					name += "/in-thread"
				}
				t.Run(name, func(t *testing.T) {
					nstest.SkipUnlessRoot(t)
					ns := nstest.NewNS(t, "udp")
					a := listen(t, ns, Options{Family: fam, Send: mode, WaitInThread: inThread})
					b := listen(t, ns, Options{Family: fam, WaitInThread: inThread})
					if a.SendMode() != mode {
						t.Fatalf("SendMode() = %v, want %v", a.SendMode(), mode)
					}
					lo := loopback[fam]
					const n = 64
					bufs := make([][]byte, n)
					want := make([]pkt, n)
					for i := range n {
						want[i] = pkt{src: lo, dst: lo, sport: uint16(40000 + i), dport: b.LocalPort(),
							tos: uint8(i*4) | 1, ttl: uint8(1 + i), flow: uint32(i * 1000),
							payload: bytes.Repeat([]byte{byte(i)}, 50+i*20)}
						bufs[i] = want[i].build()
					}
					sent, err := a.Write(bufs, headroom)
					if err != nil || sent != n {
						t.Fatalf("Write = %d, %v; stats %+v", sent, err, a.Stats())
					}
					pkts := readN(t, b, n, 64, 2048)
					for i, g := range pkts {
						w := want[i]
						wantSport := w.sport
						if mode == SendUDP {
							wantSport = a.LocalPort()
						}
						if g.src != lo || g.dst != lo || g.sport != wantSport || g.dport != b.LocalPort() {
							t.Errorf("packet %d: %v:%d -> %v:%d, want %v:%d -> %v:%d", i, g.src, g.sport, g.dst, g.dport, lo, wantSport, lo, b.LocalPort())
						}
						if g.tos != w.tos || g.ttl != w.ttl {
							t.Errorf("packet %d: tos %#x ttl %d, want %#x %d", i, g.tos, g.ttl, w.tos, w.ttl)
						}
						if fam == 6 && mode == SendRaw && g.flow != w.flow {
							t.Errorf("packet %d: flow label %d, want %d", i, g.flow, w.flow)
						}
						if fam == 4 && !g.ipv4CsumOK {
							t.Errorf("packet %d: rebuilt IPv4 header checksum is wrong", i)
						}
						if g.csum != 0 {
							t.Errorf("packet %d: rebuilt UDP checksum %#x, want 0 (verified by the kernel)", i, g.csum)
						}
						if !bytes.Equal(g.payload, w.payload) {
							t.Errorf("packet %d: payload differs (%d bytes, want %d)", i, len(g.payload), len(w.payload))
						}
					}
					if !b.RXChecksumVerified() {
						t.Error("RXChecksumVerified() = false")
					}
				})
			}
		}
	}
}

// TestGROSplit sends equal-size datagrams with UDP GSO (one UDP_SEGMENT
// send per run) to a UDP_GRO receiver, which gets them as one coalesced
// buffer (offloads-and-gro.md §6.2) and must split them back, across Reads
// with fewer buffers than datagrams.
func TestGROSplit(t *testing.T) {
	for _, fam := range []int{4, 6} {
		t.Run(fmt.Sprintf("ipv%d", fam), func(t *testing.T) {
			a, b := gsoToGRO(t, "gro", fam)
			lo := loopback[fam]
			const n = 40
			bufs := make([][]byte, n)
			for i := range n {
				size := 1000
				if i == n-1 {
					size = 333 // a shorter tail may end a GSO run
				}
				bufs[i] = pkt{src: lo, dst: lo, sport: 1, dport: b.LocalPort(), tos: 0x10, ttl: 9,
					payload: bytes.Repeat([]byte{byte(i)}, size)}.build()
			}
			if sent, err := a.Write(bufs, headroom); err != nil || sent != n {
				t.Fatalf("Write = %d, %v", sent, err)
			}
			if st := a.Stats(); st.TxGSOSends != 1 {
				t.Errorf("TxGSOSends = %d, want 1 (one UDP_SEGMENT send for the run)", st.TxGSOSends)
			}
			pkts := readN(t, b, n, 16, 1500)
			for i, g := range pkts {
				want := 1000
				if i == n-1 {
					want = 333
				}
				if len(g.payload) != want || g.payload[0] != byte(i) || g.payload[want-1] != byte(i) {
					t.Errorf("packet %d: %d bytes of %d, want %d of %d", i, len(g.payload), g.payload[0], want, i)
				}
				if g.tos != 0x10 || g.ttl != 9 || g.sport != a.LocalPort() {
					t.Errorf("packet %d: tos %#x ttl %d sport %d", i, g.tos, g.ttl, g.sport)
				}
			}
			if st := b.Stats(); st.RxCoalesced == 0 {
				t.Errorf("receiver saw no coalesced buffers: %+v", st)
			}
		})
	}
}

// TestZeroChecksum checks the zero-checksum settings end to end: an IPv6
// datagram with checksum 0 (udp6zerocsumtx) reaches a socket with
// UDP_NO_CHECK6_RX (udp6zerocsumrx) and is dropped by one without (RFC 8200
// §8.1; kernel udp6_csum_init), while an IPv4 zero checksum is always
// accepted (RFC 768). In UDP mode this needs SO_NO_CHECK/UDP_NO_CHECK6_TX
// on the sending socket, kept in step with the packets.
func TestZeroChecksum(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			t.Run(fmt.Sprintf("ipv%d/%v", fam, mode), func(t *testing.T) {
				nstest.SkipUnlessRoot(t)
				ns := nstest.NewNS(t, "csum")
				a := listen(t, ns, Options{Family: fam, Send: mode})
				ok := listen(t, ns, Options{Family: fam, ZeroChecksum6RX: true})
				strict := listen(t, ns, Options{Family: fam})
				lo := loopback[fam]
				var bufs [][]byte
				for _, dst := range []*LinuxConn{ok, strict} {
					// zero, good, zero: checks the socket setting flips back.
					for i, zero := range []bool{true, false, true} {
						bufs = append(bufs, pkt{src: lo, dst: lo, sport: 7, dport: dst.LocalPort(), ttl: 64,
							zeroCsum: zero, payload: []byte{byte(i), 'x'}}.build())
					}
				}
				// A final good packet to each, so reads never block.
				bufs = append(bufs, pkt{src: lo, dst: lo, sport: 7, dport: ok.LocalPort(), ttl: 64, payload: []byte{9, 'x'}}.build())
				bufs = append(bufs, pkt{src: lo, dst: lo, sport: 7, dport: strict.LocalPort(), ttl: 64, payload: []byte{9, 'x'}}.build())
				if _, err := a.Write(bufs, headroom); err != nil {
					t.Fatal(err)
				}
				seq := func(ps []got) []byte {
					var s []byte
					for _, p := range ps {
						s = append(s, p.payload[0])
					}
					return s
				}
				if s := seq(readN(t, ok, 4, 8, 512)); !bytes.Equal(s, []byte{0, 1, 2, 9}) {
					t.Errorf("zero-checksum-accepting socket got %v, want [0 1 2 9]", s)
				}
				wantStrict := []byte{0, 1, 2, 9}
				if fam == 6 {
					wantStrict = []byte{1, 9}
				}
				if s := seq(readN(t, strict, len(wantStrict), 8, 512)); !bytes.Equal(s, wantStrict) {
					t.Errorf("strict socket got %v, want %v", s, wantStrict)
				}
			})
		}
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for _, tc := range []struct{ gro, inThread bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
		t.Run(fmt.Sprintf("gro=%v/in-thread=%v", tc.gro, tc.inThread), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			ns := nstest.NewNS(t, "close")
			c := listen(t, ns, Options{Family: 4, DisableGRO: !tc.gro, WaitInThread: tc.inThread})
			errc := make(chan error, 1)
			go func() {
				bufs, sizes := newBufs(8, 1500)
				_, err := c.Read(bufs, sizes, headroom)
				errc <- err
			}()
			c.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Read after Close = %v, want net.ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read still blocked after Close")
			}
			if _, err := c.Write(nil, 0); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close = %v, want net.ErrClosed", err)
			}
		})
	}
}

// gsoToGRO returns, in a new namespace named after name, a UDP_SEGMENT
// sender a (SendUDP) and a UDP_GRO receiver b of family fam; it skips the
// test without root or when the kernel lacks either offload.
func gsoToGRO(t *testing.T, name string, fam int) (a, b *LinuxConn) {
	t.Helper()
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, name)
	a = listen(t, ns, Options{Family: fam, Send: SendUDP})
	b = listen(t, ns, Options{Family: fam})
	if !a.GSO() || !b.GRO() {
		t.Skipf("kernel lacks UDP GSO/GRO (gso %v gro %v)", a.GSO(), b.GRO())
	}
	return a, b
}

// vethPair joins namespaces a and b with a veth pair (veth0 in a with
// 10.9.0.1 and fd00::1, veth1 in b with 10.9.0.2 and fd00::2) and returns
// the interface indexes.
func vethPair(t *testing.T, a, b *nstest.NS, mtu int) (idx0, idx1 int) {
	t.Helper()
	nstest.AddVeth(t, a, b, nstest.Veth{NameA: "veth0", NameB: "veth1", MTU: mtu,
		AddrsA: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24"), netip.MustParsePrefix("fd00::1/64")},
		AddrsB: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24"), netip.MustParsePrefix("fd00::2/64")}})
	return linkIndex(t, a, "veth0"), linkIndex(t, b, "veth1")
}

// linkIndex returns the interface index of name in ns.
func linkIndex(t testing.TB, ns *nstest.NS, name string) (idx int) {
	t.Helper()
	ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err == nil {
			idx = l.Attrs().Index
		}
		return err
	})
	if idx == 0 {
		t.Fatalf("%s not found", name)
	}
	return idx
}

// TestMulticastJoin joins a group on one end of a veth pair, sends to the
// group out of the other end (the multicast interface follows JoinGroup,
// as the kernel's vxlan sends to its group on `dev`), and checks delivery
// stops after LeaveGroup.
func TestMulticastJoin(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			t.Run(fmt.Sprintf("ipv%d/%v", fam, mode), func(t *testing.T) {
				nstest.SkipUnlessRoot(t)
				nsA, nsB := nstest.NewNS(t, "mca"), nstest.NewNS(t, "mcb")
				idx0, idx1 := vethPair(t, nsA, nsB, 1500)
				group := netip.MustParseAddr("239.1.1.1")
				src, rxAddr := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
				if fam == 6 {
					group = netip.MustParseAddr("ff0e::1:1")
					src, rxAddr = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
				}
				a := listen(t, nsA, Options{Family: fam, Send: mode})
				b := listen(t, nsB, Options{Family: fam})
				if err := a.JoinGroup(group, idx0); err != nil { // sets the sending interface
					t.Fatal(err)
				}
				if err := b.JoinGroup(group, idx1); err != nil {
					t.Fatal(err)
				}
				if err := b.JoinGroup(group, idx1); err != nil {
					t.Fatalf("second join of the same group: %v", err)
				}
				send := func(dst netip.Addr, tag byte) {
					t.Helper()
					p := pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 1, payload: []byte{tag}}
					if n, err := a.Write([][]byte{p.build()}, headroom); err != nil || n != 1 {
						t.Fatalf("Write to %v = %d, %v; stats %+v", dst, n, err, a.Stats())
					}
				}
				send(group, 1)
				g := readN(t, b, 1, 4, 512)[0]
				if g.payload[0] != 1 || g.dst != group || g.src != src {
					t.Errorf("got %v -> %v tag %d, want %v -> %v tag 1", g.src, g.dst, g.payload[0], src, group)
				}
				// Joins are counted: one leave keeps the membership.
				if err := b.LeaveGroup(group, idx1); err != nil {
					t.Fatal(err)
				}
				send(group, 2)
				if g := readN(t, b, 1, 4, 512)[0]; g.payload[0] != 2 {
					t.Errorf("after one of two leaves got tag %d, want 2", g.payload[0])
				}
				if err := b.LeaveGroup(group, idx1); err != nil {
					t.Fatal(err)
				}
				send(group, 3)
				send(rxAddr, 4)
				if g := readN(t, b, 1, 4, 512)[0]; g.payload[0] != 4 {
					t.Errorf("after leaving got tag %d first, want the unicast 4", g.payload[0])
				}
				if err := b.LeaveGroup(group, idx1); err == nil {
					t.Error("leaving a group not joined succeeded")
				}
			})
		}
	}
}

// TestRawFallbackFragments: a raw socket refuses a packet larger than the
// route MTU (raw_send_hdrinc). With DF clear the kernel's vxlan would let
// IP fragment it, so the Conn sends it through the UDP socket instead, in
// its place in the batch: the packets after it arrive after it. With DF set
// it is dropped and counted.
func TestRawFallbackFragments(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nsA, nsB := nstest.NewNS(t, "fraga"), nstest.NewNS(t, "fragb")
	vethPair(t, nsA, nsB, 1400)
	a := listen(t, nsA, Options{Family: 4, Send: SendRaw})
	b := listen(t, nsB, Options{Family: 4})
	if a.SendMode() != SendRaw {
		t.Skip("no raw socket")
	}
	src, dst := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	big := func(tag byte) []byte { return bytes.Repeat([]byte{tag}, 2000) }
	bufs := [][]byte{
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, df: true, payload: big(1)}.build(),
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{2}}.build(),
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, payload: big(3)}.build(),
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{4}}.build(),
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, payload: big(5)}.build(),
		pkt{src: src, dst: dst, sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{6}}.build(),
	}
	n, err := a.Write(bufs, headroom)
	if err != nil || n != 5 {
		t.Fatalf("Write = %d, %v, want 5 sent (DF packet dropped); stats %+v", n, err, a.Stats())
	}
	st := a.Stats()
	if st.TxFallback != 2 || st.TxErrors != 1 {
		t.Errorf("stats %+v, want TxFallback 2 and TxErrors 1", st)
	}
	var got []string
	for _, p := range readN(t, b, 5, 4, 4096) {
		got = append(got, fmt.Sprintf("%d×%d", p.payload[0], len(p.payload)))
	}
	if want := []string{"2×1", "3×2000", "4×1", "5×2000", "6×1"}; !slices.Equal(got, want) {
		t.Errorf("received %v, want %v: each fragmented packet in its place", got, want)
	}
}

// TestMalformedPacketsCounted: packets that are not IPv4/IPv6 + UDP of the
// Conn's family are dropped and counted, and the rest of the batch goes out.
func TestMalformedPacketsCounted(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "bad")
	a := listen(t, ns, Options{Family: 4})
	b := listen(t, ns, Options{Family: 4})
	lo := loopback[4]
	good := pkt{src: lo, dst: lo, sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{1}}.build()
	v6 := pkt{src: loopback[6], dst: loopback[6], sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{2}}.build()
	short := make([]byte, headroom+10)
	tcp := pkt{src: lo, dst: lo, sport: 5, dport: b.LocalPort(), ttl: 64, payload: []byte{3}}.build()
	tcp[headroom+9] = 6
	n, err := a.Write([][]byte{v6, short, tcp, good}, headroom)
	if err != nil || n != 1 {
		t.Fatalf("Write = %d, %v, want 1", n, err)
	}
	if st := a.Stats(); st.TxMalformed != 3 {
		t.Errorf("TxMalformed = %d, want 3", st.TxMalformed)
	}
	if g := readN(t, b, 1, 4, 512)[0]; g.payload[0] != 1 {
		t.Errorf("got tag %d, want 1", g.payload[0])
	}
}

// TestReusePortAndBindToDevice: with SO_REUSEPORT several Conns (one per
// worker) share a port, without it the second bind fails like the kernel
// (EADDRINUSE); a Conn bound to a device receives through it.
func TestReusePortAndBindToDevice(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "reuse")
	a := listen(t, ns, Options{Family: 4, ReusePort: true})
	b := listen(t, ns, Options{Family: 4, ReusePort: true, Port: a.LocalPort()})
	if b.LocalPort() != a.LocalPort() {
		t.Fatalf("ports %d and %d", a.LocalPort(), b.LocalPort())
	}
	err := ns.Do(func() error {
		c, err := ListenUDP(Options{Family: 4, Port: a.LocalPort()})
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil || !errors.Is(err, sys.EADDRINUSE) || !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second bind without SO_REUSEPORT: %v, want EADDRINUSE", err)
	}
	err = ns.Do(func() error {
		c, err := ListenUDP(Options{Family: 4, Device: "nosuchdev0"})
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Error("binding to a missing device succeeded")
	}
	lo := listen(t, ns, Options{Family: 6, Device: "lo"})
	tx := listen(t, ns, Options{Family: 6})
	p := pkt{src: loopback[6], dst: loopback[6], sport: 9, dport: lo.LocalPort(), ttl: 64, payload: []byte{42}}
	if _, err := tx.Write([][]byte{p.build()}, headroom); err != nil {
		t.Fatal(err)
	}
	if g := readN(t, lo, 1, 4, 512)[0]; g.payload[0] != 42 {
		t.Errorf("got %v", g.payload)
	}
}

// TestRawGSOKeepsSourcePort: in raw mode a run of equal-size datagrams of
// one flow goes out as one UDP_SEGMENT send from a per-flow socket bound to
// the datapath's source port, so the wire still carries the per-flow port
// (udp_flow_src_port) and the receiver's UDP GRO still coalesces it.
func TestRawGSOKeepsSourcePort(t *testing.T) {
	for _, fam := range []int{4, 6} {
		t.Run(fmt.Sprintf("ipv%d", fam), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			ns := nstest.NewNS(t, "rawgso")
			a := listen(t, ns, Options{Family: fam, Send: SendRaw})
			b := listen(t, ns, Options{Family: fam})
			if a.SendMode() != SendRaw || !a.gso.Load() {
				t.Skip("no raw socket or no UDP GSO")
			}
			lo := loopback[fam]
			var bufs [][]byte
			for i := range 20 {
				size := 1200
				if i == 19 {
					size = 100
				}
				bufs = append(bufs, pkt{src: lo, dst: lo, sport: 40000, dport: b.LocalPort(), tos: 0x28, ttl: 33,
					payload: bytes.Repeat([]byte{byte(i)}, size)}.build())
			}
			// A lone packet of another flow, sent raw, after the run.
			bufs = append(bufs, pkt{src: lo, dst: lo, sport: 40001, dport: b.LocalPort(), tos: 0x28, ttl: 33, payload: []byte{99}}.build())
			for round := range 2 {
				if n, err := a.Write(bufs, headroom); err != nil || n != len(bufs) {
					t.Fatalf("round %d: Write = %d, %v; %+v", round, n, err, a.Stats())
				}
				pkts := readN(t, b, len(bufs), 64, 1500)
				for i, g := range pkts {
					wantPort, wantLen := uint16(40000), 1200
					switch {
					case i == 19:
						wantLen = 100
					case i == 20:
						wantPort, wantLen = 40001, 1
					}
					if g.sport != wantPort || len(g.payload) != wantLen || g.tos != 0x28 || g.ttl != 33 {
						t.Errorf("round %d packet %d: sport %d len %d tos %#x ttl %d, want %d %d 0x28 33",
							round, i, g.sport, len(g.payload), g.tos, g.ttl, wantPort, wantLen)
					}
				}
			}
			st := a.Stats()
			if st.TxGSOSends != 2 || st.TxFlowSockets != 1 {
				t.Errorf("stats %+v, want 2 GSO sends from 1 flow socket", st)
			}
			if b.GRO() && b.Stats().RxCoalesced == 0 {
				t.Errorf("receiver saw no coalesced datagrams: %+v", b.Stats())
			}
		})
	}
}

// TestRawGSOPortInUse: when the flow's source port is taken by another
// socket, the run is sent through the raw socket instead, still from the
// datapath's port.
func TestRawGSOPortInUse(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "rawbusy")
	a := listen(t, ns, Options{Family: 4, Send: SendRaw})
	b := listen(t, ns, Options{Family: 4})
	busy := listen(t, ns, Options{Family: 4, Send: SendUDP})
	lo := loopback[4]
	var bufs [][]byte
	for range 8 {
		bufs = append(bufs, pkt{src: lo, dst: lo, sport: busy.LocalPort(), dport: b.LocalPort(), ttl: 64,
			payload: make([]byte, 500)}.build())
	}
	if n, err := a.Write(bufs, headroom); err != nil || n != 8 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for i, g := range readN(t, b, 8, 64, 1500) {
		if g.sport != busy.LocalPort() {
			t.Errorf("packet %d from port %d, want %d", i, g.sport, busy.LocalPort())
		}
	}
	if st := a.Stats(); st.TxFlowSocketFailures != 1 || st.TxGSOSends != 0 {
		t.Errorf("stats %+v, want one flow socket failure and no GSO send", st)
	}
}
