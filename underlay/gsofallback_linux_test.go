package underlay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/internal/sys"
)

// Tests of the UDP GSO fallbacks: a UDP_SEGMENT send the kernel refuses is
// sent again as plain datagrams, none lost and none sent twice.

// gsoLab is a sender in one namespace and a receiver in another, joined by
// the veth pair of vethPair (veth0 10.9.0.1/fd00::1 -- veth1 10.9.0.2/fd00::2).
type gsoLab struct {
	nsA, nsB *nstest.NS
	a, b     *LinuxConn
	src, dst netip.Addr
	mtu      int
}

func newGSOLab(t *testing.T, fam int, mode SendMode, mtu int, txCsumOff bool) *gsoLab {
	t.Helper()
	return newSendLab(t, fam, Options{Send: mode}, mtu, txCsumOff)
}

// newSendLab is newGSOLab with the sender's options; without DisableGSO it
// skips when the kernel has no UDP GSO.
func newSendLab(t *testing.T, fam int, opt Options, mtu int, txCsumOff bool) *gsoLab {
	t.Helper()
	mode := opt.Send
	nstest.SkipUnlessRoot(t)
	if txCsumOff {
		nstest.RequireTools(t, "ethtool")
	}
	l := &gsoLab{nsA: nstest.NewNS(t, "gsoa"), nsB: nstest.NewNS(t, "gsob"), mtu: mtu}
	vethPair(t, l.nsA, l.nsB, mtu)
	if txCsumOff {
		l.nsA.TxChecksumOff(t, "veth0")
	}
	l.src, l.dst = netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	if fam == 6 {
		l.src, l.dst = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	}
	opt.Family = fam
	l.a = listen(t, l.nsA, opt)
	l.b = listen(t, l.nsB, Options{Family: fam})
	if l.a.SendMode() != mode {
		t.Skipf("SendMode() = %v, want %v (no raw socket)", l.a.SendMode(), mode)
	}
	if !l.a.GSO() && !opt.DisableGSO {
		t.Skip("kernel lacks UDP GSO (UDP_SEGMENT)")
	}
	// Resolve the neighbour first, so that the batches under test do not
	// wait in (and overflow) the unresolved-neighbour queue.
	prime := pkt{src: l.src, dst: l.dst, sport: 1, dport: l.b.LocalPort(), ttl: 64, payload: []byte{0xff}}
	if n, err := l.a.Write([][]byte{prime.build()}, headroom); err != nil || n != 1 {
		t.Fatalf("priming Write = %d, %v", n, err)
	}
	readN(t, l.b, 1, 4, 512)
	return l
}

// fallbackBatch returns the packets of one Write: lone datagrams before and
// after a run of 64 equal-size datagrams of one flow to one remote, which
// the Conn sends as one UDP_SEGMENT send (from a flow socket in SendRaw
// mode). The lone ones go out as messages of their own before the run
// (another TTL or source port), so a refused run follows sent messages of
// the same sendmmsg. Payloads carry their index and differ in every byte.
func (l *gsoLab) fallbackBatch(size int, df bool) []pkt {
	mk := func(i int, sport uint16, ttl uint8, n int) pkt {
		p := pkt{src: l.src, dst: l.dst, sport: sport, dport: l.b.LocalPort(), ttl: ttl, tos: 0x20, df: df,
			payload: make([]byte, n)}
		for k := range p.payload {
			p.payload[k] = byte(i*31 + k)
		}
		binary.BigEndian.PutUint16(p.payload, uint16(i))
		return p
	}
	var ps []pkt
	ps = append(ps, mk(0, 40001, 63, 300), mk(1, 40002, 62, 200))
	for i := range 64 {
		ps = append(ps, mk(2+i, 40000, 64, size))
	}
	return append(ps, mk(66, 40003, 61, 500))
}

// send writes ps and checks that the receiver gets each exactly once,
// intact, with the right outer source port: the datapath's in SendRaw
// mode, also for packets above the MTU, which the flow's socket sends to be
// fragmented; the bound port in SendUDP mode.
func (l *gsoLab) send(t *testing.T, ps []pkt) {
	t.Helper()
	bufs := make([][]byte, len(ps))
	for i, p := range ps {
		bufs[i] = p.build()
	}
	if n, err := l.a.Write(bufs, headroom); err != nil || n != len(ps) {
		t.Fatalf("Write = %d, %v, want %d; stats %+v", n, err, len(ps), l.a.Stats())
	}
	seen := make([]bool, len(ps))
	for _, g := range readN(t, l.b, len(ps), 64, 4096) {
		if len(g.payload) < 2 {
			t.Errorf("datagram of %d bytes", len(g.payload))
			continue
		}
		i := int(binary.BigEndian.Uint16(g.payload))
		if i >= len(ps) {
			t.Errorf("datagram with index %d", i)
			continue
		}
		if seen[i] {
			t.Errorf("datagram %d received twice", i)
		}
		seen[i] = true
		w := ps[i]
		wantSport := w.sport
		if l.a.SendMode() == SendUDP {
			wantSport = l.a.LocalPort()
		}
		if !bytes.Equal(g.payload, w.payload) {
			t.Errorf("datagram %d: payload differs (%d bytes, want %d)", i, len(g.payload), len(w.payload))
		}
		if g.src != w.src || g.sport != wantSport || g.dport != w.dport || g.ttl != w.ttl || g.tos != w.tos {
			t.Errorf("datagram %d: %v:%d -> :%d ttl %d tos %#x, want %v:%d -> :%d ttl %d tos %#x",
				i, g.src, g.sport, g.dport, g.ttl, g.tos, w.src, wantSport, w.dport, w.ttl, w.tos)
		}
	}
}

