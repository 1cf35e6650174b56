package checksum

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refSum is the plainly correct reference: RFC 1071 §4.1 one byte at a
// time. Even offsets are the high byte of a big-endian word, odd offsets the
// low byte; carries are folded back at the end.
func refSum(b []byte, initial uint16) uint16 {
	s := uint64(initial)
	for i, x := range b {
		if i%2 == 0 {
			s += uint64(x) << 8
		} else {
			s += uint64(x)
		}
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// refFold folds a plain integer sum of 16-bit words, one carry at a time.
func refFold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func newRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("seed %#x", seed)
	return rand.New(rand.NewPCG(seed, 0x636b73756d))
}

// fill fills b with random bytes, sometimes biased to 0xFF or 0x00 so that
// long carry chains and all-zero runs are exercised.
func fill(r *rand.Rand, b []byte) {
	switch r.IntN(8) {
	case 0:
		for i := range b {
			b[i] = 0xff
		}
	case 1:
		clear(b)
	case 2:
		for i := range b {
			b[i] = 0xff
			if r.IntN(64) == 0 {
				b[i] = byte(r.Uint32())
			}
		}
	default:
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
}

func randInitial(r *rand.Rand) uint16 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return 0xffff
	default:
		return uint16(r.Uint32())
	}
}

// TestSumMatchesReference compares Sum with refSum for every length 0..2048
// at every start offset 0..15 (alignment), with random content and initial
// values.
func TestSumMatchesReference(t *testing.T) {
	r := newRand(t)
	buf := make([]byte, 2048+16)
	for n := 0; n <= 2048; n++ {
		for off := 0; off < 16; off++ {
			b := buf[off : off+n]
			fill(r, b)
			init := randInitial(r)
			if got, want := Sum(b, init), refSum(b, init); got != want {
				t.Fatalf("Sum(len %d, off %d, initial %#04x) = %#04x, want %#04x", n, off, init, got, want)
			}
		}
	}
}

// TestSumLong covers sizes above 64 KiB where a narrow accumulator would
// overflow, all bytes 0xFF being the worst case.
func TestSumLong(t *testing.T) {
	r := newRand(t)
	for _, n := range []int{65535, 65536, 65537, 1 << 20, 1<<20 + 7} {
		b := make([]byte, n)
		for _, pattern := range []int{0, 3} { // all 0xFF, random
			if pattern == 0 {
				for i := range b {
					b[i] = 0xff
				}
			} else {
				fill(r, b)
			}
			init := randInitial(r)
			if got, want := Sum(b, init), refSum(b, init); got != want {
				t.Fatalf("Sum(len %d, pattern %d) = %#04x, want %#04x", n, pattern, got, want)
			}
		}
	}
}

// TestSumZeroOnlyForZeroInput checks the representation rule the package doc
// states: a sum is 0x0000 only when all input is zero, and 0xFFFF otherwise
// stands for zero (e.g. 0xFF 0xFF).
func TestSumZeroOnlyForZeroInput(t *testing.T) {
	for n := 0; n <= 300; n++ {
		if got := Sum(make([]byte, n), 0); got != 0 {
			t.Fatalf("Sum(%d zero bytes) = %#04x, want 0", n, got)
		}
	}
	for _, b := range [][]byte{{0xff, 0xff}, {0x80, 0x00, 0x7f, 0xff}, {0x00, 0x01, 0xff, 0xfe}} {
		if got := Sum(b, 0); got != 0xffff {
			t.Errorf("Sum(% x) = %#04x, want 0xffff", b, got)
		}
	}
	if got := Sum(nil, 0x1234); got != 0x1234 {
		t.Errorf("Sum(nil, 0x1234) = %#04x", got)
	}
}

