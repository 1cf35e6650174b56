package underlay

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/internal/sys"
)

// offlineConn is a LinuxConn without sockets, for the pure parts of the
// send and receive paths.
func offlineConn(family int, gso bool) *LinuxConn {
	c := &LinuxConn{family: family, batch: 64, port: 4789}
	c.gso.Store(gso)
	c.r.init(c)
	c.w.init(c)
	return c
}

// plan runs buildUDP over packets and returns the segment count of each
// message and the UDP_SEGMENT size each carries (0: none).
func plan(t *testing.T, c *LinuxConn, pkts []pkt) (counts, gsoSizes []int) {
	t.Helper()
	s := &c.w
	bufs := make([][]byte, len(pkts))
	s.grow(len(pkts))
	idx := make([]int, len(pkts))
	for i, p := range pkts {
		bufs[i] = p.build()
		s.parse(&s.pk[i], bufs[i][headroom:])
		if !s.pk[i].ok {
			t.Fatalf("packet %d does not parse", i)
		}
		idx[i] = i
	}
	m := s.buildUDP(bufs, headroom, idx, 0, 0)
	for k := range m {
		counts = append(counts, s.count[k])
		gsoSizes = append(gsoSizes, cmsgUDPSegment(s.ctrl[k*ctrlSize:k*ctrlSize+int(s.msgs[k].Hdr.Controllen)]))
	}
	return counts, gsoSizes
}

func cmsgUDPSegment(b []byte) int {
	for len(b) >= sys.CmsgHdrLen {
		l := int(binary.NativeEndian.Uint64(b))
		if int(binary.NativeEndian.Uint32(b[8:])) == sys.SOL_UDP && int(binary.NativeEndian.Uint32(b[12:])) == sys.UDP_SEGMENT {
			return int(binary.NativeEndian.Uint16(b[sys.CmsgHdrLen:]))
		}
		b = b[sys.CmsgSpace(l-sys.CmsgHdrLen):]
	}
	return 0
}