// msgUDPSegment returns the UDP_SEGMENT size a message carries, or 0.
func msgUDPSegment(h *sys.Msghdr) int {
	if h.Control == nil || h.Controllen == 0 {
		return 0
	}
	return cmsgUDPSegment(unsafe.Slice(h.Control, h.Controllen))
}

// refuseGSO replaces sendmmsg for the rest of the test with one that
// answers a message carrying UDP_SEGMENT the way udp_send_skb does when it
// will not segment: it sends the messages before it and fails on it with
// errno (sendmmsg reports the count first and the error on the next call).
// It returns the number of messages refused so far.
func refuseGSO(t *testing.T, errno error) *atomic.Int64 {
	var refused atomic.Int64
	t.Cleanup(func() { sendmmsg = sys.Sendmmsg })
	sendmmsg = func(fd uintptr, msgs []sys.Mmsghdr, flags int) (int, error) {
		for i := range msgs {
			if msgUDPSegment(&msgs[i].Hdr) == 0 {
				continue
			}
			if i > 0 {
				return sys.Sendmmsg(fd, msgs[:i], flags)
			}
			refused.Add(1)
			return -1, errno
		}
		return sys.Sendmmsg(fd, msgs, flags)
	}
	return &refused
}

// TestGSOFallsBackToPlainSendsOnEIO: udp_send_skb answers a UDP_SEGMENT
// send with EIO when it cannot segment: before Linux 6.11 whenever the
// egress device had no checksum offload (skb->ip_summed !=
// CHECKSUM_PARTIAL, lifted by commit 10154dbded6d "udp: Allow GSO transmit
// from devices with no checksum offload"), and still on an IPsec route
// (dst_xfrm). Neither can be had on a newer kernel built without ESP, so a
// sendmmsg that answers EIO to every UDP_SEGMENT message stands in for
// such a kernel. The refused run (and whatever follows it in the batch) must go out
// as plain datagrams, each exactly once, GSO must turn off for good, and
// the next Write must not try UDP_SEGMENT again.
func TestGSOFallsBackToPlainSendsOnEIO(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			t.Run(fmt.Sprintf("ipv%d/%v", fam, mode), func(t *testing.T) {
				l := newGSOLab(t, fam, mode, 1500, false)
				refused := refuseGSO(t, sys.EIO)
				ps := l.fallbackBatch(1000, true)
				l.send(t, ps)
				st := l.a.Stats()
				if l.a.GSO() {
					t.Error("GSO() = true after EIO, want false")
				}
				if refused.Load() != 1 || st.TxGSOSends != 0 {
					t.Errorf("%d UDP_SEGMENT sends refused, %d made (TxGSOSends), want 1 and 0", refused.Load(), st.TxGSOSends)
				}
				if mode == SendRaw {
					if st.TxFlowSockets != 1 {
						t.Errorf("TxFlowSockets = %d, want 1 (the run was meant for a flow socket)", st.TxFlowSockets)
					}
					l.a.w.flows.mu.Lock()
					open := len(l.a.w.flows.socks)
					l.a.w.flows.mu.Unlock()
					if open != 0 {
						t.Errorf("%d flow sockets still open (holding their ports) after GSO turned off", open)
					}
				}
				l.send(t, ps)
				st2 := l.a.Stats()
				if refused.Load() != 1 || st2.TxGSOSends != 0 {
					t.Errorf("second Write: %d UDP_SEGMENT sends refused, TxGSOSends %d; want no new attempt", refused.Load(), st2.TxGSOSends)
				}
				if want := uint64(2*len(ps) + 1); st2.TxPackets != want || st2.TxErrors != 0 {
					t.Errorf("TxPackets %d TxErrors %d, want %d and 0", st2.TxPackets, st2.TxErrors, want)
				}
			})
		}
	}
}

