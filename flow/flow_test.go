package flow

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// frame4 builds an Ethernet+IPv4+L4 frame with the given protocol, ports
// and fragment field.
func frame4(src, dst [4]byte, proto uint8, sport, dport uint16, frag uint16) []byte {
	b := make([]byte, 14+20+8)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 28)
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	return b
}

func frame6(src, dst [16]byte, label uint32, next uint8, l4 []byte) []byte {
	b := make([]byte, 14+40+len(l4))
	binary.BigEndian.PutUint16(b[12:], 0x86dd)
	ip := b[14:]
	binary.BigEndian.PutUint32(ip[0:], 6<<28|label)
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6] = next
	ip[7] = 64
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	copy(ip[40:], l4)
	return b
}

func TestClassifyIPv4TCP(t *testing.T) {
	k, ok := Classify(frame4([4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 6, 1234, 80, 0x4000))
	if !ok || k.Kind != KindIPv4 || k.Proto != 6 || k.SrcPort != 1234 || k.DstPort != 80 {
		t.Fatalf("got %+v ok=%v", k, ok)
	}
	if [4]byte(k.Src[:4]) != [4]byte{10, 0, 0, 1} || [4]byte(k.Dst[:4]) != [4]byte{10, 0, 0, 2} {
		t.Fatalf("addresses: %+v", k)
	}
}

// TestClassifyFragmentsHaveNoPorts follows __skb_flow_dissect: an IPv4
// packet for which ip_is_fragment is true (MF or offset) is dissected
// without FLOW_DISSECTOR_F_PARSE_1ST_FRAG, so its ports are not read and
// every fragment of a datagram hashes alike.
func TestClassifyFragmentsHaveNoPorts(t *testing.T) {
	for _, frag := range []uint16{0x2000, 0x0010, 0x2010} {
		k, _ := Classify(frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 17, 1, 2, frag))
		if k.SrcPort != 0 || k.DstPort != 0 {
			t.Errorf("frag %#x: ports read: %+v", frag, k)
		}
	}
	first := HashFrame(frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 17, 1, 2, 0x2000), 7)
	later := HashFrame(frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 17, 9, 9, 0x00b9), 7)
	if first != later {
		t.Errorf("fragments of one datagram hash differently: %#x %#x", first, later)
	}
}

// TestClassifyIPv6FlowLabelStopsDissection follows
// FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL as used by skb_get_hash: a non-zero
// flow label replaces the ports.
func TestClassifyIPv6FlowLabelStopsDissection(t *testing.T) {
	src := [16]byte{0x20, 0x01, 0xd, 0xb8, 15: 1}
	dst := [16]byte{0x20, 0x01, 0xd, 0xb8, 15: 2}
	udp := []byte{0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0}
	k, _ := Classify(frame6(src, dst, 0x12345, 17, udp))
	if k.Label != 0x12345 || k.SrcPort != 0 || k.Proto != 17 {
		t.Fatalf("labelled: %+v", k)
	}
	k, _ = Classify(frame6(src, dst, 0, 17, udp))
	if k.Label != 0 || k.SrcPort != 1234 || k.DstPort != 53 || k.Kind != KindIPv6 {
		t.Fatalf("unlabelled: %+v", k)
	}
	// Hop-by-hop options header in front of UDP is skipped.
	hbh := append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp...)
	k, _ = Classify(frame6(src, dst, 0, 0, hbh))
	if k.Proto != 17 || k.SrcPort != 1234 {
		t.Fatalf("hop-by-hop: %+v", k)
	}
	// A fragment header stops the walk: no ports.
	fh := append([]byte{17, 0, 0, 1, 0, 0, 0, 1}, udp...)
	k, _ = Classify(frame6(src, dst, 0, 44, fh))
	if k.Proto != 17 || k.SrcPort != 0 {
		t.Fatalf("fragment: %+v", k)
	}
}

