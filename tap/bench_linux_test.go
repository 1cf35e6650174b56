package tap

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// arpExchange writes an ARP request for the TAP's address and reads until
// the kernel's reply comes back, reusing its buffers.
type arpExchange struct {
	dev   Device
	req   [][]byte
	bufs  [][]byte
	sizes []int
	err   error
}

func newARPExchange(t testing.TB, dev Device) *arpExchange {
	b := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: peerMAC[:], DstMAC: header.BroadcastMAC[:], EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: peerMAC[:], SourceProtAddress: net.IP{10, 1, 0, 2},
			DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 1, 0, 1}})
	req := make([]byte, Headroom+len(b.Bytes()))
	copy(req[Headroom:], b.Bytes())
	x := &arpExchange{dev: dev, req: [][]byte{req}}
	x.bufs, x.sizes = newBufs(8, 2048)
	return x
}

func (x *arpExchange) run() {
	if _, err := x.dev.Write(x.req, Headroom); err != nil {
		x.err = err
		return
	}
	for {
		n, err := x.dev.Read(x.bufs, x.sizes, Headroom)
		if err != nil {
			x.err = err
			return
		}
		for i := range n {
			f := x.bufs[i][Headroom : Headroom+x.sizes[i]]
			if len(f) >= 22 && f[12] == 8 && f[13] == 6 && f[21] == 2 {
				return
			}
		}
	}
}

// TestReadWriteAllocs: a Write and the Reads that take the kernel's answer
// allocate nothing, with and without offloads (style rule 21).
func TestReadWriteAllocs(t *testing.T) {
	for _, mode := range []OffloadMode{OffloadAuto, OffloadOff} {
		t.Run(fmt.Sprintf("offload=%v", mode == OffloadAuto), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			ns := nstest.NewNS(t, "tapalloc")
			tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Offload: mode, Up: true})
			ns.AddAddr(t, "tap0", netip.MustParsePrefix("10.1.0.1/24"))
			x := newARPExchange(t, tp)
			x.run()
			allocs := testing.AllocsPerRun(100, x.run)
			if x.err != nil {
				t.Fatal(x.err)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per ARP exchange, want 0", allocs)
			}
		})
	}
}

// BenchmarkARPExchange measures one Write + Read round trip through the
// kernel (an ARP request and its reply).
func BenchmarkARPExchange(b *testing.B) {
	for _, mode := range []OffloadMode{OffloadAuto, OffloadOff} {
		b.Run(fmt.Sprintf("offload=%v", mode == OffloadAuto), func(b *testing.B) {
			nstest.SkipUnlessRoot(b)
			ns := nstest.NewNS(b, "tapbench")
			tp := openTAP(b, ns, Options{Name: "tap0", MAC: tapMAC, Offload: mode, Up: true})
			ns.AddAddr(b, "tap0", netip.MustParsePrefix("10.1.0.1/24"))
			x := newARPExchange(b, tp)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				x.run()
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if x.err != nil {
				b.Fatal(x.err)
			}
		})
	}
}

// BenchmarkTCPThroughTAPPair measures TCP throughput across two TAPs
// bridged by the Go loop of tapPair: with offloads that is TSO super-frames
// split by Read and GRO super-frames built by Write, one syscall per
// super-frame on the receiving side.
func BenchmarkTCPThroughTAPPair(b *testing.B) {
	for _, mode := range []OffloadMode{OffloadAuto, OffloadOff} {
		b.Run(fmt.Sprintf("offload=%v", mode == OffloadAuto), func(b *testing.B) {
			nsA, nsB, _, _, check := tapPair(b, mode, 64)
			var ln net.Listener
			if err := nsB.Do(func() (err error) {
				ln, err = net.Listen("tcp4", "10.2.0.2:5001")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- 0
					return
				}
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- n
			}()
			var c net.Conn
			if err := nsA.Do(func() (err error) {
				c, err = net.Dial("tcp4", "10.2.0.2:5001")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			<-done
			// Both kernels' TCP, the TAPs and the bridge loops run in this
			// process: CPU time per MiB is the cost of the whole path.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/MiB")
			check()
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
