package interop

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// gbpMark is the mark of the ip-link(8) man page example (`iptables -j
// MARK --set-mark 0x800FF`): Policy Applied (A, mark bit 19) and group
// policy ID 0xFF. vxlan_build_gbp_hdr maps skb->mark to the header and
// vxlan_parse_gbp_hdr maps it back: mark = D<<22 | A<<19 | policy ID.
// gbpMarkDontLearn has the D bit and another policy ID.
const (
	gbpMark          = 0x800ff
	gbpMarkDontLearn = 0x400abc
)

// TestGBPMarkAndGroupPolicyID checks VXLAN Group Based Policy between the
// device under test and a kernel vxlan device created with `gbp`
// (draft-smith-vxlan-group-policy; kernel vxlan_build_gbp_hdr /
// vxlan_parse_gbp_hdr): a marked packet leaves with G, D, A and the policy
// ID in the header, and the receiver turns the header back into skb->mark,
// which an nft rule `meta mark 0x000800ff counter` counts. A device
// without `gbp` treats the G bit as a reserved bit and drops the packet
// (vxlan_rcv "reserved fields are not zero").
//
// A TAP carries no skb->mark in either direction, so for vtep the mark
// comes from the link's `gbpmark` (vtep's extension, config.Link.GBPMark)
// on transmit, and the received policy shows in its rx_gbp and
// rx_gbp_last_mark counters.
func TestGBPMarkAndGroupPolicyID(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	requireNft(t)
	forEachKind(t, func(t *testing.T, dut kind) {
		t.Run("PeerMarkToGroupPolicy", func(t *testing.T) {
			l, h1, h2 := pair(t, dut, labConfig{args: gbpArgs})
			// The kernel sends MLD reports with a non-zero skb->mark
			// (mld_newpack sets skb->reserved_tailroom, which shares
			// its storage with mark), so h2's vx0 tags them with
			// policy 0xc6 or so, which would move vtep's rx_gbp
			// counters at random times. Without IPv6 on h2's vx0 only
			// the pings carry a policy.
			h2.ns.Sysctl(t, "net.ipv6.conf."+vxDev+".disable_ipv6", "1")
			gbpAll := startCapture(t, h1.ns, ulDev, incoming, func(f []byte) bool {
				p, ok := parseVXLAN(f, l.Port())
				return ok && p.VXLAN.GBP()
			})
			h1.warmUp(t, h2.In4())
			c := startCapture(t, h1.ns, ulDev, incoming, isVXLANFromWithICMP(l, h2))

			// Unmarked traffic carries no GBP extension.
			before := h1.Stats(t)
			h2.PingOK(t, h1.In4())
			for _, p := range capturedVXLAN(t, c, l) {
				if p.VXLAN.GBP() {
					t.Fatalf("unmarked packet sent with a GBP header: %x", []byte(p.VXLAN))
				}
			}
			if h1.kind.isVtep() {
				if d := h1.Stats(t).Vtep["rx_gbp"] - before.Vtep["rx_gbp"]; d != 0 {
					t.Errorf("%v: rx_gbp +%d after unmarked packets", h1, d)
					logGBPPackets(t, gbpAll, l)
				}
			}
			for _, mark := range []uint32{gbpMark, gbpMarkDontLearn} {
				c.Reset()
				var marked func() uint64
				if h1.kind == kindKernel {
					marked = markCounter(t, h1, mark)
				}
				before := h1.Stats(t)
				h2.PingOK(t, h1.In4(), "-m", strconv.Itoa(int(mark)))
				checkGBPHeaders(t, capturedVXLAN(t, c, l), mark)
				if h1.kind == kindKernel {
					if n := marked(); n < 3 {
						t.Fatalf("%v: nft counted %d packets with mark %#x, want 3", h1, n, mark)
					}
					continue
				}
				after := h1.Stats(t)
				n, last := after.Vtep["rx_gbp"]-before.Vtep["rx_gbp"], after.Vtep["rx_gbp_last_mark"]
				if n < 3 || last != uint64(mark) {
					logGBPPackets(t, gbpAll, l)
					t.Fatalf("%v: rx_gbp +%d, rx_gbp_last_mark %#x after 3 packets with mark %#x; want +3, %#x",
						h1, n, last, mark, mark)
				}
				t.Logf("%v: rx_gbp +%d, rx_gbp_last_mark %#x", h1, n, last)
			}
		})

		t.Run("GroupPolicyToPeerMark", func(t *testing.T) {
			// vtep: the mark is the link's; created with gbpmark, then
			// changed with `vtep link set vx0 type vxlan gbpmark N`.
			// kernel: the mark is ping's SO_MARK.
			l, h1, h2 := pair(t, dut, labConfig{args: func(h *host) []string {
				if h.kind.isVtep() {
					return []string{"gbp", "gbpmark", fmt.Sprintf("0x%X", gbpMark)}
				}
				return []string{"gbp"}
			}})
			if h1.kind.isVtep() {
				out := h1.vtepd.Run(t, "-d", "link", "show", vxDev)
				if !strings.Contains(out, fmt.Sprintf(" gbp gbpmark %#x", gbpMark)) {
					t.Fatalf("`vtep -d link show` does not show the mark:\n%s", out)
				}
			}
			h1.warmUp(t, h2.In4())
			c := startCapture(t, h2.ns, ulDev, incoming, isVXLANFromWithICMP(l, h1))
			for i, mark := range []uint32{gbpMark, gbpMarkDontLearn, 0} {
				c.Reset()
				var ping []string
				switch {
				case h1.kind == kindKernel && mark != 0:
					ping = []string{"-m", strconv.Itoa(int(mark))}
				case h1.kind.isVtep() && i > 0:
					h1.SetLink(t, "gbpmark", strconv.Itoa(int(mark)))
				}
				var marked func() uint64
				if mark != 0 {
					marked = markCounter(t, h2, mark)
				}
				h1.PingOK(t, h2.In4(), ping...)
				ps := capturedVXLAN(t, c, l)
				if mark == 0 {
					for _, p := range ps {
						if p.VXLAN.GBP() {
							t.Fatalf("%v sent a GBP header without a mark: %x", h1, []byte(p.VXLAN))
						}
					}
					continue
				}
				checkGBPHeaders(t, ps, mark)
				if n := marked(); n < 3 {
					t.Fatalf("%v: nft counted %d packets with mark %#x, want 3", h2, n, mark)
				}
			}
		})

		t.Run("WithoutGBPHeaderIsDropped", func(t *testing.T) {
			_, h1, h2 := pair(t, dut, labConfig{args: func(h *host) []string {
				if h.idx == 2 {
					return []string{"gbp"}
				}
				return nil
			}})
			h1.warmUp(t, h2.In4())
			before := h1.Stats(t)
			res := h2.Ping(t, h1.In4(), nstest.PingOptions{Count: 3, Interval: 50 * time.Millisecond, Wait: time.Second},
				"-m", strconv.Itoa(gbpMark))
			if res.Received != 0 {
				t.Fatalf("%v without gbp answered %d of 3 requests carrying a GBP header", h1, res.Received)
			}
			after := h1.Stats(t)
			if d := after.RX.Errors - before.RX.Errors; d < 3 {
				t.Errorf("%v: rx_errors +%d after 3 packets with the G bit, want +3", h1, d)
			}
			if h1.kind.isVtep() {
				if d := after.Vtep["drop_invalid_hdr"] - before.Vtep["drop_invalid_hdr"]; d < 3 {
					t.Errorf("%v: drop_invalid_hdr +%d, want +3", h1, d)
				}
				if d := after.Vtep["rx_gbp"] - before.Vtep["rx_gbp"]; d != 0 {
					t.Errorf("%v: rx_gbp +%d on a link without gbp", h1, d)
				}
			}
		})
	})
}