// wireChecker reads, through a raw IPPROTO_UDP socket in the receiver's
// namespace, the datagrams to one port as they came off the wire, and
// checks their UDP checksums: the receiving UDP socket cannot tell, since a
// veth hands over the segments of a software-segmented GSO packet marked
// CHECKSUM_UNNECESSARY (__udp_gso_segment).
type wireChecker struct {
	c    net.PacketConn
	dst  netip.Addr
	port uint16
}

func newWireChecker(t *testing.T, ns *nstest.NS, dst netip.Addr, port uint16) *wireChecker {
	t.Helper()
	network := "ip4:udp"
	if dst.Is6() {
		network = "ip6:udp"
	}
	c, err := ns.ListenPacket(network, dst.String())
	if err != nil {
		t.Fatalf("raw UDP listener: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &wireChecker{c: c, dst: dst, port: port}
}

// check reads n datagrams to the port (IPv4 raw reads have the IP header
// stripped by package net; IPv6 raw sockets never deliver it).
func (w *wireChecker) check(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 65536)
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	bad := 0
	for got := 0; got < n; {
		k, from, err := w.c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("raw read after %d datagrams: %v", got, err)
		}
		u := buf[:k]
		if len(u) < udpHeaderLen || binary.BigEndian.Uint16(u[2:]) != w.port {
			continue
		}
		got++
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		src = src.Unmap()
		if binary.BigEndian.Uint16(u[6:]) == 0 {
			t.Errorf("datagram %d left without a UDP checksum", got)
			continue
		}
		if c := checksum.Checksum(u, checksum.Pseudo(src.AsSlice(), w.dst.AsSlice(), 17, uint32(len(u)))); c != 0 {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d datagrams carry a wrong UDP checksum on the wire", bad, n)
	}
}

// TestGSOWithoutTxChecksumOffload sends through a veth with tx checksumming
// off (`ethtool -K veth0 tx off`). Before Linux 6.11 udp_send_skb refused
// UDP_SEGMENT sends there with EIO (skb->ip_summed != CHECKSUM_PARTIAL,
// since __ip_append_data only makes the skb partial when the device can
// checksum) and the Conn must fall back to plain sends for good; from 6.11
// the GSO layer segments and checksums in software (__udp_gso_segment) and
// GSO stays on. Either way every datagram arrives once, intact and with a
// correct UDP checksum on the wire.
func TestGSOWithoutTxChecksumOffload(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			t.Run(fmt.Sprintf("ipv%d/%v", fam, mode), func(t *testing.T) {
				l := newGSOLab(t, fam, mode, 1500, true)
				w := newWireChecker(t, l.nsB, l.dst, l.b.LocalPort())
				ps := l.fallbackBatch(1000, true)
				l.send(t, ps)
				w.check(t, len(ps))
				st := l.a.Stats()
				if l.a.GSO() {
					t.Logf("kernel segments UDP GSO in software without tx checksum offload (no EIO): %d GSO sends", st.TxGSOSends)
					if st.TxGSOSends == 0 {
						t.Errorf("GSO() = true but no UDP_SEGMENT send was made; stats %+v", st)
					}
				} else {
					t.Logf("kernel answered EIO to UDP_SEGMENT (udp_send_skb); fell back to plain sends")
				}
				l.send(t, ps)
				w.check(t, len(ps))
				st2 := l.a.Stats()
				if !l.a.GSO() && st2.TxGSOSends != st.TxGSOSends {
					t.Errorf("TxGSOSends grew from %d to %d after GSO turned off", st.TxGSOSends, st2.TxGSOSends)
				}
				if st2.TxErrors != 0 {
					t.Errorf("TxErrors = %d", st2.TxErrors)
				}
			})
		}
	}
}

