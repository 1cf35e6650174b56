package underlay

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vtepd/vtep/checksum"
)

// groConn is an offline LinuxConn in UDP_GRO mode whose receiver holds the
// given datagrams as if one recvmmsg had returned them: datagram i of
// lens[i] bytes, coalesced from segments of gso[i] bytes (0: not
// coalesced). Segment s of datagram i starts with the bytes i and s and
// goes on with byte(i^s), so that every segment can be recognised.
func groConn(lens, gso []int) *LinuxConn {
	c := &LinuxConn{family: 4, batch: 64, port: 4789, gro: true}
	c.r.init(c)
	c.w.init(c)
	r := &c.r
	for i, n := range lens {
		r.msgs[i].Len = uint32(n)
		r.meta[i] = rxMeta{gso: gso[i], ttl: 64, src: [16]byte{10, 0, 0, 1}, dst: [16]byte{10, 0, 0, 2}, sport: 5000}
		seg := gso[i]
		if seg == 0 {
			seg = n
		}
		d := r.arena[i*maxGROSize:]
		for k := range n {
			s := k / seg
			switch k % seg {
			case 0:
				d[k] = byte(i)
			case 1:
				d[k] = byte(s)
			default:
				d[k] = byte(i ^ s)
			}
		}
	}
	r.pm, r.pn, r.poff = 0, len(lens), 0
	return c
}

