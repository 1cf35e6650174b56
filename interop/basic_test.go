package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// pair builds a two-host lab: h1 is the device under test (dut), h2 a
// kernel vxlan peer.
func pair(t *testing.T, dut kind, cfg labConfig) (l *lab, h1, h2 *host) {
	t.Helper()
	cfg.kinds = []kind{dut, kindKernel}
	l = newLab(t, cfg)
	return l, l.hosts[0], l.hosts[1]
}

// TestPingOverlayBothWays pings across the overlay in both directions,
// IPv4 and IPv6 (vxlan_bridge_1d.sh ping_ipv4; vxlan_bridge_1d_ipv6.sh
// ping_ipv6 — the IPv6 overlay needs ND to cross the tunnel as multicast
// flooded to the all-zeros remotes).
func TestPingOverlayBothWays(t *testing.T) {
	forEachKindNoOffload(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{})
		for _, fam := range []struct {
			name     string
			from, to func(*host) netip.Addr
		}{{"ipv4", (*host).In4, (*host).In4}, {"ipv6", (*host).In6, (*host).In6}} {
			t.Run(fam.name, func(t *testing.T) {
				h1.warmUp(t, fam.to(h2))
				h1.PingOK(t, fam.to(h2))
				h2.PingOK(t, fam.to(h1))
			})
		}
	})
}

// transferSize is the size of each TCP transfer; $VTEP_INTEROP_TRANSFER_MB
// overrides the default 200 MB.
func transferSize(t testing.TB) int64 {
	if s := os.Getenv("VTEP_INTEROP_TRANSFER_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil || mb <= 0 {
			t.Fatalf("VTEP_INTEROP_TRANSFER_MB=%q: want a positive number", s)
		}
		return int64(mb) << 20
	}
	return 200 << 20
}

// TestTCPTransferContentVerified sends 200 MB over one TCP connection in
// each direction across the overlay and checks the SHA-256 of what arrived
// against what was sent: GSO/GRO, checksums and segmentation on the tunnel
// path must not change a byte. For vtep it then checks, from `vtep -s
// link show`, that the I/O layer ran as configured: with offloads off no
// super-frame, GRO merge, UDP GSO send or GRO split happened.
func TestTCPTransferContentVerified(t *testing.T) {
	forEachKindNoOffload(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{})
		transferBothWays(t, h1, h2, transferSize(t))
		if !dut.isVtep() {
			return
		}
		st := h1.Stats(t).Vtep
		offloaded := []string{"tap_read_super_frames", "tap_write_super_frames", "tap_gro_super_frames",
			"udp_gso_sends", "udp_gro_splits"}
		for _, name := range append([]string{"tap_read_frames", "tap_write_frames", "udp_tx_packets", "udp_rx_packets"}, offloaded...) {
			v, ok := st[name]
			if !ok {
				t.Errorf("%v: vtep -s link show has no %s", h1, name)
			}
			if dut == kindVtepNoOffload && v != 0 && slices.Contains(offloaded, name) {
				t.Errorf("%v: %s = %d with -offload off, want 0", h1, name, v)
			}
		}
		t.Logf("%v: tap_read_frames=%d tap_read_super_frames=%d tap_gro_super_frames=%d udp_gso_sends=%d udp_gro_splits=%d",
			h1, st["tap_read_frames"], st["tap_read_super_frames"], st["tap_gro_super_frames"], st["udp_gso_sends"], st["udp_gro_splits"])
	})
}

// TestTCPWithVethChecksumOffload repeats a (smaller) verified transfer with
// checksum offload left on the underlay veths, the default for veth. The
// kernel then passes CHECKSUM_PARTIAL packets between namespaces: the
// receiving kernel vxlan completes the inner checksums itself, while a
// userspace VTEP receives them from its UDP socket unfinished and must not
// hand them to its TAP as if they were verified frames with bad checksums.
// This is the topology of a VTEP in one container talking to another
// through veth.
func TestTCPWithVethChecksumOffload(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{vethOffload: true})
		transferBothWays(t, h1, h2, 20<<20)
	})
}