// TestSumRFC1071Section3Example is the worked example of RFC 1071 §3:
// bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (carries 2ddf0 → ddf2).
func TestSumRFC1071Section3Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Sum(b, 0); got != 0xddf2 {
		t.Errorf("Sum = %#04x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != 0x220d {
		t.Errorf("Checksum = %#04x, want 0x220d", got)
	}
	// RFC 1071 §3 also sums the same bytes as swapped words and swaps
	// the result: byte order independence, §2(B).
	sw := []byte{0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6}
	if got := bits.ReverseBytes16(Sum(sw, 0)); got != 0xddf2 {
		t.Errorf("swapped Sum = %#04x, want 0xddf2", got)
	}
	// Verification: data plus checksum sums to -0 (0xFFFF).
	if got := Sum(append(b, 0x22, 0x0d), 0); got != 0xffff {
		t.Errorf("Sum(data+checksum) = %#04x, want 0xffff", got)
	}
}

// TestChecksumIPv4Header checks a real IPv4 header (RFC 791 §3.1 header
// checksum) whose checksum field holds 0x442e.
func TestChecksumIPv4Header(t *testing.T) {
	h := []byte{
		0x45, 0x00, 0x00, 0x30, // version/IHL, TOS, total length 48
		0x44, 0x22, 0x40, 0x00, // ID, DF
		0x80, 0x06, 0x00, 0x00, // TTL 128, TCP, checksum zeroed
		0x8c, 0x7c, 0x19, 0xac, // 140.124.25.172
		0xae, 0x24, 0x1e, 0x2b, // 174.36.30.43
	}
	if got := Checksum(h, 0); got != 0x442e {
		t.Fatalf("Checksum = %#04x, want 0x442e", got)
	}
	binary.BigEndian.PutUint16(h[10:], 0x442e)
	if got := Checksum(h, 0); got != 0 {
		t.Errorf("Checksum over header with valid checksum = %#04x, want 0", got)
	}
}

func TestFoldMatchesReference(t *testing.T) {
	edges := []uint64{0, 1, 0xfffe, 0xffff, 0x10000, 0x1fffe, 0x1ffff, 0xffffffff, 0x100000000,
		0xfffffffe00000001, 0xffffffff00000000, 0xfffffffffffffffe, math.MaxUint64, 0x8000000000000000}
	for _, s := range edges {
		if got, want := Fold(s), refFold(s); got != want {
			t.Errorf("Fold(%#x) = %#04x, want %#04x", s, got, want)
		}
	}
	r := newRand(t)
	for range 100000 {
		s := r.Uint64() >> r.IntN(64)
		if got, want := Fold(s), refFold(s); got != want {
			t.Fatalf("Fold(%#x) = %#04x, want %#04x", s, got, want)
		}
	}
}

// TestCombineHalves splits random data at every point: CombineAt of the two
// halves' sums equals the sum of the whole, and plain Combine does too when
// the split is at an even offset. An odd split needs the byte swap.
func TestCombineHalves(t *testing.T) {
	r := newRand(t)
	for range 200 {
		b := make([]byte, r.IntN(200))
		fill(r, b)
		whole := Sum(b, 0)
		for k := 0; k <= len(b); k++ {
			a, c := Sum(b[:k], 0), Sum(b[k:], 0)
			if got := CombineAt(a, c, k); got != whole {
				t.Fatalf("len %d split %d: CombineAt = %#04x, want %#04x", len(b), k, got, whole)
			}
			if k%2 == 0 {
				if got := Combine(a, c); got != whole {
					t.Fatalf("len %d split %d: Combine = %#04x, want %#04x", len(b), k, got, whole)
				}
				if got := Sum(b[k:], a); got != whole {
					t.Fatalf("len %d split %d: Sum chained = %#04x, want %#04x", len(b), k, got, whole)
				}
			}
		}
	}
	// The caveat, concretely: {0x01} then {0x02} is the word 0x0102;
	// plain Combine would give 0x0100 + 0x0200.
	if got := Combine(Sum([]byte{1}, 0), Sum([]byte{2}, 0)); got != 0x0300 {
		t.Errorf("Combine odd split = %#04x, want 0x0300 (wrong by design)", got)
	}
	if got := CombineAt(Sum([]byte{1}, 0), Sum([]byte{2}, 0), 1); got != 0x0102 {
		t.Errorf("CombineAt odd split = %#04x, want 0x0102", got)
	}
}