// TestOversizedRunIsFragmentedNotDropped: a UDP_SEGMENT send whose segment
// size exceeds the path MTU is refused whole (udp_send_skb: EMSGSIZE; EINVAL on
// older kernels), while plain sends of the same datagrams with DF
// clear are fragmented by IP, as the kernel's vxlan lets them be. Such a run
// must go out as fragmented plain datagrams, and GSO must stay on for runs
// that fit. With DF set they are dropped and counted, one by one.
func TestOversizedRunIsFragmentedNotDropped(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, mode := range []SendMode{SendRaw, SendUDP} {
			t.Run(fmt.Sprintf("ipv%d/%v", fam, mode), func(t *testing.T) {
				l := newGSOLab(t, fam, mode, 1400, false)
				ps := l.fallbackBatch(2000, false)
				l.send(t, ps)
				if !l.a.GSO() {
					t.Error("GSO() = false after EMSGSIZE, want true (only EIO turns it off)")
				}
				st := l.a.Stats()
				if st.TxErrors != 0 {
					t.Errorf("TxErrors = %d, want 0; stats %+v", st.TxErrors, st)
				}
				if mode == SendRaw && st.TxFallback != 64 {
					t.Errorf("TxFallback = %d, want 64 (the run, fragmented from the flow's socket)", st.TxFallback)
				}
				{
					// The refusal is remembered for the flow: the next
					// oversized run goes out plainly without another
					// failing UDP_SEGMENT send.
					refused, gsoTried, most := 0, 0, 0
					t.Cleanup(func() { sendmmsg = sys.Sendmmsg })
					sendmmsg = func(fd uintptr, msgs []sys.Mmsghdr, flags int) (int, error) {
						for i := range msgs {
							if msgUDPSegment(&msgs[i].Hdr) != 0 {
								gsoTried++
							}
						}
						n, err := sys.Sendmmsg(fd, msgs, flags)
						most = max(most, n)
						if err == sys.EMSGSIZE || err == sys.EINVAL {
							refused++
						}
						return n, err
					}
					l.send(t, l.fallbackBatch(2000, false))
					sendmmsg = sys.Sendmmsg
					if mode == SendRaw {
						if got := l.a.Stats().TxFallback; got != 128 {
							t.Errorf("TxFallback = %d after the second run, want 128", got)
						}
						// Not one system call per datagram: the flow's
						// runs (32 datagrams of 2000 bytes fill 64 KB)
						// go out in one sendmmsg each.
						if most < 32 {
							t.Errorf("at most %d datagrams sent by one sendmmsg, want 32", most)
						}
					}
					if refused != 0 {
						t.Errorf("%d sends refused in the second oversized batch, want 0 (plain sends, fragmented)", refused)
					}
					if gsoTried != 0 {
						t.Errorf("%d UDP_SEGMENT messages offered in the second oversized batch, want 0", gsoTried)
					}
				}
				// A lone datagram above the MTU, in no run, between
				// small ones: fragmented too, from its own flow's port
				// (l.send checks the ports).
				lone := l.fallbackBatch(2000, false)
				l.send(t, lone[:3])

				// Runs that fit the MTU still go out with UDP_SEGMENT.
				before := l.a.Stats().TxGSOSends
				l.send(t, l.fallbackBatch(1000, false))
				if after := l.a.Stats().TxGSOSends; after == before {
					t.Errorf("no UDP_SEGMENT send for a run within the MTU (TxGSOSends %d)", after)
				}
				if fam == 6 {
					return // IPv6 has no DF bit
				}
				dfRun := l.fallbackBatch(2000, true)[2:66]
				bufs := make([][]byte, len(dfRun))
				for i, p := range dfRun {
					bufs[i] = p.build()
				}
				before = l.a.Stats().TxErrors
				if n, err := l.a.Write(bufs, headroom); err != nil || n != 0 {
					t.Errorf("Write of a too-big DF run = %d, %v, want 0, nil", n, err)
				}
				if got := l.a.Stats().TxErrors - before; got != uint64(len(dfRun)) {
					t.Errorf("TxErrors grew by %d, want %d", got, len(dfRun))
				}
			})
		}
	}
}

// TestOversizedDatagramsWithoutGSOKeepTheirPorts: with UDP GSO off (vtepd
// -offload off), raw sends of datagrams above the path MTU are refused, and
// those with DF clear go out from their flow's socket for IP to fragment:
// with the flow's source port, as the kernel's vxlan sends them, and a run
// of one flow's in one sendmmsg after the one refused raw send, not a
// refused raw send and a plain send per datagram.
func TestOversizedDatagramsWithoutGSOKeepTheirPorts(t *testing.T) {
	for _, fam := range []int{4, 6} {
		t.Run(fmt.Sprintf("ipv%d", fam), func(t *testing.T) {
			l := newSendLab(t, fam, Options{Send: SendRaw, DisableGSO: true}, 1400, false)
			refused, most := 0, 0
			t.Cleanup(func() { sendmmsg = sys.Sendmmsg })
			sendmmsg = func(fd uintptr, msgs []sys.Mmsghdr, flags int) (int, error) {
				n, err := sys.Sendmmsg(fd, msgs, flags)
				if err == sys.EMSGSIZE {
					refused++
				}
				most = max(most, n)
				return n, err
			}
			l.send(t, l.fallbackBatch(2000, false)) // checks the source ports
			sendmmsg = sys.Sendmmsg
			if st := l.a.Stats(); st.TxFallback != 64 || st.TxErrors != 0 || st.TxGSOSends != 0 {
				t.Errorf("TxFallback %d, TxErrors %d, TxGSOSends %d; want 64, 0, 0", st.TxFallback, st.TxErrors, st.TxGSOSends)
			}
			if refused != 1 || most != 64 {
				t.Errorf("%d sends refused, at most %d datagrams per sendmmsg; want 1 and 64", refused, most)
			}
		})
	}
}