// transferBothWays sends size verified bytes over TCP from a to b and from
// b to a, across the overlay.
func transferBothWays(t *testing.T, a, b *host, size int64) {
	t.Helper()
	a.warmUp(t, b.In4())
	for i, dir := range []struct{ from, to *host }{{a, b}, {b, a}} {
		t.Run(fmt.Sprintf("%v-to-%v", dir.from, dir.to), func(t *testing.T) {
			tcpConnectable(t, dir.from, dir.to)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := nstest.TransferTCP(ctx, dir.from.ns, dir.to.ns, netip.AddrPortFrom(dir.to.In4(), 0), size, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("sent %d bytes (sha256 %x), received %d bytes (sha256 %x)",
					res.SentBytes, res.SentSHA256, res.ReceivedBytes, res.ReceivedSHA256)
			}
			t.Logf("%d MB in %v (%.2f Gbit/s), sha256 %x", size>>20, res.Elapsed.Round(time.Millisecond),
				res.BitsPerSecond()/1e9, res.ReceivedSHA256[:8])
		})
	}
}

// tcpConnectable fails the test quickly (10 s) if a TCP handshake from one
// host to another across the overlay does not complete, instead of letting
// a transfer wait for the kernel's connect timeout.
func tcpConnectable(t testing.TB, from, to *host) {
	t.Helper()
	l, err := to.ns.Listen("tcp", netip.AddrPortFrom(to.In4(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := from.ns.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("TCP handshake %v → %v across the overlay: %v", from, to, err)
	}
	c.Close()
}

// TestLearningBothSides checks that each side learns the other's MAC
// against its underlay address after traffic (vxlan_snoop): the kernel in
// `bridge fdb show dev vx0`, vtep in `vtep fdb show dev vx0`. A learned
// entry is dynamic (neither permanent nor static).
func TestLearningBothSides(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		for _, ipv6 := range []bool{false, true} {
			t.Run(underlayName(ipv6), func(t *testing.T) {
				_, h1, h2 := pair(t, dut, labConfig{ipv6: ipv6})
				h1.warmUp(t, h2.In4())
				h1.PingOK(t, h2.In4())
				for _, p := range [][2]*host{{h1, h2}, {h2, h1}} {
					self, peer := p[0], p[1]
					checkLearned(t, self, peer.mac, peer.Underlay())
				}
			})
		}
	})
}

func underlayName(ipv6 bool) string {
	if ipv6 {
		return "ipv6-underlay"
	}
	return "ipv4-underlay"
}

// checkLearned waits until h has a dynamic FDB entry for mac towards dst.
func checkLearned(t testing.TB, h *host, mac header.MAC, dst netip.Addr) {
	t.Helper()
	nstest.WaitFor(t, 5*time.Second, fmt.Sprintf("%v learning %s → %s", h, mac, dst), func() error {
		es := h.FindFDB(t, mac)
		if len(es) != 1 {
			return fmt.Errorf("entries for %s: %v", mac, es)
		}
		e := es[0]
		if a, err := netip.ParseAddr(e.Dst); err != nil || a != dst {
			return nstest.Permanent(fmt.Errorf("learned %v, want dst %s", e, dst))
		}
		if e.State == "permanent" || e.State == "static" {
			return nstest.Permanent(fmt.Errorf("learned entry %v is not dynamic", e))
		}
		return nil
	})
	t.Logf("%v learned %s → %s", h, mac, dst)
}

// TestDestinationPorts runs the overlay on the IANA port and on the Linux
// port (vxlan_bridge_1d_port_8472.sh), and with no dstport on the device
// under test, which must then use its documented default: 8472 for the
// kernel (vxlan_core.c udp_port), 4789 for vtep (config.DefaultPort, a
// deliberate difference). A capture on each side's underlay confirms the
// port on the wire.
func TestDestinationPorts(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		for _, tc := range []struct {
			name string
			cfg  labConfig
		}{
			{"4789", labConfig{port: 4789}},
			{"8472", labConfig{port: 8472}},
			{"default", labConfig{omitPort: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, h1, h2 := pair(t, dut, tc.cfg)
				port := l.Port()
				c2 := startCapture(t, h2.ns, ulDev, incoming, isVXLANTo(port))
				c1 := startCapture(t, h1.ns, ulDev, incoming, isVXLANTo(port))
				h1.warmUp(t, h2.In4())
				h1.PingOK(t, h2.In4())
				h2.PingOK(t, h1.In4())
				if c2.Count() == 0 || c1.Count() == 0 {
					t.Fatalf("no VXLAN packets to port %d seen: %d at %v, %d at %v", port, c2.Count(), h2, c1.Count(), h1)
				}
			})
		}
	})
}

