package gro

import (
	"testing"

	"github.com/vtepd/vtep/gso/gsotest"
)

// benchBatch is 44 full segments of one TCP flow (MSS 1448, timestamps):
// 44*1448 + 52 = 63764 bytes of IP packet, one super-frame.
func benchBatch(f gsotest.Frame, n, size int) [][]byte {
	g := newGen(f)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = g.seg(size)
	}
	return bufsOf(frames)
}

// BenchmarkCoalesce measures a batch of 44 segments; ns/pkt is per input
// frame, MB/s counts input frame bytes and ns/KB is per KiB of them.
func BenchmarkCoalesce(b *testing.B) {
	interleaved := func() [][]byte {
		gs := []*gen{newGen(gsotest.Frame{SrcPort: 1, TCPOptions: tsOpt}), newGen(gsotest.Frame{SrcPort: 2, TCPOptions: tsOpt}),
			newGen(gsotest.Frame{SrcPort: 3, TCPOptions: tsOpt}), newGen(gsotest.Frame{SrcPort: 4, TCPOptions: tsOpt})}
		var frames [][]byte
		for i := range 44 {
			frames = append(frames, gs[i%4].seg(1448))
		}
		return bufsOf(frames)
	}
	for _, bc := range []struct {
		name     string
		bufs     [][]byte
		cfg      Config
		verified bool
	}{
		{"tcp4-1flow", benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 44, 1448), Config{}, false},
		{"tcp4-1flow-verified", benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 44, 1448), Config{}, true},
		{"tcp4-1flow-vectored", benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 44, 1448), Config{Vectored: true}, false},
		{"tcp4-1flow-verified-vectored", benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 44, 1448), Config{Vectored: true}, true},
		{"tcp6-1flow", benchBatch(gsotest.Frame{IPv6: true, TCPOptions: tsOpt}, 44, 1428), Config{}, false},
		{"tcp4-4flows", interleaved(), Config{}, false},
		{"udp4-1flow", benchBatch(gsotest.Frame{UDP: true}, 44, 1472), Config{UDP: true}, false},
		{"tcp4-psh-bypass", benchBatch(gsotest.Frame{Flags: gsotest.ACK | gsotest.PSH}, 44, 1448), Config{}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := New(bc.cfg)
			meta := make([]Meta, len(bc.bufs))
			var bytes int64
			for i := range meta {
				meta[i].Verified = bc.verified
				bytes += int64(len(bc.bufs[i]) - testOffset)
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Coalesce(bc.bufs, testOffset, meta); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(bc.bufs)), "ns/pkt")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(bytes)/1024), "ns/KB")
		})
	}
}

func TestCoalesceNoAllocs(t *testing.T) {
	bufs := benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 128, 1448)
	for _, cfg := range []Config{{}, {Vectored: true}} {
		c := New(cfg)
		if a := testing.AllocsPerRun(50, func() {
			if _, err := c.Coalesce(bufs, testOffset, nil); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Coalesce (vectored %v) allocates %v times per batch", cfg.Vectored, a)
		}
	}
}

// TestVectoredArenaHoldsOnlyHeaders: with Config.Vectored the arena holds
// the headers of each super-frame, not its payload, so the smallest arena
// New allows still takes a whole batch of 64 KiB super-frames
// (ReasonNoBuffer never fires where the contiguous engine would stop).
func TestVectoredArenaHoldsOnlyHeaders(t *testing.T) {
	bufs := benchBatch(gsotest.Frame{TCPOptions: tsOpt}, 128, 1448) // three super-frames
	for _, vectored := range []bool{false, true} {
		c := New(Config{ArenaSize: 1, Vectored: vectored})
		out, err := c.Coalesce(bufs, testOffset, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		if nb := st.Flushes[ReasonNoBuffer]; (nb == 0) != vectored {
			t.Errorf("vectored %v: %d flushes for want of arena (%d frames out)", vectored, nb, len(out.Frames))
		}
		if vectored && len(out.Frames) != 3 {
			t.Errorf("vectored: %d frames out, want 3 super-frames", len(out.Frames))
		}
	}
}
