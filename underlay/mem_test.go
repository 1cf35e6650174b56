package underlay_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/underlay"
)

// memPacket builds an IPv4 or IPv6 UDP packet from src to dst:dport with a
// valid UDP checksum (or zero, when noCsum).
func memPacket(src, dst netip.Addr, dport uint16, payload []byte, noCsum bool) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var ip []byte
	var ps uint16
	if dst.Is4() {
		ip = make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip, 0))
		ps = checksum.Pseudo(ip[12:16], ip[16:20], 17, uint32(len(udp)))
	} else {
		ip = make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, 17, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		ps = checksum.Pseudo(ip[8:24], ip[24:40], 17, uint32(len(udp)))
	}
	if !noCsum {
		c := checksum.Checksum(udp, ps)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
	return append(ip, udp...)
}

type memNet struct {
	t *testing.T
	n *underlay.Network
}

func (m memNet) host(name string, addrs ...string) *underlay.MemHost {
	m.t.Helper()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	h, err := m.n.AddHost(name, as...)
	if err != nil {
		m.t.Fatal(err)
	}
	return h
}

func listen(t *testing.T, h *underlay.MemHost, cfg underlay.ListenConfig) *underlay.MemConn {
	t.Helper()
	c, err := h.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pending returns the packets waiting on c without blocking: it must be
// called in a synctest bubble after the writes.
func pending(t *testing.T, c *underlay.MemConn) [][]byte {
	t.Helper()
	var out [][]byte
	got := make(chan [][]byte)
	go func() {
		bufs := [][]byte{make([]byte, 2048), make([]byte, 2048), make([]byte, 2048), make([]byte, 2048)}
		sizes := make([]int, len(bufs))
		var res [][]byte
		for {
			n, err := c.Read(bufs, sizes, 0)
			if err != nil {
				got <- res
				return
			}
			for i := range n {
				res = append(res, append([]byte(nil), bufs[i][:sizes[i]]...))
			}
		}
	}()
	synctest.Wait()
	c.Close()
	out = <-got
	return out
}

// TestMemNetworkRoutesByDestination: a packet goes to the Conn bound to
// its destination port on the host owning its destination address, and
// nowhere else; unroutable packets are counted.
func TestMemNetworkRoutesByDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{})}
		a, b, c := m.host("a", "192.0.2.1"), m.host("b", "192.0.2.2", "2001:db8::2"), m.host("c", "192.0.2.3")
		ca := listen(t, a, underlay.ListenConfig{Port: 4789})
		cb := listen(t, b, underlay.ListenConfig{Port: 4789})
		cb6 := listen(t, b, underlay.ListenConfig{IPv6: true, Port: 4789})
		cc := listen(t, c, underlay.ListenConfig{Port: 4789})
		p := memPacket(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 4789, []byte("hi"), false)
		if n, err := ca.Write([][]byte{p, memPacket(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9"), 4789, nil, false)}, 0); n != 2 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if got := pending(t, cb); len(got) != 1 || string(got[0]) != string(p) {
			t.Errorf("b got %d packets", len(got))
		}
		if got := pending(t, cc); len(got) != 0 {
			t.Errorf("c got %d packets", len(got))
		}
		if got := pending(t, cb6); len(got) != 0 {
			t.Errorf("b's IPv6 Conn got %d packets", len(got))
		}
		if s := m.n.Stats(); s.Sent != 2 || s.Delivered != 1 || s.NoRoute != 1 {
			t.Errorf("stats %+v", s)
		}
		if _, err := ca.Write([][]byte{memPacket(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 4789, nil, false)}, 0); err == nil {
			t.Error("an IPv6 packet on an IPv4 Conn was accepted")
		}
	})
}

