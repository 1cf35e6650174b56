package fdb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/header"
)

// benchTable returns a table with n learned entries and their MACs in a
// shuffled order (so that lookups do not walk memory sequentially).
func benchTable(b *testing.B, n int) (*Table, []header.MAC) {
	b.Helper()
	tb, err := New(Config{VNI: devVNI, Port: devPort, Remote: ip3})
	if err != nil {
		b.Fatal(err)
	}
	macs := make([]header.MAC, n)
	for i := range macs {
		x := uint64(i) * 0x9e3779b1 // spread the low bits
		macs[i] = header.MAC{0x02, byte(x >> 32), byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
		if r := tb.Learn(macs[i], devVNI, ip1, 0); r != LearnCreated {
			b.Fatalf("Learn %d = %v", i, r)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rng.Shuffle(len(macs), func(i, j int) { macs[i], macs[j] = macs[j], macs[i] })
	return tb, macs
}

var benchSink *Entry

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(size(n), func(b *testing.B) {
			tb, macs := benchTable(b, n)
			mask := len(macs) - 1
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				benchSink = tb.Lookup(macs[i&mask], devVNI)
				i++
			}
		})
	}
}

// BenchmarkLookupParallel runs lookups on every P while another goroutine
// keeps learning known addresses (the RX path refreshing "updated").
func BenchmarkLookupParallel(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(size(n), func(b *testing.B) {
			tb, macs := benchTable(b, n)
			mask := len(macs) - 1
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(macs))
				var e *Entry
				for pb.Next() {
					e = tb.Lookup(macs[i&mask], devVNI)
					i++
				}
				benchSink = e
			})
		})
	}
}

// BenchmarkLookupHotSet looks up 4096 hot addresses in a table of 1M: the
// cache-resident case a VTEP with a few thousand active flows sees.
func BenchmarkLookupHotSet(b *testing.B) {
	tb, macs := benchTable(b, 1<<20)
	hot := macs[:4096]
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		benchSink = tb.Lookup(hot[i&4095], devVNI)
		i++
	}
}

// BenchmarkBaselineGoMap is a plain map[Key]*Entry lookup with the same
// keys, without dereferencing the value: one random memory access per
// lookup at 1M, for judging the Lookup numbers on a given machine.
func BenchmarkBaselineGoMap(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(size(n), func(b *testing.B) {
			_, macs := benchTable(b, n)
			m := make(map[Key]*Entry, n)
			for _, mac := range macs {
				m[Key{mac, devVNI}] = &Entry{}
			}
			mask := n - 1
			b.ResetTimer()
			i := 0
			for b.Loop() {
				benchSink = m[Key{macs[i&mask], devVNI}]
				i++
			}
		})
	}
}

func BenchmarkResolveFlood(b *testing.B) {
	// Unknown unicast: a miss, then the default entry.
	tb, _ := benchTable(b, 1<<10)
	unknown := header.MustParseMAC("02:ff:ff:ff:ff:ff")
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = tb.Resolve(unknown, devVNI)
	}
}

var learnSink LearnResult

func BenchmarkLearnKnown(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(size(n), func(b *testing.B) {
			tb, macs := benchTable(b, n)
			mask := len(macs) - 1
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				learnSink = tb.Learn(macs[i&mask], devVNI, ip1, 0)
				i++
			}
			if learnSink != LearnKnown {
				b.Fatal(learnSink)
			}
		})
	}
}

func BenchmarkLearnCreate(b *testing.B) {
	// Each iteration learns a new address; the table is replaced every 1M
	// entries to bound memory, so the cost includes index growth.
	tb, _ := New(Config{VNI: devVNI})
	src := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == 1<<20 {
			b.StopTimer()
			tb, _ = New(Config{VNI: devVNI})
			i = 0
			b.StartTimer()
		}
		x := uint64(i) * 0x9e3779b1
		learnSink = tb.Learn(header.MAC{0x02, byte(x >> 32), byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}, devVNI, src, 0)
		i++
	}
}

func BenchmarkLearnMigrate(b *testing.B) {
	tb, macs := benchTable(b, 1<<10)
	mask := len(macs) - 1
	srcs := [2]netip.Addr{ip2, ip1}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		learnSink = tb.Learn(macs[i&mask], devVNI, srcs[(i>>10)&1], 0)
		i++
	}
}

func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%dk", n>>10)
}