// TestIPv6UnderlayPing runs both overlay families over an IPv6 underlay
// (vxlan_bridge_1d_ipv6.sh ping_ipv4/ping_ipv6) and checks that the outer
// packets are IPv6 between the configured local addresses.
func TestIPv6UnderlayPing(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		ipv6UnderlayPing(t, dut, labConfig{ipv6: true})
	})
}

// TestIPv6LinkLocalUnderlay runs the overlay between link-local VTEP
// addresses (`local fe80::i dev ul0`, flood entries `dst fe80::j via ul0`).
// The kernel marks such a device VXLAN_F_IPV6_LINKLOCAL: it receives its
// VNI only from its lower device (vxlan_vs_find_vni matches remote_ifindex
// against skb->dev->ifindex), and a source learned from a link-local
// address keeps the interface it came in on (vxlan_snoop), by which the
// replies leave (vxlan6_get_route with flowi6_oif). Pings cross both ways
// between the link-local addresses, and each side learned the other's MAC
// behind its address via ul0.
func TestIPv6LinkLocalUnderlay(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		h1, h2 := ipv6UnderlayPing(t, dut, labConfig{ipv6: true, linkLocal: true})
		for _, p := range [][2]*host{{h1, h2}, {h2, h1}} {
			checkLearned(t, p[0], p[1].mac, p[1].Underlay())
			if es := p[0].FindFDB(t, p[1].mac); len(es) != 1 || es[0].Via != ulDev {
				t.Errorf("%v: entries for %s: %+v, want one via %s", p[0], p[1].mac, es, ulDev)
			}
		}
	})
}

// TestIPv6GroupFromALoopbackAddress: the VTEP addresses are on lo and the
// underlay links have only link-local addresses, as in a BGP-unnumbered
// fabric, and the links flood to an IPv6 group (`group ff0e::1:2:3 dev
// ul0`): packets to the group leave ul0 from the VTEP address, which is
// not ul0's (the kernel routes them with that source, vxlan6_get_route;
// underlay/TestWriteViaMulticastFromAnotherDevicesAddress has ul0 with no
// address at all). Pings cross both ways, and the flooded ARP requests
// reach the peer addressed to the group from the DUT's VTEP address.
func TestIPv6GroupFromALoopbackAddress(t *testing.T) {
	forEachKindNoOffload(t, func(t *testing.T, dut kind) {
		group := netip.MustParseAddr("ff0e::1:2:3")
		l, h1, h2 := pair(t, dut, labConfig{ipv6: true, loopbackVTEP: true, group: group})
		c := startCapture(t, h2.ns, ulDev, incoming, isVXLANTo(l.Port()))
		h1.warmUp(t, h2.In4())
		h1.PingOK(t, h2.In4())
		h2.PingOK(t, h1.In4())
		toGroup := 0
		for _, f := range c.Frames() {
			if p, ok := parseVXLAN(f, l.Port()); ok && p.Dst == group {
				toGroup++
				if p.Src != h1.Underlay() {
					t.Errorf("packet to %v from %v, want %v", group, p.Src, h1.Underlay())
				}
			}
		}
		if toGroup == 0 {
			t.Errorf("no packet to %v arrived at %v", group, h2)
		}
	})
}

// ipv6UnderlayPing builds a pair over an IPv6 underlay, pings both overlay
// families both ways and checks that the outer packets are IPv6 between
// the configured local addresses, with a UDP checksum.
func ipv6UnderlayPing(t *testing.T, dut kind, cfg labConfig) (h1, h2 *host) {
	t.Helper()
	l, h1, h2 := pair(t, dut, cfg)
	c := startCapture(t, h2.ns, ulDev, incoming, isVXLANTo(l.Port()))
	h1.warmUp(t, h2.In4())
	for _, dst := range []func(*host) netip.Addr{(*host).In4, (*host).In6} {
		h1.PingOK(t, dst(h2))
		h2.PingOK(t, dst(h1))
	}
	frames := c.Frames()
	if len(frames) == 0 {
		t.Fatal("no VXLAN packets captured")
	}
	for _, f := range frames {
		p, _ := parseVXLAN(f, l.Port())
		if !p.IPv6 || p.Src != h1.Underlay() || p.Dst != h2.Underlay() {
			t.Fatalf("outer packet %s → %s (ipv6 %v), want %s → %s", p.Src, p.Dst, p.IPv6, h1.Underlay(), h2.Underlay())
		}
		// The checksum itself is checked by TestOuterUDPChecksum, with
		// offload off; here veth may leave it partial.
		if p.UDPCsum == 0 {
			t.Fatalf("IPv6 outer UDP checksum is zero without udp6zerocsumtx")
		}
	}
	return h1, h2
}