// TestMemNetworkFillsSource: an unspecified source address is replaced by
// the sending host's address, with the IPv4 header and UDP checksums
// fixed up, as a route lookup's source choice would.
func TestMemNetworkFillsSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, fam := range []struct{ a, b, any string }{{"192.0.2.1", "192.0.2.2", "0.0.0.0"}, {"2001:db8::1", "2001:db8::2", "::"}} {
			m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{VerifyChecksums: true})}
			a, b := m.host("a", fam.a), m.host("b", fam.b)
			v6 := netip.MustParseAddr(fam.a).Is6()
			ca := listen(t, a, underlay.ListenConfig{IPv6: v6, Port: 1})
			cb := listen(t, b, underlay.ListenConfig{IPv6: v6, Port: 2})
			ca.Write([][]byte{memPacket(netip.MustParseAddr(fam.any), netip.MustParseAddr(fam.b), 2, []byte("payload"), false)}, 0)
			got := pending(t, cb)
			if len(got) != 1 {
				t.Fatalf("%s: got %d packets (stats %+v)", fam.a, len(got), m.n.Stats())
			}
			want := memPacket(netip.MustParseAddr(fam.a), netip.MustParseAddr(fam.b), 2, []byte("payload"), false)
			if string(got[0]) != string(want) {
				t.Errorf("%s:\n got %x\nwant %x", fam.a, got[0], want)
			}
		}
	})
}

// TestMemNetworkVerifyChecksums: with VerifyChecksums a Conn behaves like
// a kernel UDP socket: bad checksums are dropped; IPv4 zero is "no
// checksum"; IPv6 zero is dropped unless the Conn accepts it
// (UDP_NO_CHECK6_RX).
func TestMemNetworkVerifyChecksums(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{VerifyChecksums: true})}
		a, b := m.host("a", "192.0.2.1", "2001:db8::1"), m.host("b", "192.0.2.2", "2001:db8::2")
		ca4 := listen(t, a, underlay.ListenConfig{Port: 1})
		ca6 := listen(t, a, underlay.ListenConfig{IPv6: true, Port: 1})
		cb4 := listen(t, b, underlay.ListenConfig{Port: 2})
		cb6 := listen(t, b, underlay.ListenConfig{IPv6: true, Port: 2})
		cb6z := listen(t, b, underlay.ListenConfig{IPv6: true, Port: 3, AcceptZeroChecksum6: true})
		if !cb4.RXChecksumVerified() {
			t.Error("RXChecksumVerified is false")
		}
		a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
		a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		bad := memPacket(a4, b4, 2, []byte("x"), false)
		bad[len(bad)-1] ^= 1
		ca4.Write([][]byte{bad, memPacket(a4, b4, 2, []byte("x"), true)}, 0)
		ca6.Write([][]byte{memPacket(a6, b6, 2, nil, true), memPacket(a6, b6, 3, nil, true), memPacket(a6, b6, 2, nil, false)}, 0)
		if got := pending(t, cb4); len(got) != 1 {
			t.Errorf("IPv4: %d packets, want only the zero-checksum one", len(got))
		}
		if got := pending(t, cb6); len(got) != 1 {
			t.Errorf("IPv6: %d packets, want only the checksummed one", len(got))
		}
		if got := pending(t, cb6z); len(got) != 1 {
			t.Errorf("IPv6 zero-checksum Conn: %d packets, want 1", len(got))
		}
		if s := m.n.Stats(); s.BadCsum != 2 {
			t.Errorf("BadCsum = %d, want 2", s.BadCsum)
		}
	})
}

// TestMemNetworkMulticast: a packet to a group reaches every Conn on that
// port that joined it, on other hosts, and the sender's host only with
// MulticastLoopback; LeaveGroup undoes one JoinGroup.
func TestMemNetworkMulticast(t *testing.T) {
	for _, loop := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{MulticastLoopback: loop})}
			g := netip.MustParseAddr("239.1.1.1")
			var conns []*underlay.MemConn
			for i, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
				c := listen(t, m.host(string(rune('a'+i)), a), underlay.ListenConfig{Port: 4789})
				conns = append(conns, c)
			}
			for _, c := range conns {
				if err := c.JoinGroup(g, 0); err != nil {
					t.Fatal(err)
				}
			}
			conns[2].JoinGroup(g, 0)
			conns[2].LeaveGroup(g, 0) // still joined once
			if err := conns[1].LeaveGroup(g, 0); err != nil {
				t.Fatal(err)
			}
			if err := conns[1].LeaveGroup(g, 0); err == nil {
				t.Error("leaving a group twice succeeded")
			}
			if err := conns[0].JoinGroup(netip.MustParseAddr("192.0.2.9"), 0); err == nil {
				t.Error("joined a unicast address")
			}
			conns[0].Write([][]byte{memPacket(netip.MustParseAddr("192.0.2.1"), g, 4789, nil, false)}, 0)
			want := []int{0, 0, 1}
			if loop {
				want[0] = 1
			}
			for i, c := range conns {
				if got := len(pending(t, c)); got != want[i] {
					t.Errorf("loopback %v: conn %d got %d packets, want %d", loop, i, got, want[i])
				}
			}
		})
	}
}