func gbpArgs(*host) []string { return []string{"gbp"} }

// requireNft skips the test without nft(8).
func requireNft(t testing.TB) {
	t.Helper()
	nstest.RequireTools(t, "nft")
}

// markCounter installs an nft rule in h's namespace counting packets whose
// skb->mark is mark on IPv4 input, and returns a function reading it.
func markCounter(t testing.TB, h *host, mark uint32) func() uint64 {
	t.Helper()
	m := fmt.Sprintf("0x%08x", mark)
	// "add" leaves an existing table or chain alone, so several marks
	// can be counted, one rule each.
	h.ns.Run(t, "nft", "add table ip interop")
	h.ns.Run(t, "nft", "add chain ip interop in { type filter hook input priority 0 ; }")
	h.ns.Run(t, "nft", "add rule ip interop in meta mark "+m+" counter")
	re := regexp.MustCompile(`meta mark ` + m + ` counter packets (\d+)`)
	return func() uint64 {
		out := h.ns.Run(t, "nft", "list chain ip interop in")
		sm := re.FindStringSubmatch(out)
		if sm == nil {
			t.Fatalf("no counter in nft output:\n%s", out)
		}
		n, _ := strconv.ParseUint(sm[1], 10, 64)
		return n
	}
}

// isVXLANFromWithICMP matches VXLAN packets from a host carrying ICMPv4.
func isVXLANFromWithICMP(l *lab, from *host) func([]byte) bool {
	port := l.Port()
	return func(f []byte) bool {
		p, ok := parseVXLAN(f, port)
		if !ok || p.Src != from.Underlay() {
			return false
		}
		ip, ok := innerIPv4(p.Inner)
		return ok && ip.Protocol() == header.ICMPv4ProtocolNumber
	}
}

// capturedVXLAN waits for at least 3 packets and returns them parsed.
func capturedVXLAN(t testing.TB, c *capture, l *lab) []vxlanPacket {
	t.Helper()
	c.WaitCount(t, 3, 5*time.Second)
	var ps []vxlanPacket
	for _, f := range c.Frames() {
		p, _ := parseVXLAN(f, l.Port())
		ps = append(ps, p)
	}
	return ps
}

// checkGBPHeaders checks the GBP extension of packets sent with a
// non-zero mark: G set, and D, A and the policy ID as vxlan_build_gbp_hdr
// derives them from the mark.
func checkGBPHeaders(t testing.TB, ps []vxlanPacket, mark uint32) {
	t.Helper()
	d, a, id := mark&header.VXLANGBPDontLearn != 0, mark&header.VXLANGBPPolicyApplied != 0, uint16(mark&header.VXLANGBPPolicyIDMask)
	for _, p := range ps {
		v := p.VXLAN
		if !v.IFlag() || !v.GBP() || v.GBPPolicyApplied() != a || v.GBPDontLearn() != d || v.GroupPolicyID() != id || v.VNI() != labVNI {
			t.Fatalf("VXLAN header %x: want G and I flags, D %v, A %v, policy %#x, VNI %d (mark %#x)",
				[]byte(v), d, a, id, labVNI, mark)
		}
	}
}

// logGBPPackets logs the VXLAN packets with a GBP header that c captured,
// to explain an unexpected rx_gbp count.
func logGBPPackets(t testing.TB, c *capture, l *lab) {
	t.Helper()
	for _, f := range c.Frames() {
		p, _ := parseVXLAN(f, l.Port())
		t.Logf("GBP packet %s → %s: VXLAN %x, inner %x", p.Src, p.Dst, []byte(p.VXLAN), []byte(p.Inner)[:min(len(p.Inner), 64)])
	}
}