// TestOuterUDPChecksum checks the outer UDP checksum on the wire for each
// checksum option (vxlan_xmit_one → udp_tunnel_xmit_skb/udp_set_csum with
// VXLAN_F_UDP_ZERO_CSUM_TX, VXLAN_F_UDP_ZERO_CSUM6_TX; RFC 7348 §5 and
// RFC 6935/6936 for IPv6). Checksum offload is turned off on the sender's
// underlay veth so that the capture sees the final value, not a partial
// checksum. The receive side must accept what the options allow and drop
// a zero IPv6 checksum without udp6zerocsumrx.
func TestOuterUDPChecksum(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		for _, tc := range []struct {
			name           string
			ipv6           bool
			dutArgs        []string
			peerArgs       []string
			wantZero       bool
			wantReplyDrops bool // the peer's replies must be dropped by dut
		}{
			{name: "ipv4-udpcsum", dutArgs: []string{"udpcsum"}},
			{name: "ipv4-noudpcsum", dutArgs: []string{"noudpcsum"}, wantZero: true},
			{name: "ipv4-noudpcsum-peer", peerArgs: []string{"noudpcsum"}},
			{name: "ipv6-default", ipv6: true},
			{name: "ipv6-udp6zerocsumtx", ipv6: true, dutArgs: []string{"udp6zerocsumtx"},
				peerArgs: []string{"udp6zerocsumrx"}, wantZero: true},
			{name: "ipv6-zero-rejected-without-udp6zerocsumrx", ipv6: true,
				peerArgs: []string{"udp6zerocsumtx"}, wantReplyDrops: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, h1, h2 := pair(t, dut, labConfig{ipv6: tc.ipv6, args: func(h *host) []string {
					if h.idx == 1 {
						return tc.dutArgs
					}
					return tc.peerArgs
				}})
				for _, h := range l.hosts {
					h.ns.Run(t, "ethtool", "-K", ulDev, "tx", "off")
				}
				c := startCapture(t, h2.ns, ulDev, incoming, isVXLANTo(l.Port()))
				if tc.wantReplyDrops {
					res := h1.Ping(t, h2.In4(), nstest.PingOptions{Count: 3, Interval: 50 * time.Millisecond, Wait: time.Second})
					// The UDP layer drops them (udp6_csum_init) before
					// vxlan_rcv: no device counter moves, for either kind.
					if res.Received != 0 {
						t.Fatalf("%v accepted %d replies carried with a zero IPv6 UDP checksum", h1, res.Received)
					}
				} else {
					h1.warmUp(t, h2.In4())
					h1.PingOK(t, h2.In4())
				}
				frames := c.Frames()
				if len(frames) == 0 {
					t.Fatal("no VXLAN packets captured")
				}
				for _, f := range frames {
					p, _ := parseVXLAN(f, l.Port())
					if p.Src != h1.Underlay() {
						continue
					}
					switch {
					case !p.UDPCsumOK:
						t.Fatalf("outer UDP checksum %#04x does not verify", p.UDPCsum)
					case tc.wantZero && p.UDPCsum != 0:
						t.Fatalf("outer UDP checksum %#04x, want 0", p.UDPCsum)
					case !tc.wantZero && p.UDPCsum == 0:
						t.Fatalf("outer UDP checksum 0, want a computed checksum")
					}
				}
			})
		}
	})
}