func TestClassifySkipsVLANTags(t *testing.T) {
	plain := frame4([4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 6, 10, 20, 0)
	tagged := make([]byte, 0, len(plain)+8)
	tagged = append(tagged, plain[:12]...)
	tagged = append(tagged, 0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200)
	tagged = append(tagged, plain[12:]...)
	a, _ := Classify(plain)
	b, _ := Classify(tagged)
	if a != b {
		t.Fatalf("tagged %+v != plain %+v", b, a)
	}
}

func TestClassifyL2Fallback(t *testing.T) {
	arp := make([]byte, 42)
	copy(arp[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:12], []byte{0x02, 1, 2, 3, 4, 5})
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	k, ok := Classify(arp)
	if !ok || k.Kind != KindL2 || k.EtherType != 0x0806 || k.Src[0] != 0x02 || k.Dst[0] != 0xff {
		t.Fatalf("%+v ok=%v", k, ok)
	}
	if _, ok := Classify(arp[:13]); ok {
		t.Fatal("13-byte frame classified")
	}
	// Different source MACs give different hashes (entropy from L2).
	other := append([]byte(nil), arp...)
	other[11] = 6
	if HashFrame(arp, 1) == HashFrame(other, 1) {
		t.Fatal("L2 fallback ignores the source MAC")
	}
}

// TestHashSymmetric follows __flow_hash_consistentify: both directions of a
// connection hash to the same value.
func TestHashSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var a, b [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
		seed := r.Uint64()
		h1 := HashFrame(frame4(a, b, 6, sp, dp, 0), seed)
		h2 := HashFrame(frame4(b, a, 6, dp, sp, 0), seed)
		if h1 != h2 || h1 == 0 {
			t.Fatalf("asymmetric or zero: %#x %#x", h1, h2)
		}
	}
}

func TestHashSeeded(t *testing.T) {
	f := frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 6, 1, 2, 0)
	if HashFrame(f, 1) == HashFrame(f, 2) {
		t.Fatal("seed has no effect")
	}
}

// TestHashSpreadsSourcePorts checks that distinct flows land on many ports.
func TestHashSpreadsSourcePorts(t *testing.T) {
	seen := map[uint16]bool{}
	for i := range 1000 {
		f := frame4([4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 6, uint16(40000+i), 80, 0)
		seen[SourcePort(HashFrame(f, 42), 0, 0)] = true
	}
	if len(seen) < 900 {
		t.Fatalf("only %d distinct source ports for 1000 flows", len(seen))
	}
}

// TestSourcePortMatchesUDPFlowSrcPort checks the arithmetic of
// include/net/udp.h udp_flow_src_port against values worked by hand.
func TestSourcePortMatchesUDPFlowSrcPort(t *testing.T) {
	tests := []struct {
		hash     uint32
		min, max uint16
		want     uint16
	}{
		// hash ^= hash<<16: 0x00010000 -> 0x00010000; *(60999-32768)>>32 = 0.
		{0x00010000, 0, 0, 32768},
		// 0xffffffff ^ 0xffff0000 = 0x0000ffff -> tiny product -> min.
		{0xffffffff, 49152, 65535, 49152},
		// 0x80000000 ^ 0 = 0x80000000 -> half the range.
		{0x80000000, 49152, 65535, 49152 + (65535-49152)/2},
		// 0x0000ffff ^ 0xffff0000 = 0xffffffff -> max-1.
		{0x0000ffff, 1000, 2000, 1999},
		// min >= max uses the local port range.
		{0x0000ffff, 5000, 5000, 60998},
		{0x0000ffff, 6000, 5000, 60998},
	}
	for _, tt := range tests {
		if got := SourcePort(tt.hash, tt.min, tt.max); got != tt.want {
			t.Errorf("SourcePort(%#x, %d, %d) = %d, want %d", tt.hash, tt.min, tt.max, got, tt.want)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		h := r.Uint32()
		min := uint16(r.Uint32())
		max := uint16(r.Uint32())
		p := SourcePort(h, min, max)
		lo, hi := min, max
		if lo >= hi {
			lo, hi = DefaultPortMin, DefaultPortMax
		}
		if p < lo || p >= hi {
			t.Fatalf("SourcePort(%#x,%d,%d) = %d outside [%d,%d)", h, min, max, p, lo, hi)
		}
	}
}

func TestClassifyAllocs(t *testing.T) {
	f := frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 6, 1, 2, 0)
	if n := testing.AllocsPerRun(100, func() { _ = HashFrame(f, 9) }); n != 0 {
		t.Fatalf("HashFrame allocates %v times", n)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 6, 1, 2, 0))
	f.Add(frame6([16]byte{1}, [16]byte{2}, 0, 17, []byte{1, 2, 3, 4, 0, 8, 0, 0}))
	f.Add(frame6([16]byte{1}, [16]byte{2}, 0, 0, []byte{17, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ok := Classify(b)
		if ok != (len(b) >= 14) {
			t.Fatalf("ok=%v for %d bytes", ok, len(b))
		}
		if !ok {
			return
		}
		if k.Kind > KindIPv6 {
			t.Fatalf("bad kind %d", k.Kind)
		}
		if k.Kind == KindIPv4 && [12]byte(k.Src[4:]) != [12]byte{} {
			t.Fatal("IPv4 key with bytes past the address")
		}
		if k.Label > 0xfffff {
			t.Fatal("label wider than 20 bits")
		}
		if k.Kind != KindL2 {
			r := k
			r.Src, r.Dst = k.Dst, k.Src
			r.SrcPort, r.DstPort = k.DstPort, k.SrcPort
			if Hash(&k, 5) != Hash(&r, 5) {
				t.Fatal("hash not symmetric")
			}
		}
		if Hash(&k, 5) == 0 {
			t.Fatal("zero hash")
		}
		if HashFrame(b, 5) != Hash(&k, 5) {
			t.Fatal("HashFrame differs from Hash of Classify")
		}
	})
}

func BenchmarkHashFrame(b *testing.B) {
	f := frame4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, 6, 1, 2, 0)
	b.ReportAllocs()
	for b.Loop() {
		_ = HashFrame(f, 9)
	}
}