// TestMemNetworkFaultsReproducible: the loss, reorder and duplicate knobs
// are driven by the seed, so two networks with the same seed do the same.
func TestMemNetworkFaultsReproducible(t *testing.T) {
	run := func() []string {
		var order []string
		synctest.Test(t, func(t *testing.T) {
			m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{Seed: 7, Loss: 0.2, Reorder: 0.2, Duplicate: 0.2, QueueLen: 4096})}
			ca := listen(t, m.host("a", "192.0.2.1"), underlay.ListenConfig{Port: 1})
			cb := listen(t, m.host("b", "192.0.2.2"), underlay.ListenConfig{Port: 2})
			for i := range 300 {
				ca.Write([][]byte{memPacket(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 2, []byte{byte(i), byte(i >> 8)}, false)}, 0)
			}
			m.n.Flush()
			for _, p := range pending(t, cb) {
				order = append(order, string(p[28:]))
			}
			s := m.n.Stats()
			if s.Lost == 0 || s.Duplicated == 0 || s.Reordered == 0 {
				t.Errorf("knobs had no effect: %+v", s)
			}
			if uint64(len(order)) != 300-s.Lost+s.Duplicated {
				t.Errorf("%d delivered, stats %+v", len(order), s)
			}
		})
		return order
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("runs differ: %d vs %d packets", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at packet %d", i)
		}
	}
}

// TestMemNetworkLimits: MTU, queue length and port binding.
func TestMemNetworkLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{MTU: 100, QueueLen: 2})}
		a, b := m.host("a", "192.0.2.1"), m.host("b", "192.0.2.2")
		ca := listen(t, a, underlay.ListenConfig{Port: 1})
		cb := listen(t, b, underlay.ListenConfig{Port: 2})
		if _, err := b.Listen(underlay.ListenConfig{Port: 2}); !errors.Is(err, underlay.ErrAddrInUse) {
			t.Errorf("second Listen on a port: %v", err)
		}
		if _, err := m.n.AddHost("c", netip.MustParseAddr("192.0.2.1")); !errors.Is(err, underlay.ErrAddrNotAvail) {
			t.Errorf("AddHost with a taken address: %v", err)
		}
		src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
		for range 3 {
			ca.Write([][]byte{memPacket(src, dst, 2, nil, false)}, 0)
		}
		ca.Write([][]byte{memPacket(src, dst, 2, make([]byte, 100), false)}, 0)
		if got := len(pending(t, cb)); got != 2 {
			t.Errorf("got %d packets, want 2", got)
		}
		if s := m.n.Stats(); s.QueueFull != 1 || s.TooBig != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestMemConnCloseUnblocksRead: Close makes a blocked Read return
// net.ErrClosed and frees the port.
func TestMemConnCloseUnblocksRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{})}
		h := m.host("a", "192.0.2.1")
		c, _ := h.Listen(underlay.ListenConfig{Port: 5})
		errc := make(chan error)
		go func() {
			_, err := c.Read([][]byte{make([]byte, 10)}, []int{0}, 0)
			errc <- err
		}()
		synctest.Wait()
		c.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if _, err := c.Write([][]byte{{0}}, 0); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		if c2, err := h.Listen(underlay.ListenConfig{Port: 5}); err != nil {
			t.Errorf("port not freed: %v", err)
		} else {
			c2.Close()
		}
	})
}

