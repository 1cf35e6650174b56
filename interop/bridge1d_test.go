package interop

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// The scenarios of tools/testing/selftests/net/forwarding/vxlan_bridge_1d.sh
// (and vxlan_bridge_1d_ipv6.sh for the IPv6 underlay), rewritten against a
// device under test that is a kernel vxlan or a vtep link. The selftest's
// switch VTEP vx1 (`nolearning noudpcsum tos inherit ttl 100`, flooding to
// two remote VTEPs through all-zeros entries) is h1's vx0 here; its two
// namespace VTEPs are h2 and h3, kernel vxlan devices with learning. The
// overlay hosts sit directly on the vx0 devices instead of behind bridges.

// TestBridge1D runs the vxlan_bridge_1d.sh scenarios over an IPv4 underlay.
func TestBridge1D(t *testing.T) {
	forEachKindNoOffload(t, func(t *testing.T, dut kind) { runBridge1D(t, dut, false) })
}

// TestBridge1DIPv6 runs them over an IPv6 underlay
// (vxlan_bridge_1d_ipv6.sh).
func TestBridge1DIPv6(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) { runBridge1D(t, dut, true) })
}

func runBridge1D(t *testing.T, dut kind, ipv6 bool) {
	l := newLab(t, labConfig{kinds: []kind{dut, kindKernel, kindKernel}, ipv6: ipv6, args: func(h *host) []string {
		if h.idx == 1 {
			return []string{"nolearning", "noudpcsum", "tos", "inherit", "ttl", "100"}
		}
		return nil
	}})
	h1, h2, h3 := l.hosts[0], l.hosts[1], l.hosts[2]
	flood := header.MustParseMAC("de:ad:be:ef:13:37")

	// ping_ipv4 (and ping_ipv6 of the _ipv6 variant).
	t.Run("Ping", func(t *testing.T) {
		for _, p := range []*host{h2, h3} {
			h1.warmUp(t, p.In4())
			h1.PingOK(t, p.In4())
			h1.PingOK(t, p.In6())
		}
	})

	// test_flood: unknown unicast is replicated to every remote of the
	// all-zeros entry (vxlan_xmit, "fdb miss" → all-zeros → each rdst).
	t.Run("Flood", func(t *testing.T) {
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10, h3: 10})
	})

	// test_flood "unresolved FDB entry": a third remote that cannot be
	// reached must not make the others receive duplicates.
	t.Run("FloodUnresolvedRemote", func(t *testing.T) {
		unreachable := "198.51.100.1"
		if ipv6 {
			unreachable = "2001:db8:ffff::1"
		}
		h1.FDB(t, "append", header.ZeroMAC.String(), "dst", unreachable)
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10, h3: 10})
		h1.FDB(t, "del", header.ZeroMAC.String(), "dst", unreachable)
	})

	// test_unicast: static entries send each MAC to its VTEP only.
	t.Run("Unicast", func(t *testing.T) {
		for _, p := range []*host{h2, h3} {
			h1.FDB(t, "add", p.mac.String(), "dst", p.Underlay().String(), "static")
		}
		floodCheck(t, l, h1, h2.mac, map[*host]int{h2: 10})
		floodCheck(t, l, h1, h3.mac, map[*host]int{h3: 10})
		for _, p := range []*host{h2, h3} {
			h1.FDB(t, "del", p.mac.String(), "dst", p.Underlay().String())
		}
	})

	// test_ttl: the envelope carries the configured TTL (vxlan_xmit_one
	// "ttl"); the selftest sees 99 after one router, here the peer is on
	// the same segment.
	t.Run("TTL", func(t *testing.T) {
		for _, p := range envelopes(t, l, h1, h2) {
			if p.TTL != 100 {
				t.Fatalf("outer TTL %d, want 100", p.TTL)
			}
		}
	})

	// test_tos: `tos inherit` copies the inner DS field to the envelope
	// (ip_tunnel_get_dsfield).
	t.Run("TOSInherit", func(t *testing.T) {
		for _, tc := range []struct{ q, want uint8 }{{0x14, 0x14}, {0x18, 0x18}} {
			for _, p := range envelopes(t, l, h1, h2, "-Q", "0x"+strconv.FormatUint(uint64(tc.q), 16)) {
				if p.TOS != tc.want {
					t.Fatalf("inner TOS %#02x: outer TOS %#02x, want %#02x", tc.q, p.TOS, tc.want)
				}
			}
		}
	})

	// test_ecn_encap: INET_ECN_encapsulate copies the inner ECN field,
	// except CE, which becomes ECT(0) (RFC 6040 §4.1 normal mode).
	t.Run("ECNEncap", func(t *testing.T) {
		for _, tc := range []struct{ q, want uint8 }{{0x00, 0x00}, {0x01, 0x01}, {0x02, 0x02}, {0x03, 0x02}} {
			t.Run(fmt.Sprintf("%#02x->%#02x", tc.q, tc.want), func(t *testing.T) {
				for _, p := range envelopes(t, l, h1, h2, "-Q", "0x"+strconv.FormatUint(uint64(tc.q), 16)) {
					if p.TOS != tc.want {
						t.Fatalf("inner ECN %#02x: outer TOS %#02x, want %#02x", tc.q, p.TOS, tc.want)
					}
				}
			})
		}
	})

	// test_ecn_decap: crafted VXLAN packets from h2 with every (inner,
	// outer) ECN pair; the decapsulated inner TOS follows
	// __INET_ECN_decapsulate (RFC 6040 §4.2).
	t.Run("ECNDecap", func(t *testing.T) {
		for _, tc := range []struct{ inner, outer, want uint8 }{
			{0, 0, 0}, {0, 1, 0}, {0, 2, 0},
			{1, 0, 1}, {1, 1, 1}, {1, 2, 1}, {1, 3, 3},
			{2, 0, 2}, {2, 1, 1}, {2, 2, 2}, {2, 3, 3},
			{3, 0, 3}, {3, 1, 3}, {3, 2, 3}, {3, 3, 3},
		} {
			ok := t.Run(fmt.Sprintf("inner=%02d,outer=%02d->%02d", tc.inner, tc.outer, tc.want), func(t *testing.T) {
				c := startCapture(t, h1.ns, vxDev, incoming, isICMPv4To(h1.In4()))
				sendEncapsulated(t, h2, h1, tc.outer, tc.inner, 10)
				c.WaitCount(t, 10, 5*time.Second)
				settle(t, c)
				if n := c.Count(); n > 12 {
					t.Errorf("%d frames delivered, want 10", n)
				}
				for _, f := range c.Frames() {
					ip, _ := innerIPv4(header.Ethernet(f))
					if ip.TOS() != tc.want {
						t.Fatalf("decapsulated TOS %#02x, want %#02x", ip.TOS(), tc.want)
					}
				}
			})
			if !ok {
				t.Fatal("stopping at the first failing case")
			}
		}
	})

	// test_ecn_decap_error: CE in the envelope of a Not-ECT packet cannot
	// be passed on; the packet is dropped and counted as rx_errors
	// (IP_ECN_decapsulate returning 2; vxlan_rcv rx_frame_errors).
	t.Run("ECNDecapError", func(t *testing.T) {
		c := startCapture(t, h1.ns, vxDev, incoming, isICMPv4To(h1.In4()))
		before := h1.Stats(t)
		sendEncapsulated(t, h2, h1, 3, 0, 10)
		var after linkStats
		nstest.WaitFor(t, 5*time.Second, "rx_errors +10 on "+h1.String(), func() error {
			after = h1.Stats(t)
			if d := after.RX.Errors - before.RX.Errors; d < 10 {
				return fmt.Errorf("rx_errors +%d", d)
			}
			return nil
		})
		settle(t, c)
		if d := after.RX.Errors - before.RX.Errors; d > 12 {
			t.Errorf("rx_errors +%d, want 10", d)
		}
		if n := c.Count(); n != 0 {
			t.Errorf("%d Not-ECT packets with an outer CE were delivered; want all dropped", n)
		}
		if h1.kind.isVtep() {
			if d := after.Vtep["drop_ecn"] - before.Vtep["drop_ecn"]; d < 10 {
				t.Errorf("drop_ecn +%d, want 10", d)
			}
		}
	})

	// test_learning: with learning on and a short ageing time, a source
	// MAC seen from h2 is learned against h2, steers unicast to h2 only,
	// goes back to flooding when deleted, and ages out when it only
	// forwards traffic (vxlan_snoop; vxlan_cleanup ageing on the time the
	// entry was last *updated* by a received packet).
	t.Run("LearningAndAgeing", func(t *testing.T) {
		const ageing = 8
		h1.SetLink(t, "learning", "ageing", strconv.Itoa(ageing))
		defer h1.SetLink(t, "nolearning", "ageing", "300")

		floodCheck(t, l, h1, flood, map[*host]int{h2: 10, h3: 10}) // flood before learning
		learnFrom := func() {
			f := icmpEchoFrame(header.BroadcastMAC, flood, netip.MustParseAddr("192.0.2.200"), floodDst, 0, 0)
			sendFrames(t, h2.ns, vxDev, f)
			checkLearned(t, h1, flood, h2.Underlay())
		}
		learnFrom()
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10}) // learned FDB entry

		h1.FDB(t, "del", flood.String())
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10, h3: 10}) // deletion of learned entry

		learnFrom()
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10})
		// The entry must age out although h1 keeps forwarding to it.
		start := time.Now()
		seq := uint16(0)
		nstest.WaitFor(t, (ageing+20)*time.Second, "the learned entry to age out", func() error {
			seq++
			sendFrames(t, h1.ns, vxDev, icmpEchoFrame(flood, h1.mac, h1.In4(), floodDst, 0, seq))
			if es := h1.FindFDB(t, flood); len(es) != 0 {
				return fmt.Errorf("still there: %v", es)
			}
			return nil
		})
		aged := time.Since(start)
		t.Logf("entry aged out after %v (ageing %ds)", aged.Round(100*time.Millisecond), ageing)
		if aged < (ageing-1)*time.Second {
			t.Errorf("entry aged out after %v, before the ageing time %ds", aged, ageing)
		}
		floodCheck(t, l, h1, flood, map[*host]int{h2: 10, h3: 10}) // flooded again
	})
}

