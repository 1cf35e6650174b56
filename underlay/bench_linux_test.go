package underlay

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// roundTrip is one Write of a batch from a to b and the Reads that take it
// back in.
type roundTrip struct {
	a, b   *LinuxConn
	out    [][]byte
	in     [][]byte
	sizes  []int
	total  int
	failed error
}

func newRoundTrip(a, b *LinuxConn, n, size int, oneFlow bool) *roundTrip {
	rt := &roundTrip{a: a, b: b}
	lo := loopback[a.Family()]
	for i := range n {
		sport := uint16(33000 + i%7)
		if oneFlow {
			sport = 33000
		}
		rt.out = append(rt.out, pkt{src: lo, dst: lo, sport: sport, dport: b.LocalPort(), ttl: 64,
			payload: make([]byte, size)}.build())
	}
	rt.in, rt.sizes = newBufs(n, size+100)
	return rt
}

func (rt *roundTrip) run() {
	n, err := rt.a.Write(rt.out, headroom)
	if err != nil || n != len(rt.out) {
		rt.failed = fmt.Errorf("Write = %d, %v", n, err)
		return
	}
	for got := 0; got < n; {
		k, err := rt.b.Read(rt.in, rt.sizes, headroom)
		if err != nil {
			rt.failed = err
			return
		}
		got += k
	}
	rt.total += n
}

// TestRoundTripAllocs checks that the steady-state send and receive paths
// do not allocate (style rule 21), for each send mode and with and without
// UDP GRO.
func TestRoundTripAllocs(t *testing.T) {
	for _, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			ns := nstest.NewNS(t, "alloc")
			a := listen(t, ns, Options{Family: c.fam, Send: c.mode, DisableGSO: !c.gso})
			b := listen(t, ns, Options{Family: c.fam, DisableGRO: !c.gro})
			rt := newRoundTrip(a, b, 64, 1400, c.oneFlow)
			rt.run()
			allocs := testing.AllocsPerRun(50, rt.run)
			if rt.failed != nil {
				t.Fatal(rt.failed)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per batch of 64, want 0", allocs)
			}
		})
	}
}

// benchCases: "7flows" interleaves 7 source ports packet by packet, so no
// run of one flow forms and raw mode sends every packet raw; "1flow" sends
// the batch as one flow, which raw mode sends from a per-flow GSO socket.
var benchCases = []struct {
	name     string
	fam      int
	mode     SendMode
	gso, gro bool
	oneFlow  bool
}{
	{"ipv4/raw/7flows/gro", 4, SendRaw, true, true, false},
	{"ipv4/raw/1flow/gso+gro", 4, SendRaw, true, true, true},
	{"ipv4/raw/1flow/nogso/nogro", 4, SendRaw, false, false, true},
	{"ipv4/udp/7flows/gso+gro", 4, SendUDP, true, true, false},
	{"ipv4/udp/1flow/nogso/nogro", 4, SendUDP, false, false, true},
	{"ipv6/raw/7flows/gro", 6, SendRaw, true, true, false},
	{"ipv6/raw/1flow/gso+gro", 6, SendRaw, true, true, true},
	{"ipv6/udp/7flows/gso+gro", 6, SendUDP, true, true, false},
}

// BenchmarkRoundTrip64 sends a batch of 64 outer packets of 1400 bytes of
// payload from one Conn to another over loopback and reads them back.
func BenchmarkRoundTrip64(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			nstest.SkipUnlessRoot(b)
			ns := nstest.NewNS(b, "bench")
			x := listen(b, ns, Options{Family: c.fam, Send: c.mode, DisableGSO: !c.gso})
			y := listen(b, ns, Options{Family: c.fam, DisableGRO: !c.gro})
			rt := newRoundTrip(x, y, 64, 1400, c.oneFlow)
			b.ReportAllocs()
			b.SetBytes(64 * 1400)
			cpu0 := cpuTime()
			for b.Loop() {
				rt.run()
				if rt.failed != nil {
					b.Fatal(rt.failed)
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(rt.total)/b.Elapsed().Seconds(), "pkts/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(rt.total), "cpu-ns/pkt")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuTime returns the CPU time (user + system) the process has used so far.
// Benchmarks report it per operation ("cpu-ns/op") next to wall time: on a
// small machine shared with other work, wall time mostly measures waiting
// for a CPU, while CPU time is what the code under test costs, kernel work
// in its system calls included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