// TestCombineNegativeZero: 0xFFFF is -0, so adding it changes nothing but
// the representation of zero (RFC 1071 §2(A)).
func TestCombineNegativeZero(t *testing.T) {
	for _, a := range []uint16{1, 0x1234, 0xfffe, 0xffff} {
		if got := Combine(a, 0xffff); got != a {
			t.Errorf("Combine(%#04x, 0xffff) = %#04x", a, got)
		}
	}
	if got := Combine(0, 0xffff); got != 0xffff {
		t.Errorf("Combine(0, 0xffff) = %#04x", got)
	}
	if got := Combine(0, 0); got != 0 {
		t.Errorf("Combine(0, 0) = %#04x", got)
	}
}

func pseudoBytes(src, dst []byte, proto uint8, length uint32) []byte {
	b := append([]byte{}, src...)
	b = append(b, dst...)
	if len(src) == 4 {
		// RFC 768: zero, protocol, UDP length (16 bits).
		return append(b, 0, proto, byte(length>>8), byte(length))
	}
	// RFC 8200 §8.1: 32-bit upper-layer length, 3 zero bytes, next header.
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, 0, 0, 0, proto)
}

// TestPseudoRFC768RFC8200 compares Pseudo and PseudoAddr with the sum of the
// pseudo-header laid out as RFC 768 (IPv4) and RFC 8200 §8.1 (IPv6) draw it.
func TestPseudoRFC768RFC8200(t *testing.T) {
	r := newRand(t)
	for i := range 20000 {
		n := 4
		if i%2 == 1 {
			n = 16
		}
		src, dst := make([]byte, n), make([]byte, n)
		fill(r, src)
		fill(r, dst)
		proto := uint8(r.Uint32())
		length := r.Uint32()
		if n == 4 {
			length &= 0xffff
		}
		want := Sum(pseudoBytes(src, dst, proto, length), 0)
		if got := Pseudo(src, dst, proto, length); got != want {
			t.Fatalf("Pseudo(% x, % x, %d, %d) = %#04x, want %#04x", src, dst, proto, length, got, want)
		}
		sa, _ := netip.AddrFromSlice(src)
		da, _ := netip.AddrFromSlice(dst)
		if got := PseudoAddr(sa, da, proto, length); got != want {
			t.Fatalf("PseudoAddr(%v, %v, %d, %d) = %#04x, want %#04x", sa, da, proto, length, got, want)
		}
	}
	// IPv4-mapped IPv6 addresses are summed in 16-byte form.
	sa, da := netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2")
	s16, d16 := sa.As16(), da.As16()
	if got, want := PseudoAddr(sa, da, 17, 100), Pseudo(s16[:], d16[:], 17, 100); got != want {
		t.Errorf("PseudoAddr(4in6) = %#04x, want %#04x", got, want)
	}
}