// TestProxyARPFromNeighbourTable puts vx0 with `proxy` in a bridge with a
// "VM" behind it and checks that ARP requests and IPv6 neighbour
// solicitations are answered from the neighbour entries of vx0 (what `ip
// neigh add … dev vx0 nud permanent` writes), and that requests for
// unknown addresses are consumed rather than flooded (vxlan_xmit →
// arp_reduce / neigh_reduce).
func TestProxyARPFromNeighbourTable(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{args: func(h *host) []string {
			if h.idx == 1 {
				return []string{"proxy"}
			}
			return nil
		}})
		// The VM: vm (namespace) eth0 192.0.2.50 — vm0 in h1's br0 — vx0.
		vm := nstest.NewNS(t, "vm")
		vm.DisableDAD(t)
		nstest.AddVeth(t, vm, h1.ns, nstest.Veth{NameA: "eth0", NameB: "vm0",
			AddrsA: []netip.Prefix{netip.MustParsePrefix("192.0.2.50/24"), netip.MustParsePrefix("2001:db8:1::50/64")}})
		h1.ns.IP(t, "link", "add", "br0", "type", "bridge")
		h1.ns.IP(t, "link", "set", vxDev, "master", "br0")
		h1.ns.IP(t, "link", "set", "vm0", "master", "br0")
		h1.ns.LinkUp(t, "br0")

		known4, unknown4 := netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("192.0.2.98")
		known6, unknown6 := netip.MustParseAddr("2001:db8:1::99"), netip.MustParseAddr("2001:db8:1::98")
		lladdr := "02:00:00:00:00:99"
		h1.ns.IP(t, "neigh", "add", known4.String(), "lladdr", lladdr, "dev", vxDev, "nud", "permanent")
		h1.ns.IP(t, "-6", "neigh", "add", known6.String(), "lladdr", lladdr, "dev", vxDev, "nud", "permanent")

		// A request that leaks through vx0 is flooded to h2's vx0.
		targets := []netip.Addr{known4, unknown4, known6, unknown6}
		leaked := startCapture(t, h2.ns, vxDev, incoming, func(f []byte) bool {
			a, ok := resolutionTarget(f)
			return ok && slices.Contains(targets, a)
		})

		for _, a := range targets {
			vm.Exec(context.Background(), "ping", "-q", "-n", "-c", "1", "-W", "1", a.String())
		}
		for _, a := range []netip.Addr{known4, known6} {
			if got := neighLLAddr(t, vm, a); got != lladdr {
				t.Errorf("vm's neighbour entry for %s has lladdr %q, want %s (answered by proxy from vx0's neighbour table)", a, got, lladdr)
			}
		}
		for _, a := range []netip.Addr{unknown4, unknown6} {
			if got := neighLLAddr(t, vm, a); got != "" {
				t.Errorf("vm resolved %s to %s; nothing should answer", a, got)
			}
		}
		settle(t, leaked)
		if n := leaked.Count(); n != 0 {
			t.Errorf("%d ARP/ND frames from the VM were flooded through vx0; proxy must consume them", n)
		}
		if h1.kind.isVtep() {
			st := h1.Stats(t)
			t.Logf("%v proxy counters: arp replies %d, na replies %d, consumed %d", h1,
				st.Vtep["proxy_arp_replies"], st.Vtep["proxy_na_replies"], st.Vtep["proxy_consumed"])
		}
	})
}

// resolutionTarget returns the target address of an ARP request or an
// IPv6 neighbour solicitation.
func resolutionTarget(f []byte) (netip.Addr, bool) {
	e := header.Ethernet(f)
	if !e.IsValid() {
		return netip.Addr{}, false
	}
	p := f[header.EthernetSize:]
	switch e.Type() {
	case header.EtherTypeARP:
		// htype(2) ptype(2) hlen plen op(2) sha(6) spa(4) tha(6) tpa(4)
		if len(p) < header.ARPSize || p[7] != 1 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte(p[24:28])), true
	case header.EtherTypeIPv6:
		ip := header.IPv6(p)
		// ICMPv6 type 135 (RFC 4861 §4.3): type, code, checksum,
		// reserved(4), target(16).
		if len(ip) < header.IPv6FixedSize+24 || ip.NextHeader() != header.ICMPv6ProtocolNumber || p[header.IPv6FixedSize] != 135 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16([16]byte(p[header.IPv6FixedSize+8 : header.IPv6FixedSize+24])), true
	}
	return netip.Addr{}, false
}

