package gso_test

import (
	"testing"

	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
)

// BenchmarkSplit segments a 64 KiB TCP super-frame (the largest a TAP hands
// out) at an MSS of 1448: 46 segments. SetBytes counts the super-frame, so
// MB/s is input throughput; ns/seg and ns/KB (per KiB of super-frame) are
// reported separately.
func BenchmarkSplit(b *testing.B) {
	for _, bc := range []struct {
		name  string
		f     gsotest.Frame
		flags gso.Flags
	}{
		{"tcp4", gsotest.Frame{TCPOptions: tsOption}, 0},
		{"tcp4-partial", gsotest.Frame{TCPOptions: tsOption}, gso.PartialChecksum},
		{"tcp6", gsotest.Frame{IPv6: true, TCPOptions: tsOption}, 0},
		{"udp4", gsotest.Frame{UDP: true}, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := bc.f
			hl := f.L2Len() + f.L3Len() + f.L4Len()
			f.Payload = gsotest.Payload(65535+14-hl, 1)
			in := f.PartialFrame()
			h := f.TSOHdr(1448)
			out, sizes := outBufs(64, 1600)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				var err error
				n, err = gso.Split(out, sizes, offset, in, h, bc.flags)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/seg")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(len(in))/1024), "ns/KB")
		})
	}
}
