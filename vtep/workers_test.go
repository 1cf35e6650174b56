package vtep_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
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
