package checksum

import (
	"net/netip"
	"strconv"
	"testing"
)

var sink16 uint16

// reportGBps reports throughput as GB/s (bytes per nanosecond) next to the
// MB/s that SetBytes gives, so fast sums are readable at a glance. Call it
// after the b.Loop loop with the bytes summed per iteration.
func reportGBps(b *testing.B, n int) {
	if ns := b.Elapsed().Nanoseconds(); ns > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/float64(ns), "GB/s")
	}
}

func BenchmarkSum(b *testing.B) {
	for _, n := range []int{20, 64, 1500, 9000, 65535} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i*7 + 3)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink16 += Sum(buf, 0)
			}
			reportGBps(b, n)
		})
	}
}

// BenchmarkSumUnaligned starts one byte into the buffer: the loads are
// unaligned and the data starts at an odd address.
func BenchmarkSumUnaligned(b *testing.B) {
	for _, n := range []int{64, 1500} {
		buf := make([]byte, n+1)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink16 += Sum(buf[1:], 0)
			}
			reportGBps(b, n)
		})
	}
}

// BenchmarkSumReference is the byte-at-a-time reference, for scale.
func BenchmarkSumReference(b *testing.B) {
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sink16 += refSum(buf, 0)
	}
}

func BenchmarkPseudoAddr(b *testing.B) {
	for _, tc := range []struct{ name, src, dst string }{
		{"IPv4", "10.0.0.1", "10.0.0.2"},
		{"IPv6", "2001:db8::1", "2001:db8::2"},
	} {
		src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink16 += PseudoAddr(src, dst, 17, 1480)
			}
		})
	}
}

func BenchmarkUpdateBytes(b *testing.B) {
	old, new := make([]byte, 16), make([]byte, 16)
	new[15] = 1
	b.ReportAllocs()
	for b.Loop() {
		sink16 = UpdateBytes(sink16, old, new)
	}
}