// TestMemNetworkReusePort: Conns that all set ReusePort share a port
// (SO_REUSEPORT); each unicast flow (addresses and ports) sticks to one of
// them and flows spread over all; a multicast packet reaches every Conn of
// the group when one of them joined (IP_MULTICAST_ALL); a Conn without
// ReusePort cannot join the group.
func TestMemNetworkReusePort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{})}
		a, b := m.host("a", "192.0.2.1"), m.host("b", "192.0.2.2")
		ca := listen(t, a, underlay.ListenConfig{Port: 9})
		var group []*underlay.MemConn
		for range 3 {
			group = append(group, listen(t, b, underlay.ListenConfig{Port: 4789, ReusePort: true}))
		}
		if _, err := b.Listen(underlay.ListenConfig{Port: 4789}); !errors.Is(err, underlay.ErrAddrInUse) {
			t.Errorf("Listen without ReusePort on a shared port: %v", err)
		}
		const flows, per = 32, 4
		var pkts [][]byte
		for i := range flows * per {
			p := memPacket(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 4789, []byte{byte(i)}, true)
			binary.BigEndian.PutUint16(p[20:], uint16(50000+i%flows)) // source port: the flow
			pkts = append(pkts, p)
		}
		if n, err := ca.Write(pkts, 0); n != len(pkts) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		g := netip.MustParseAddr("239.1.1.1")
		if err := group[0].JoinGroup(g, 0); err != nil {
			t.Fatal(err)
		}
		ca.Write([][]byte{memPacket(netip.MustParseAddr("192.0.2.1"), g, 4789, []byte("m"), true)}, 0)
		owner := map[uint16]int{}
		for i, c := range group {
			got := pending(t, c)
			if len(got) < 2 {
				t.Errorf("conn %d got %d packets: flows do not spread", i, len(got))
			}
			mc := 0
			for _, p := range got {
				if p[16] == 239 {
					mc++
					continue
				}
				sp := binary.BigEndian.Uint16(p[20:])
				if o, ok := owner[sp]; ok && o != i {
					t.Errorf("flow %d reached conns %d and %d", sp, o, i)
				}
				owner[sp] = i
			}
			if mc != 1 {
				t.Errorf("conn %d got %d multicast copies, want 1", i, mc)
			}
		}
		if len(owner) != flows {
			t.Errorf("%d flows arrived, want %d", len(owner), flows)
		}
	})
}

// TestMemConnReadInfo: ReadInfo vouches for a packet only when the
// network checked a non-zero UDP checksum for it (VerifyChecksums); a zero
// IPv4 checksum means "none" (RFC 768), and without VerifyChecksums nothing
// is checked, so nothing is vouched for. A packet sent by interface N with
// WriteVia arrives on interface N; one sent with Write on 0.
func TestMemConnReadInfo(t *testing.T) {
	for _, verify := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			m := memNet{t, underlay.NewNetwork(underlay.NetworkOptions{VerifyChecksums: verify})}
			a, b := m.host("a", "192.0.2.1", "2001:db8::1"), m.host("b", "192.0.2.2", "2001:db8::2")
			ca4 := listen(t, a, underlay.ListenConfig{Port: 1})
			ca6 := listen(t, a, underlay.ListenConfig{IPv6: true, Port: 1})
			cb4 := listen(t, b, underlay.ListenConfig{Port: 2})
			cb6 := listen(t, b, underlay.ListenConfig{IPv6: true, Port: 2})
			a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
			a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
			ca4.WriteVia([][]byte{memPacket(a4, b4, 2, []byte("sum"), false), memPacket(a4, b4, 2, []byte("none"), true)}, []int{7, 0}, 0)
			ca6.Write([][]byte{memPacket(a6, b6, 2, []byte("sum6"), false)}, 0)
			synctest.Wait()
			for _, tc := range []struct {
				c       *underlay.MemConn
				want    []bool
				ifindex []int
			}{{cb4, []bool{verify, false}, []int{7, 0}}, {cb6, []bool{verify}, []int{0}}} {
				bufs := [][]byte{make([]byte, 128), make([]byte, 128), make([]byte, 128)}
				sizes := make([]int, 3)
				info := []underlay.RxInfo{{true, 9}, {true, 9}, {true, 9}}
				n, err := tc.c.ReadInfo(bufs, sizes, info, 0)
				if err != nil || n != len(tc.want) {
					t.Fatalf("ReadInfo = %d, %v; want %d packets", n, err, len(tc.want))
				}
				for i, w := range tc.want {
					if info[i].Verified != w || info[i].Ifindex != tc.ifindex[i] {
						t.Errorf("VerifyChecksums=%v: packet %d %+v, want verified %v ifindex %d", verify, i, info[i], w, tc.ifindex[i])
					}
				}
			}
		})
	}
}
