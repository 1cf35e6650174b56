package vtep_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/vtep"
)

// TestWorkersKeepFlowOrder: with several underlay Conns per socket
// (SO_REUSEPORT workers) and a multi-queue overlay port on both hosts,
// every frame arrives and the frames of each flow arrive in the order they
// were sent: a flow sticks to one overlay queue on transmit (the kernel's
// TAP queue selection by flow hash), its outer source port is a hash of
// the flow (udp_flow_src_port), so it sticks to one receive worker, which
// writes to one overlay queue. The flows are interleaved at random.
func TestWorkersKeepFlowOrder(t *testing.T) {
	for _, tc := range []struct{ workers, queues int }{{1, 1}, {3, 2}, {2, 4}, {4, 4}} {
		t.Run(fmt.Sprintf("workers %d queues %d", tc.workers, tc.queues), func(t *testing.T) {
			opts := netlab.Options{Workers: tc.workers, Queues: tc.queues, PipeQueueLen: 4096}
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				l1, l2 := twoHosts(t, lab, "")
				if l1.NumQueues() != tc.queues {
					t.Fatalf("link has %d queues, want %d", l1.NumQueues(), tc.queues)
				}
				const flows, per = 24, 40
				rnd := rand.New(rand.NewPCG(1, 2))
				next := make([]int, flows)
				for sent := 0; sent < flows*per; {
					f := rnd.IntN(flows)
					if next[f] == per {
						continue
					}
					var seq [4]byte
					binary.BigEndian.PutUint32(seq[:], uint32(next[f]))
					fr := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, uint16(1000+f), 5201, seq[:])
					if err := l1.Send(fr); err != nil {
						t.Fatal(err)
					}
					next[f]++
					sent++
				}
				got := recvAll(l2)
				if len(got) != flows*per {
					t.Fatalf("received %d frames, want %d", len(got), flows*per)
				}
				want := make([]uint32, flows)
				for _, fr := range got {
					d := fr.Data
					f := int(binary.BigEndian.Uint16(d[34:])) - 1000
					seq := binary.BigEndian.Uint32(d[42:])
					if f < 0 || f >= flows || seq != want[f] {
						t.Fatalf("flow %d: got frame %d, want %d", f, seq, want[f])
					}
					want[f]++
				}
				if got := counter(l2, "rx_packets"); got != flows*per {
					t.Errorf("rx_packets = %d", got)
				}
			})
		})
	}
}

// TestWorkersDeliverMulticastOnce: every Conn bound to the port receives
// its own copy of a multicast datagram (__udp4_lib_mcast_deliver clones
// the skb for each matching socket, and IP_MULTICAST_ALL makes the
// workers that did not join match too); only the first worker's copy is
// delivered, the others are counted as rx_multicast_copies.
func TestWorkersDeliverMulticastOnce(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace, Workers: 3, Queues: 2}, func(t *testing.T, lab *netlab.Lab) {
		var ls []*netlab.Link
		for i := 1; i <= 2; i++ {
			a := fmt.Sprintf("192.0.2.%d", i)
			h := lab.MustAddHost(t, fmt.Sprintf("h%d", i), a)
			ls = append(ls, h.MustAddLink(t, "vx0", "id 42 group 239.1.1.1 dev eth0 dstport 4789 local "+a))
		}
		f := netlab.ARPRequest(macA, ipA, ipB)
		o := sendOne(t, rec, ls[0], f, tap.Meta{})
		if o.dst != ip("239.1.1.1") {
			t.Fatalf("outer dst %v", o.dst)
		}
		expectFrames(t, ls[1], f)
		if got := ls[1].Host.VTEP.Stats().Get("rx_multicast_copies"); got != 2 {
			t.Errorf("rx_multicast_copies = %d, want 2", got)
		}
	})
}