// TestUpdateRFC1624Section4Example is the example of RFC 1624 §4: a header
// whose other words sum to 0xCD7A has m = 0x5555 and HC = 0xDD2F; m changes
// to 0x3285. Recomputing gives ~(0xCD7A + 0x3285) = ~0xFFFF = 0x0000. RFC 1141
// (eqn. 2) gives 0xFFFF, -0; eqn. 3 gives 0x0000.
func TestUpdateRFC1624Section4Example(t *testing.T) {
	const rest, m, m2, hc = 0xcd7a, 0x5555, 0x3285, 0xdd2f
	if got := ^Combine(rest, m); got != hc {
		t.Fatalf("initial HC = %#04x, want %#04x", got, hc)
	}
	// RFC 1141 eqn. 2, for contrast: HC + m + ~m'.
	if eqn2 := Combine(Combine(hc, m), ^uint16(m2)); eqn2 != 0xffff {
		t.Fatalf("eqn. 2 = %#04x, want 0xffff", eqn2)
	}
	if got := Update(hc, m, m2); got != 0x0000 {
		t.Errorf("Update(%#04x, %#04x, %#04x) = %#04x, want 0x0000", hc, m, m2, got)
	}
	// The same via bytes and recomputation from scratch.
	data := []byte{0xcd, 0x7a, 0x55, 0x55}
	if got := UpdateBytes(hc, data[2:], []byte{0x32, 0x85}); got != 0 {
		t.Errorf("UpdateBytes = %#04x, want 0", got)
	}
	binary.BigEndian.PutUint16(data[2:], m2)
	if got := Checksum(data, 0); got != 0 {
		t.Errorf("recomputed = %#04x, want 0", got)
	}
}

// TestUpdateNoChangeKeepsZeroChecksum covers RFC 1624 errata 4782: with
// HC = 0x0000 and m unchanged, 16-bit arithmetic yields 0xFFFF. Folding a
// 64-bit accumulator once (errata 5865) keeps 0x0000.
func TestUpdateNoChangeKeepsZeroChecksum(t *testing.T) {
	if got := Update(0x0000, 0x5555, 0x5555); got != 0x0000 {
		t.Errorf("Update(0, 0x5555, 0x5555) = %#04x, want 0", got)
	}
	if got := Update32(0x0000, 0x55555555, 0x55555555); got != 0x0000 {
		t.Errorf("Update32 = %#04x, want 0", got)
	}
	r := newRand(t)
	for range 10000 {
		hc, m := uint16(r.Uint32()), uint16(r.Uint32())
		if hc == 0xffff { // only all-zero data has HC 0xFFFF
			continue
		}
		if got := Update(hc, m, m); got != hc {
			t.Fatalf("Update(%#04x, %#04x, same) = %#04x", hc, m, got)
		}
	}
}

// TestUpdateMatchesRecompute rewrites random 16-bit words, 32-bit words and
// byte runs of random data at even offsets and checks that the RFC 1624
// update equals the checksum recomputed from scratch (data not all zero).
func TestUpdateMatchesRecompute(t *testing.T) {
	r := newRand(t)
	nonzero := func(b []byte) bool {
		for _, x := range b {
			if x != 0 {
				return true
			}
		}
		return false
	}
	for range 50000 {
		n := 2 + r.IntN(80)
		data := make([]byte, n)
		fill(r, data)
		// Sometimes make the data sum to -0 so that HC is 0x0000.
		if n >= 4 && r.IntN(4) == 0 {
			binary.BigEndian.PutUint16(data[0:], 0)
			binary.BigEndian.PutUint16(data[0:], ^Sum(data, 0))
		}
		hc := Checksum(data, 0)
		off := 2 * r.IntN(n/2)
		old := append([]byte{}, data...)
		var kind string
		var got uint16
		switch k := r.IntN(3); {
		case k == 0 || n-off < 4:
			kind = "Update"
			m := binary.BigEndian.Uint16(data[off:])
			m2 := uint16(r.Uint32())
			if r.IntN(8) == 0 {
				m2 = m
			}
			binary.BigEndian.PutUint16(data[off:], m2)
			got = Update(hc, m, m2)
		case k == 1:
			kind = "Update32"
			m := binary.BigEndian.Uint32(data[off:])
			m2 := r.Uint32()
			binary.BigEndian.PutUint32(data[off:], m2)
			got = Update32(hc, m, m2)
		default:
			kind = "UpdateBytes"
			l := 1 + r.IntN(n-off) // odd lengths included
			nw := make([]byte, l)
			fill(r, nw)
			copy(data[off:], nw)
			got = UpdateBytes(hc, old[off:off+l], nw)
		}
		if !nonzero(old) || !nonzero(data) {
			continue // the documented ±0 exception
		}
		if want := Checksum(data, 0); got != want {
			t.Fatalf("%s at %d: % x → % x: got %#04x, want %#04x", kind, off, old, data, got, want)
		}
	}
}