// TestSourcePortInKeepsTheClassInRange: the port is congruent to the
// class, inside [min, max), and at most n-1 away from SourcePort's;
// degenerate cases keep SourcePort's choice. Checked against a linear
// search over random hashes and ranges.
func TestSourcePortInKeepsTheClassInRange(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		min := uint16(rnd.IntN(65536))
		max := uint16(rnd.IntN(65536))
		if rnd.IntN(4) == 0 {
			min, max = 0, 0
		}
		n := 1 + rnd.IntN(8)
		class := rnd.IntN(n)
		h := rnd.Uint32()
		base := SourcePort(h, min, max)
		got := SourcePortIn(h, min, max, class, n)
		lo, hi := int(min), int(max)
		if lo >= hi {
			lo, hi = DefaultPortMin, DefaultPortMax
		}
		if n < 2 || hi-lo < n {
			if got != base {
				t.Fatalf("n %d range [%d,%d): got %d, want SourcePort's %d", n, lo, hi, got, base)
			}
			continue
		}
		if int(got)%n != class || int(got) < lo || int(got) >= hi {
			t.Fatalf("hash %#x range [%d,%d) class %d/%d: got %d", h, lo, hi, class, n, got)
		}
		// The nearest in-class port at or below base (or the lowest in range).
		want := -1
		for p := int(base); p >= lo; p-- {
			if p%n == class {
				want = p
				break
			}
		}
		if want < 0 {
			for p := lo; p < hi; p++ {
				if p%n == class {
					want = p
					break
				}
			}
		}
		if int(got) != want {
			t.Fatalf("hash %#x range [%d,%d) class %d/%d: got %d, want %d (base %d)", h, lo, hi, class, n, got, want, base)
		}
	}
}

func BenchmarkSourcePortIn(b *testing.B) {
	for _, n := range []int{2, 3} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			h := uint32(0x9e3779b9)
			for b.Loop() {
				h = h*1664525 + 1013904223
				_ = SourcePortIn(h, 0, 0, int(h>>30)%n, n)
			}
		})
	}
}