// TestGSOCoalescingRules checks how consecutive datagrams are grouped into
// UDP_SEGMENT sends, following the kernel's rules for one GSO send
// (udp_send_skb, __udp_gso_segment; wireguard-go coalesceMessages).
func TestGSOCoalescingRules(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	c2 := netip.MustParseAddr("10.0.0.3")
	mk := func(dst netip.Addr, n int, mod func(*pkt)) pkt {
		p := pkt{src: a, dst: dst, sport: 1, dport: 4789, ttl: 64, payload: make([]byte, n)}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	rep := func(n int, p pkt) []pkt {
		out := make([]pkt, n)
		for i := range out {
			out[i] = p
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		pkts       []pkt
		gso        bool
		wantCounts []int
		wantSizes  []int
	}{
		{"equal sizes to one destination share one send", rep(5, mk(b, 1000, nil)), true, []int{5}, []int{1000}},
		{"a shorter last datagram joins and ends the send",
			append(rep(3, mk(b, 1000, nil)), mk(b, 10, nil), mk(b, 1000, nil)), true, []int{4, 1}, []int{1000, 0}},
		{"a larger datagram starts a new send",
			[]pkt{mk(b, 500, nil), mk(b, 500, nil), mk(b, 600, nil)}, true, []int{2, 1}, []int{500, 0}},
		{"another destination starts a new send",
			[]pkt{mk(b, 500, nil), mk(c2, 500, nil), mk(c2, 500, nil)}, true, []int{1, 2}, []int{0, 500}},
		{"another TOS starts a new send (TOS is per send)",
			[]pkt{mk(b, 500, nil), mk(b, 500, func(p *pkt) { p.tos = 4 })}, true, []int{1, 1}, []int{0, 0}},
		{"another TTL starts a new send",
			[]pkt{mk(b, 500, nil), mk(b, 500, func(p *pkt) { p.ttl = 1 })}, true, []int{1, 1}, []int{0, 0}},
		{"zero checksum never coalesces (udp_send_skb refuses GSO with no_check_tx)",
			rep(3, mk(b, 500, func(p *pkt) { p.zeroCsum = true })), true, []int{1, 1, 1}, []int{0, 0, 0}},
		{"at most 64 segments per send (UDP_MAX_SEGMENTS)", rep(70, mk(b, 100, nil)), true, []int{64, 6}, []int{100, 100}},
		{"at most 64 KiB per send", rep(50, mk(b, 1400, nil)), true, []int{46, 4}, []int{1400, 1400}},
		{"no coalescing when GSO is off", rep(3, mk(b, 500, nil)), false, []int{1, 1, 1}, []int{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts, sizes := plan(t, offlineConn(4, tc.gso), tc.pkts)
			if !equalInts(counts, tc.wantCounts) || !equalInts(sizes, tc.wantSizes) {
				t.Errorf("messages carry %v datagrams with UDP_SEGMENT %v, want %v and %v", counts, sizes, tc.wantCounts, tc.wantSizes)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRebuiltHeaders checks the headers Read puts in front of a datagram
// from what recvmsg reported, for both families.
func TestRebuiltHeaders(t *testing.T) {
	for _, fam := range []int{4, 6} {
		c := offlineConn(fam, false)
		var m rxMeta
		src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
		if fam == 6 {
			src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		}
		copy(m.src[:], src.AsSlice())
		copy(m.dst[:], dst.AsSlice())
		m.sport, m.tos, m.ttl, m.flow = 51000, 0xb9, 17, 0xabcde
		payload := []byte("vxlan payload")
		b := make([]byte, c.r.hl+len(payload))
		copy(b[c.r.hl:], payload)
		c.r.build(b, &m, len(payload))
		g := decode(t, b)
		if g.src != src || g.dst != dst || g.sport != 51000 || g.dport != 4789 || g.tos != 0xb9 || g.ttl != 17 ||
			!bytes.Equal(g.payload, payload) || g.csum != 0 {
			t.Errorf("ipv%d: rebuilt %+v", fam, g)
		}
		if fam == 4 && !g.ipv4CsumOK {
			t.Errorf("ipv4: bad header checksum")
		}
		if fam == 6 && g.flow != 0xabcde {
			t.Errorf("ipv6: flow label %#x, want 0xabcde", g.flow)
		}
	}
}

// FuzzParseOuter feeds arbitrary bytes to the outer-header parser of Write:
// it must never panic, and whatever it accepts must be self-consistent.
func FuzzParseOuter(f *testing.F) {
	lo4, lo6 := loopback[4], loopback[6]
	f.Add(pkt{src: lo4, dst: lo4, sport: 1, dport: 2, ttl: 3, payload: []byte("abc")}.build()[headroom:], true)
	f.Add(pkt{src: lo6, dst: lo6, sport: 1, dport: 2, ttl: 3, flow: 5, payload: []byte("abc")}.build()[headroom:], false)
	f.Add([]byte{0x45, 0, 0, 28}, true)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		fam := 6
		if v4 {
			fam = 4
		}
		s := &offlineConn(fam, true).w
		var p txPkt
		s.parse(&p, b)
		if !p.ok {
			return
		}
		if p.hl+p.plen > p.tot || p.tot > len(b) || p.hl < udpHeaderLen {
			t.Fatalf("accepted inconsistent packet: hl %d plen %d tot %d len %d", p.hl, p.plen, p.tot, len(b))
		}
		// Planning a send over it must not panic either.
		s.grow(1)
		s.buildUDP([][]byte{b}, 0, []int{0}, 0, 0)
	})
}

// FuzzParseControl feeds arbitrary ancillary data and source addresses to
// the receive-side parser (what recvmmsg wrote): it must never panic, and
// the rebuilt header must stay well-formed.
func FuzzParseControl(f *testing.F) {
	var seed []byte
	seed = binary.NativeEndian.AppendUint64(seed, uint64(sys.CmsgLen(4)))
	seed = binary.NativeEndian.AppendUint32(seed, sys.SOL_UDP)
	seed = binary.NativeEndian.AppendUint32(seed, sys.UDP_GRO)
	seed = binary.NativeEndian.AppendUint32(seed, 1400)
	seed = append(seed, 0, 0, 0, 0)
	f.Add(seed, []byte{2, 0, 0x12, 0x34, 127, 0, 0, 1}, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 0, 0, 0}, []byte{}, false)
	f.Fuzz(func(t *testing.T, ctrl, name []byte, v4 bool) {
		fam := 6
		if v4 {
			fam = 4
		}
		c := offlineConn(fam, false)
		r := &c.r
		n := copy(r.ctrl[:ctrlSize], ctrl)
		r.msgs[0].Hdr.SetControllen(n)
		copy(r.names[0][:], name)
		r.parse(0)
		b := make([]byte, r.hl+3)
		r.build(b, &r.meta[0], 3)
		if fam == 4 && checksum.Sum(b[:20], 0) != 0xffff {
			t.Fatal("rebuilt IPv4 header has a bad checksum")
		}
		if r.meta[0].gso < 0 {
			t.Fatalf("negative gso size %d", r.meta[0].gso)
		}
	})
}