// envelopes pings `to` 10 times from `from` with extra ping arguments and
// returns the outer packets of the echo requests as captured on to's
// underlay.
func envelopes(t testing.TB, l *lab, from, to *host, pingArgs ...string) []vxlanPacket {
	t.Helper()
	port := l.Port()
	c := startCapture(t, to.ns, ulDev, incoming, func(f []byte) bool {
		p, ok := parseVXLAN(f, port)
		if !ok || p.Src != from.Underlay() {
			return false
		}
		ip, ok := innerIPv4(p.Inner)
		return ok && ip.Protocol() == header.ICMPv4ProtocolNumber && ip.DestinationAddress() == to.In4() &&
			len(ip.Payload()) > 0 && ip.Payload()[0] == 8
	})
	defer c.close()
	res := from.Ping(t, to.In4(), nstest.PingOptions{Count: 10, Interval: 10 * time.Millisecond, Wait: 2 * time.Second}, pingArgs...)
	if res.Received != 10 {
		t.Fatalf("ping %v: %d of 10 answered", pingArgs, res.Received)
	}
	c.WaitCount(t, 10, 5*time.Second)
	settle(t, c)
	var ps []vxlanPacket
	for _, f := range c.Frames() {
		p, _ := parseVXLAN(f, port)
		ps = append(ps, p)
	}
	if len(ps) > 15 {
		t.Fatalf("captured %d echo requests for 10 pings", len(ps))
	}
	return ps
}