// TestAdjustMatchesRecompute patches a sum (not a checksum), as for the
// pseudo-header seed of a CHECKSUM_PARTIAL packet after an address rewrite,
// and compares with Sum recomputed over the new data.
func TestAdjustMatchesRecompute(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		src, dst := make([]byte, 16), make([]byte, 16)
		fill(r, src)
		fill(r, dst)
		length := r.Uint32()
		seed := Pseudo(src, dst, 6, length)
		nsrc := make([]byte, 16)
		fill(r, nsrc)
		got := Adjust(seed, src, nsrc)
		want := Pseudo(nsrc, dst, 6, length)
		if want == 0 {
			continue // the documented ±0 exception
		}
		if got != want {
			t.Fatalf("Adjust: got %#04x, want %#04x", got, want)
		}
	}
	// IPv4 address rewrite in a partial seed, the case of a NAT or a
	// VTEP rewriting inner addresses: 10.0.0.1 → 192.168.1.1.
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	c := netip.MustParseAddr("192.168.1.1")
	a4, c4 := a.As4(), c.As4()
	if got, want := Adjust(PseudoAddr(a, b, 17, 64), a4[:], c4[:]), PseudoAddr(c, b, 17, 64); got != want {
		t.Errorf("Adjust IPv4 = %#04x, want %#04x", got, want)
	}
}

func TestUpdateBytesLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"UpdateBytes": func() { UpdateBytes(0, []byte{1, 2}, []byte{1}) },
		"Adjust":      func() { Adjust(0, []byte{1, 2}, []byte{1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on length mismatch", name)
				}
			}()
			f()
		}()
	}
}

func TestNoAllocs(t *testing.T) {
	b := make([]byte, 1500)
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	var sink uint16
	allocs := testing.AllocsPerRun(100, func() {
		sink += Sum(b, 0)
		sink += Checksum(b[1:], 7)
		sink += PseudoAddr(src, dst, 17, 1500)
		sink += Pseudo(b[:16], b[16:32], 17, 1500)
		sink += UpdateBytes(sink, b[:16], b[16:32])
		sink += Adjust(sink, b[:4], b[4:8])
		sink += Update32(sink, 1, 2)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
	_ = sink
}

// FuzzSum compares Sum with the byte-at-a-time reference for arbitrary data,
// start offsets (alignment) and initial values, and checks CombineAt at an
// arbitrary split.
func FuzzSum(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint16(0), uint8(0), uint16(3))
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(0xffff), uint8(1), uint16(1))
	f.Add(make([]byte, 300), uint16(0), uint8(7), uint16(150))
	f.Fuzz(func(t *testing.T, data []byte, initial uint16, off uint8, split uint16) {
		o := int(off) % 16
		if o > len(data) {
			o = len(data)
		}
		b := data[o:]
		want := refSum(b, initial)
		if got := Sum(b, initial); got != want {
			t.Fatalf("Sum(% x, %#04x) = %#04x, want %#04x", b, initial, got, want)
		}
		if got := Checksum(b, initial); got != ^want {
			t.Fatalf("Checksum = %#04x, want %#04x", got, ^want)
		}
		k := int(split) % (len(b) + 1)
		if got := CombineAt(Sum(b[:k], initial), Sum(b[k:], 0), k); got != want {
			t.Fatalf("CombineAt split %d = %#04x, want %#04x", k, got, want)
		}
	})
}

func TestPseudoAddrMixedFamiliesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for IPv4 src and IPv6 dst")
		}
	}()
	PseudoAddr(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1"), 17, 8)
}