// neighLLAddr returns the link-layer address of ns's neighbour entry for a,
// or "" if there is none or it is unresolved.
func neighLLAddr(t testing.TB, ns *nstest.NS, a netip.Addr) string {
	t.Helper()
	out := ns.IP(t, "-j", "neigh", "show", a.String())
	var es []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("parsing ip -j neigh: %v\n%s", err, out)
	}
	for _, e := range es {
		if e.LLAddr != "" {
			return e.LLAddr
		}
	}
	return ""
}

// TestFloodToKernelAndVtepPeers floods from one VTEP through two all-zeros
// remotes, one a kernel vxlan device and one a vtep link, and checks both
// receive every unknown-unicast frame once and answer a broadcast ping
// (vxlan_bridge_1d.sh test_flood; vxlan_xmit replicating to every remote
// of the all-zeros entry).
func TestFloodToKernelAndVtepPeers(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	for _, kinds := range [][]kind{
		{kindKernel, kindKernel, kindKernel},
		{kindKernel, kindKernel, kindVtep},
		{kindVtep, kindKernel, kindVtep},
	} {
		t.Run(fmt.Sprintf("%s-to-%s+%s", kinds[0], kinds[1], kinds[2]), func(t *testing.T) {
			l := newLab(t, labConfig{kinds: kinds})
			h1 := l.hosts[0]
			floodCheck(t, l, h1, header.MustParseMAC("de:ad:be:ef:13:37"), map[*host]int{l.hosts[1]: 10, l.hosts[2]: 10})

			// A broadcast ping reaches both peers, and both answer.
			bcast := netip.MustParseAddr("192.0.2.255")
			var reqs, replies []*capture
			for _, p := range l.hosts[1:] {
				reqs = append(reqs, startCapture(t, p.ns, vxDev, incoming, isICMPv4To(bcast)))
				replies = append(replies, startCapture(t, h1.ns, vxDev, incoming, isICMPv4From(p.In4())))
			}
			h1.Ping(t, bcast, nstest.PingOptions{Count: 3, Interval: 200 * time.Millisecond, Wait: 2 * time.Second}, "-b")
			// ping stops at its third reply, which may be the kernel peer's
			// while the request to the other peer is still in flight.
			for i := range reqs {
				reqs[i].WaitCount(t, 3, 2*time.Second)
				replies[i].WaitCount(t, 3, 2*time.Second)
			}
			for i, p := range l.hosts[1:] {
				if n := reqs[i].Count(); n != 3 {
					t.Errorf("%v received %d broadcast echo requests, want 3", p, n)
				}
				if n := replies[i].Count(); n < 3 {
					t.Errorf("%v answered %d broadcast echo requests, want 3", p, n)
				}
			}
		})
	}
}

// floodDst is the overlay IP of the unknown-unicast frames of floodCheck.
var floodDst = netip.MustParseAddr("192.0.2.100")