// sendEncapsulated sends n VXLAN packets from one host's underlay address
// to another's, each carrying an ICMP echo request for to's overlay address
// with the given inner TOS, in an envelope with the given outer TOS (IPv4
// TOS or IPv6 traffic class), as vxlan_bridge_1d.sh's
// vxlan_encapped_ping_do does with mausezahn. They are sent from an
// ordinary UDP socket, not through from's vx0.
func sendEncapsulated(t testing.TB, from, to *host, outerTOS, innerTOS uint8, n int) {
	t.Helper()
	network := "udp4"
	if from.lab.cfg.ipv6 {
		network = "udp6"
	}
	pc, err := from.ns.ListenPacket(network, netip.AddrPortFrom(from.Underlay(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := setOuterTOS(pc.(*net.UDPConn), from.lab.cfg.ipv6, outerTOS); err != nil {
		t.Fatal(err)
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(to.Underlay(), from.lab.Port()))
	for i := range n {
		inner := icmpEchoFrame(to.mac, from.mac, from.In4(), to.In4(), innerTOS, uint16(i))
		pkt := vxlanPayload(&header.VXLANFields{VNI: labVNI}, inner)
		if _, err := pc.WriteTo(pkt, dst); err != nil {
			t.Fatal(err)
		}
	}
}

// setOuterTOS sets IP_TOS or IPV6_TCLASS, ECN bits included (only stream
// sockets have them masked).
func setOuterTOS(c *net.UDPConn, ipv6 bool, tos uint8) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if ipv6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(tos))
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, int(tos))
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("setting the outer TOS: %w", err)
	}
	return nil
}
