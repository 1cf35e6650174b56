package interop

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// The scenarios of tools/testing/selftests/net/l2_tos_ttl_inherit.sh for
// vxlan: the envelope's TOS (IPv6 traffic class) and TTL (hop limit) with
// `tos inherit ttl inherit` and with fixed values, over an IPv4 and an IPv6
// underlay, for IPv4, IPv6 and other (ARP) payloads, each sent untagged and
// with an 802.1Q tag (VID 99; see tagVLAN for how). The kernel inherits
// through the VLAN tag: ip_tunnel_get_dsfield and ip_tunnel_get_ttl look at
// skb_protocol(skb, true), the protocol after the tags. A payload that is
// neither IPv4 nor IPv6 inherits nothing: TOS 0 and, TTL 0 meaning "not
// set", the route's hop limit (ip4_dst_hoplimit / ip6_dst_hoplimit: 64).

// Values the test sends and expects, as the selftest's random ones: TOS
// multiples of 4 other than 0, TTLs other than 0 and 64.
const (
	inheritTOS, inheritTTL = 0xb8, 23
	fixedTOS, fixedTTL     = 0x74, 171
	routeTTL               = 64 // net.ipv4.ip_default_ttl, net.ipv6.conf.*.hop_limit
	vlanID                 = 99
)

// TestTOSTTLInheritance runs l2_tos_ttl_inherit.sh's vxlan cases.
func TestTOSTTLInheritance(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		for _, ipv6 := range []bool{false, true} {
			t.Run(underlayName(ipv6), func(t *testing.T) {
				for _, inherit := range []bool{true, false} {
					name := "fixed"
					if inherit {
						name = "inherit"
					}
					t.Run(name, func(t *testing.T) { runTOSTTL(t, dut, ipv6, inherit) })
				}
			})
		}
	})
}

func runTOSTTL(t *testing.T, dut kind, ipv6, inherit bool) {
	args := []string{"tos", fmt.Sprintf("%#x", fixedTOS), "ttl", strconv.Itoa(fixedTTL)}
	if inherit {
		args = []string{"tos", "inherit", "ttl", "inherit"}
	}
	l, h1, h2 := pair(t, dut, labConfig{ipv6: ipv6, args: func(*host) []string { return args }})
	for _, tc := range []struct {
		inner string // "4", "6" or "other"
		vlan  bool
	}{{"4", false}, {"4", true}, {"6", false}, {"6", true}, {"other", false}, {"other", true}} {
		t.Run(fmt.Sprintf("inner=%s,vlan=%v", tc.inner, tc.vlan), func(t *testing.T) {
			if tc.vlan {
				for _, h := range l.hosts {
					tagVLAN(t, h.ns, vxDev, vlanTag{0x8100, vlanID})
				}
			}
			var dst netip.Addr
			switch tc.inner {
			case "4":
				dst = h2.In4()
			case "6":
				dst = h2.In6()
			default: // an address nobody has: ARP requests
				dst = netip.AddrFrom4([4]byte{192, 0, 2, 200})
			}
			wantTOS, wantTTL := uint8(fixedTOS), uint8(fixedTTL)
			var extra []string
			if inherit {
				wantTOS, wantTTL = inheritTOS, inheritTTL
				extra = []string{"-Q", fmt.Sprintf("%#x", inheritTOS), "-t", strconv.Itoa(inheritTTL)}
				if tc.inner == "other" {
					wantTOS, wantTTL = 0, routeTTL
				}
			}
			want := 3
			if tc.inner == "other" {
				want = 1 // ARP retries once a second
			}
			match := func(inner header.Ethernet) bool {
				tags, ok := inner.NumVLANTags()
				if !ok || (tags == 1) != tc.vlan || tags > 1 {
					return false
				}
				et, off, ok := inner.PayloadOffset()
				if !ok {
					return false
				}
				p := inner[off:]
				switch tc.inner {
				case "4":
					ip := header.IPv4(p)
					return et == header.EtherTypeIPv4 && len(ip) >= header.IPv4MinimumSize && ip.IsValid(len(ip)) &&
						ip.Protocol() == header.ICMPv4ProtocolNumber && ip.DestinationAddress() == dst &&
						len(ip.Payload()) > 0 && ip.Payload()[0] == 8
				case "6":
					ip := header.IPv6(p)
					return et == header.EtherTypeIPv6 && len(ip) >= header.IPv6FixedSize &&
						ip.NextHeader() == header.ICMPv6ProtocolNumber && ip.DestinationAddress() == dst &&
						len(ip.Payload()) > 0 && ip.Payload()[0] == 128
				}
				// An ARP request (opcode 1).
				return et == header.EtherTypeARP && len(p) >= 8 && p[6] == 0 && p[7] == 1
			}
			port := l.Port()
			c := startCapture(t, h2.ns, ulDev, incoming, func(f []byte) bool {
				p, ok := parseVXLAN(f, port)
				return ok && p.Src == h1.Underlay() && match(p.Inner)
			})
			defer c.close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				opt := nstest.PingOptions{Count: 50, Interval: 100 * time.Millisecond, Wait: time.Second}
				h1.ns.Exec(ctx, "ping", pingArgs(opt, dst, extra...)...) // killed when enough was captured
			}()
			defer func() { cancel(); <-done }()
			c.WaitCount(t, want, 10*time.Second)
			for _, f := range c.Frames() {
				p, _ := parseVXLAN(f, port)
				if p.TOS != wantTOS || p.TTL != wantTTL {
					t.Fatalf("%v: outer TOS %#02x TTL %d, want TOS %#02x TTL %d (of %d captured; inner frame % x)",
						h1, p.TOS, p.TTL, wantTOS, wantTTL, c.Count(), p.Inner[:min(len(p.Inner), 64)])
				}
			}
		})
	}
}