// floodCheck sends 10 ICMP frames to dstMAC/floodDst from from's vx0, as
// vxlan_bridge_1d.sh's vxlan_flood_test does with mausezahn, and checks how
// many each other host's vx0 receives (want; hosts not listed expect 0).
func floodCheck(t testing.TB, l *lab, from *host, dstMAC header.MAC, want map[*host]int) {
	t.Helper()
	caps := map[*host]*capture{}
	for _, h := range l.hosts {
		if h != from {
			caps[h] = startCapture(t, h.ns, vxDev, incoming, isICMPv4To(floodDst))
		}
	}
	var frames [][]byte
	for i := range 10 {
		frames = append(frames, icmpEchoFrame(dstMAC, from.mac, from.In4(), floodDst, 0, uint16(i)))
	}
	sendFrames(t, from.ns, vxDev, frames...)
	for h, c := range caps {
		if want[h] > 0 {
			c.WaitCount(t, want[h], 5*time.Second)
		}
	}
	all := make([]*capture, 0, len(caps))
	for _, c := range caps {
		all = append(all, c)
	}
	settle(t, all...)
	for h, c := range caps {
		if got := c.Count(); got != want[h] {
			t.Errorf("%v received %d of the frames to %s, want %d", h, got, dstMAC, want[h])
		}
		c.close()
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestTCPTransferTunnelGSO: with `vtepd -tunnel-gso on`, TCP super-frames
// leave vtep whole, as UDP tunnel GSO packets (SKB_GSO_UDP_TUNNEL, as the
// kernel's vxlan sends them), over IPv4 and IPv6 underlays, with the outer
// UDP checksum the links send by default (SKB_GSO_UDP_TUNNEL_CSUM).
// A kernel vxlan peer takes them as it takes its own, and so does another
// vtepd; verified transfers both ways must arrive byte for byte, and the
// sender must have sent super-packets.
func TestTCPTransferTunnelGSO(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	for _, tc := range []struct {
		name  string
		kinds []kind
		ipv6  bool
	}{
		{"kernel-peer-ipv4", []kind{kindVtepTGSO, kindKernel}, false},
		{"kernel-peer-ipv6", []kind{kindVtepTGSO, kindKernel}, true},
		{"vtep-peer-ipv4", []kind{kindVtepTGSO, kindVtepTGSO}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, labConfig{kinds: tc.kinds, ipv6: tc.ipv6})
			h1, h2 := l.hosts[0], l.hosts[1]
			transferBothWays(t, h1, h2, 50<<20)
			for _, h := range []*host{h1, h2} {
				if !h.kind.isVtep() {
					continue
				}
				st := h.Stats(t).Vtep
				if st["tx_tunnel_gso_packets"] == 0 {
					t.Errorf("%v: tx_tunnel_gso_packets = 0: no super-frame left whole", h)
				}
				t.Logf("%v: tx_tunnel_gso_packets=%d udp_tx_packets=%d tap_read_super_frames=%d",
					h, st["tx_tunnel_gso_packets"], st["udp_tx_packets"], st["tap_read_super_frames"])
			}
		})
	}
}

// TestTCPToBridgedClientFromWholeBursts: with transmit checksum offload on
// the underlay veth (its default), a kernel vxlan peer's TSO bursts cross
// it whole and reach the device under test as datagrams of up to 64 KB.
// The kernel's vxlan_rcv keeps each a GSO packet, so when vx0 is a bridge
// port the bridge forwards it to another port and segments it there
// (is_skb_forwardable lets a GSO packet through, a plain frame longer than
// the port's MTU not). vtep must hand them to its TAP the same way, not as
// plain 64 KB frames the bridge would drop: a verified transfer from the
// peer to a client behind the bridge, and back, must arrive whole.
func TestTCPToBridgedClientFromWholeBursts(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{vethOffload: true})
		h1.ns.IP(t, "link", "add", "br0", "type", "bridge")
		h1.ns.IP(t, "link", "set", vxDev, "master", "br0")
		c := nstest.NewNS(t, "client")
		client := netip.MustParsePrefix("192.0.2.100/24")
		_, brPort := nstest.AddVeth(t, c, h1.ns, nstest.Veth{NameA: "eth0", NameB: "vc0", AddrsA: []netip.Prefix{client}, MTU: 1450})
		h1.ns.IP(t, "link", "set", brPort, "master", "br0")
		h1.ns.LinkUp(t, "br0")
		nstest.WaitFor(t, 10*time.Second, "the client reaching "+h2.In4().String(), func() error {
			out, _ := c.Exec(context.Background(), "ping", "-c", "1", "-W", "1", h2.In4().String())
			if !strings.Contains(out, " 0% packet loss") {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		for i, dir := range []struct {
			name     string
			from, to *nstest.NS
			dst      netip.Addr
		}{{"peer-to-client", h2.ns, c, client.Addr()}, {"client-to-peer", c, h2.ns, h2.In4()}} {
			t.Run(dir.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				res, err := nstest.TransferTCP(ctx, dir.from, dir.to, netip.AddrPortFrom(dir.dst, 0), 20<<20, uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				if !res.OK() {
					t.Fatalf("sent %d bytes (sha256 %x), received %d bytes (sha256 %x)",
						res.SentBytes, res.SentSHA256, res.ReceivedBytes, res.ReceivedSHA256)
				}
				t.Logf("20 MB in %v (%.2f Gbit/s)", res.Elapsed.Round(time.Millisecond), res.BitsPerSecond()/1e9)
			})
		}
		if dut.isVtep() {
			st := h1.Stats(t).Vtep
			t.Logf("%v: rx_csum_partial=%d tap_gro_bypass_whole=%d", h1, st["rx_csum_partial"], st["tap_gro_bypass_whole"])
		}
	})
}