// TestSplitKeepsCoalescedDatagramsWhole: a coalesced datagram is one burst
// of one flow, which the datapath's GRO merges back into one super-frame
// for the TAP; Read must not cut it in two across Reads when the buffers
// left in a batch are too few for all of its segments (it is kept for the
// next Read), but a datagram with more segments than a whole batch is still
// split.
func TestSplitKeepsCoalescedDatagramsWhole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lens  []int
		gso   []int
		batch int
		want  [][]int // per Read: the datagram each packet came from
	}{
		{"two bursts of 45 in a batch of 64: one per Read",
			[]int{45 * 100, 45 * 100}, []int{100, 100}, 64,
			[][]int{rep(45, 0), rep(45, 1)}},
		{"bursts that fit together share a Read",
			[]int{20 * 100, 30 * 100, 20 * 100}, []int{100, 100, 100}, 64,
			[][]int{append(rep(20, 0), rep(30, 1)...), rep(20, 2)}},
		{"a burst larger than the batch is split, then the next waits for room",
			[]int{40*100 - 33, 10 * 100}, []int{100, 100}, 16,
			[][]int{rep(16, 0), rep(16, 0), rep(8, 0), rep(10, 1)}},
		{"single datagrams fill the batch",
			[]int{500, 500, 500}, []int{0, 0, 0}, 2,
			[][]int{{0, 1}, {2}}},
		{"a single datagram after a burst fills the remaining buffer",
			[]int{3 * 100, 100}, []int{100, 0}, 4,
			[][]int{{0, 0, 0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := groConn(tc.lens, tc.gso)
			bufs, sizes := newBufs(tc.batch, 1500)
			var got [][]int
			for round := 0; c.r.pm < c.r.pn; round++ {
				if round > 100 {
					t.Fatal("split does not make progress")
				}
				n := c.r.split(bufs, sizes, headroom)
				var from []int
				for i := range n {
					g := decode(t, bufs[i][headroom:headroom+sizes[i]])
					from = append(from, int(g.payload[0]))
				}
				got = append(got, from)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Reads returned packets of datagrams\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func rep(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestSplitSegmentsIntact checks every packet split from coalesced
// datagrams: its length (the last segment may be shorter), its bytes, and
// the rebuilt headers.
func TestSplitSegmentsIntact(t *testing.T) {
	lens, gso := []int{45*1400 - 77, 3 * 500, 999}, []int{1400, 500, 0}
	c := groConn(lens, gso)
	bufs, sizes := newBufs(64, 1500)
	var pkts []got
	for c.r.pm < c.r.pn {
		n := c.r.split(bufs, sizes, headroom)
		for i := range n {
			pkts = append(pkts, decode(t, bytes.Clone(bufs[i][headroom:headroom+sizes[i]])))
		}
	}
	k := 0
	for i, n := range lens {
		seg := gso[i]
		if seg == 0 {
			seg = n
		}
		for off, s := 0, 0; off < n; off, s = off+seg, s+1 {
			want := min(seg, n-off)
			if k >= len(pkts) {
				t.Fatalf("only %d packets", len(pkts))
			}
			g := pkts[k]
			k++
			exp := bytes.Repeat([]byte{byte(i ^ s)}, want)
			exp[0], exp[1] = byte(i), byte(s)
			if !bytes.Equal(g.payload, exp) {
				t.Errorf("datagram %d segment %d: %d bytes starting % x, want %d starting % x", i, s, len(g.payload), g.payload[:2], want, exp[:2])
			}
			if !g.ipv4CsumOK || g.sport != 5000 || g.dport != 4789 || g.ttl != 64 || g.csum != 0 {
				t.Errorf("datagram %d segment %d: headers %+v", i, s, g)
			}
		}
	}
	if k != len(pkts) {
		t.Errorf("%d packets, want %d", len(pkts), k)
	}
	if st := c.Stats(); st.RxCoalesced != 2 {
		t.Errorf("RxCoalesced = %d, want 2", st.RxCoalesced)
	}
}

// TestRebuiltIPv4HeaderChecksum compares the header checksum Read computes
// from the field values with RFC 1071 over the header it wrote, for random
// addresses, TOS, TTL and lengths.
func TestRebuiltIPv4HeaderChecksum(t *testing.T) {
	c := offlineConn(4, false)
	rnd := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, c.r.hl+65535)
	for range 10000 {
		var m rxMeta
		for i := range 4 {
			m.src[i], m.dst[i] = byte(rnd.Uint32()), byte(rnd.Uint32())
		}
		m.tos, m.ttl = byte(rnd.Uint32()), byte(rnd.Uint32())
		n := rnd.IntN(65535 - c.r.hl + 1)
		if rnd.IntN(4) == 0 {
			n = rnd.IntN(64)
		}
		c.r.build(b, &m, n)
		if s := checksum.Sum(b[:ipv4HeaderLen], 0); s != 0xffff {
			t.Fatalf("header % x (n %d) sums to %#04x, want 0xffff", b[:ipv4HeaderLen], n, s)
		}
	}
}

// TestGROBurstsStayWhole sends three UDP_SEGMENT bursts of 45 datagrams
// (different TOS, so three sends and three coalesced buffers at the
// receiver) and reads them with batches of 64 buffers: each Read returns
// whole bursts, never the head of one burst after another.
func TestGROBurstsStayWhole(t *testing.T) {
	for _, fam := range []int{4, 6} {
		t.Run(fmt.Sprintf("ipv%d", fam), func(t *testing.T) {
			a, b := gsoToGRO(t, "growhole", fam)
			lo := loopback[fam]
			const bursts, per = 3, 45
			var out [][]byte
			for k := range bursts {
				for range per {
					out = append(out, pkt{src: lo, dst: lo, sport: 1, dport: b.LocalPort(), tos: byte(4 * (k + 1)), ttl: 9,
						payload: bytes.Repeat([]byte{byte(k)}, 1000)}.build())
				}
			}
			if sent, err := a.Write(out, headroom); err != nil || sent != len(out) {
				t.Fatalf("Write = %d, %v", sent, err)
			}
			bufs, sizes := newBufs(64, 1500)
			seen := 0
			for seen < bursts*per {
				n, err := b.Read(bufs, sizes, headroom)
				if err != nil {
					t.Fatal(err)
				}
				if n%per != 0 {
					t.Errorf("Read returned %d packets: a burst of %d was cut", n, per)
				}
				for i := range n {
					g := decode(t, bufs[i][headroom:headroom+sizes[i]])
					if want := byte((seen + i) / per); g.payload[0] != want || g.tos != 4*(want+1) {
						t.Errorf("packet %d: burst %d tos %#x, want burst %d", seen+i, g.payload[0], g.tos, want)
					}
				}
				seen += n
			}
			if st := b.Stats(); st.RxCoalesced != bursts {
				t.Errorf("RxCoalesced = %d, want %d", st.RxCoalesced, bursts)
			}
		})
	}
}

// TestSplitReportsVerified: ReadInfo marks the packets of a datagram the
// kernel coalesced (a UDP_GRO segment size was reported) as intact, and a
// lone IPv4 datagram as unknown (its checksum may have been zero).
func TestSplitReportsVerified(t *testing.T) {
	c := groConn([]int{3 * 100, 100, 250}, []int{100, 0, 250})
	bufs, sizes := newBufs(8, 1500)
	info := make([]RxInfo, 8)
	c.r.info = info
	n := c.r.split(bufs, sizes, headroom)
	want := []bool{true, true, true, false, true}
	if got := verifiedOf(info[:n]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verified %v, want %v", got, want)
	}
}

func verifiedOf(info []RxInfo) []bool {
	v := make([]bool, len(info))
	for i, x := range info {
		v[i] = x.Verified
	}
	return v
}

// TestReadInfoVerified sends, to a UDP_GRO socket, a UDP_SEGMENT burst
// (which arrives coalesced), then one datagram with a checksum and one
// without: ReadInfo vouches for the burst only over IPv4, and for every
// packet over IPv6 (where a zero checksum is dropped, RFC 8200 §8.1). Every
// packet arrived on lo, ifindex 1.
func TestReadInfoVerified(t *testing.T) {
	for _, fam := range []int{4, 6} {
		t.Run(fmt.Sprintf("ipv%d", fam), func(t *testing.T) {
			a, b := gsoToGRO(t, "verified", fam)
			lo := loopback[fam]
			var out [][]byte
			for range 5 {
				out = append(out, pkt{src: lo, dst: lo, sport: 1, dport: b.LocalPort(), ttl: 9, payload: make([]byte, 500)}.build())
			}
			out = append(out, pkt{src: lo, dst: lo, sport: 1, dport: b.LocalPort(), tos: 4, ttl: 9, payload: []byte("single")}.build())
			// The burst goes out as one UDP_SEGMENT send; the singles (other
			// TOS) each on their own.
			want := []bool{true, true, true, true, true, fam == 6}
			if fam == 4 {
				out = append(out, pkt{src: lo, dst: lo, sport: 1, dport: b.LocalPort(), tos: 8, ttl: 9, zeroCsum: true, payload: []byte("zero")}.build())
				want = append(want, false)
			}
			if sent, err := a.Write(out, headroom); err != nil || sent != len(out) {
				t.Fatalf("Write = %d, %v", sent, err)
			}
			bufs, sizes := newBufs(16, 1500)
			info := make([]RxInfo, 16)
			var got []bool
			for len(got) < len(want) {
				n, err := b.ReadInfo(bufs, sizes, info, headroom)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, verifiedOf(info[:n])...)
				for _, x := range info[:n] {
					if x.Ifindex != 1 {
						t.Errorf("ifindex %d, want 1 (lo)", x.Ifindex)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("verified %v, want %v", got, want)
			}
		})
	}
}

// BenchmarkSplit64 splits a coalesced datagram of 64 segments of 1400
// bytes into 64 packets with rebuilt IPv4 and UDP headers, as Read does
// after recvmmsg.
func BenchmarkSplit64(b *testing.B) {
	c := groConn([]int{64 * 1400}, []int{1400})
	bufs, sizes := newBufs(64, 1500)
	r := &c.r
	b.SetBytes(64 * 1400)
	b.ReportAllocs()
	for b.Loop() {
		r.pm, r.pn, r.poff = 0, 1, 0
		if n := r.split(bufs, sizes, headroom); n != 64 {
			b.Fatalf("%d packets, want 64", n)
		}
	}
}