// TestPinnedWorkersCallPinThreadAndRaiseGOMAXPROCS: with
// HostOptions.PinThread every transmit routine (one per overlay queue) and
// every receive routine (one per Conn) calls it with its worker index from
// its own thread, GOMAXPROCS is raised by one per such routine while they
// run (by at most four times itself) and comes back when the host closes, and frames still flow. A
// PinThread that fails leaves the routine running unbound.
func TestPinnedWorkersCallPinThreadAndRaiseGOMAXPROCS(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail %v", fail), func(t *testing.T) {
			before := runtime.GOMAXPROCS(0)
			var mu sync.Mutex
			calls := map[string][]int{}
			opts := netlab.Options{Workers: 2, Queues: 3, PipeQueueLen: 4096, Host: func(name string, o *vtep.HostOptions) {
				o.PinThread = func(w int) error {
					mu.Lock()
					defer mu.Unlock()
					calls[name] = append(calls[name], w)
					if fail {
						return errors.New("refused for a test")
					}
					return nil
				}
			}}
			lab := netlab.New(opts)
			synctest.Test(t, func(t *testing.T) {
				l1, l2 := twoHosts(t, lab, "")
				fr := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1000, 5201, []byte("pinned"))
				for range 10 {
					if err := l1.Send(fr); err != nil {
						t.Fatal(err)
					}
				}
				if got := len(recvAll(l2)); got != 10 {
					t.Fatalf("received %d frames, want 10", got)
				}
				mu.Lock()
				defer mu.Unlock()
				// Per host: 3 transmit routines (queues 0-2) and 2 receive
				// routines (Conns 0-1) of the one IPv4 socket.
				n := 0
				for name, ws := range calls {
					slices.Sort(ws)
					if !slices.Equal(ws, []int{0, 0, 1, 1, 2}) {
						t.Errorf("%s: PinThread called with %v, want workers [0 0 1 1 2]", name, ws)
					}
					n += len(ws)
				}
				if len(calls) != 2 {
					t.Errorf("PinThread called on %d hosts, want 2", len(calls))
				}
				if got, want := runtime.GOMAXPROCS(0), before+min(n, 4*before); got != want {
					t.Errorf("GOMAXPROCS %d with %d pinned routines, want %d (from %d, raised at most fourfold)", got, n, want, before)
				}
				lab.Close()
			})
			if got := runtime.GOMAXPROCS(0); got != before {
				t.Errorf("GOMAXPROCS %d after the hosts closed, want %d", got, before)
			}
		})
	}
}

// TestSourcePortByQueueKeepsTheQueueClass: with
// HostOptions.SourcePortByQueue, every outer packet of a frame read from
// overlay queue q of n has a source port congruent to q modulo n, inside
// the link's range, and the same for every frame of one flow; the peer
// (steering its sockets by source port) receives and delivers them all,
// in order.
func TestSourcePortByQueueKeepsTheQueueClass(t *testing.T) {
	const queues = 3
	for _, srcport := range []string{"", "srcport 40000 40010"} {
		t.Run("range "+srcport, func(t *testing.T) {
			rec := &recorder{}
			opts := netlab.Options{Trace: rec.trace, Workers: queues, Queues: queues, PipeQueueLen: 4096,
				Host: func(_ string, o *vtep.HostOptions) { o.SourcePortByQueue = true }}
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				l1, l2 := twoHosts(t, lab, srcport)
				lo, hi := 32768, 60999
				if srcport != "" {
					lo, hi = 40000, 40010
				}
				ports := map[[2]int]uint16{} // (queue, flow) -> source port
				const flows, per = 8, 5
				for q := range queues {
					for f := range flows {
						for i := range per {
							payload := []byte{byte(q), byte(f), byte(i)}
							fr := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, uint16(1000+f), 5201, payload)
							if err := l1.Queues[q].Inject(fr); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if got := len(recvAll(l2)); got != queues*flows*per {
					t.Fatalf("delivered %d frames, want %d", got, queues*flows*per)
				}
				for _, s := range rec.take() {
					o := decodeOuter(t, s.pkt)
					in := o.inner
					p := in[len(in)-3:]
					q, f := int(p[0]), int(p[1])
					if int(o.sport)%queues != q || int(o.sport) < lo || int(o.sport) >= hi {
						t.Fatalf("frame of queue %d flow %d: source port %d (range [%d,%d), %d queues)", q, f, o.sport, lo, hi, queues)
					}
					if old, ok := ports[[2]int{q, f}]; ok && old != o.sport {
						t.Fatalf("queue %d flow %d: source port %d, then %d", q, f, old, o.sport)
					}
					ports[[2]int{q, f}] = o.sport
				}
				if len(ports) != queues*flows {
					t.Fatalf("saw %d (queue, flow) pairs, want %d", len(ports), queues*flows)
				}
			})
		})
	}
}
