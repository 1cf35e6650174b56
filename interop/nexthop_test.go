package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// fdbCommandError runs an FDB command that must fail and returns its
// error output.
func (h *host) fdbCommandError(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full := append([]string{"fdb"}, args...)
	var out string
	var err error
	if h.kind.isVtep() {
		out, err = h.vtepd.CLI(ctx, full...)
	} else {
		out, err = h.ns.Exec(ctx, "bridge", full...)
	}
	if err == nil {
		t.Fatalf("%v: fdb %v succeeded, want an error", h, args)
	}
	return strings.TrimSpace(out + " " + err.Error())
}

// sendFlows sends one UDP datagram with tag to dst:9 from each of n
// sockets of h (n flows), or n datagrams from one socket when oneFlow.
func (h *host) sendFlows(t testing.TB, dst string, tag []byte, n int, oneFlow bool) {
	t.Helper()
	err := h.ns.Do(func() error {
		var c *net.UDPConn
		for i := range n {
			if c == nil || !oneFlow {
				if c != nil {
					c.Close()
				}
				var err error
				if c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: 9}); err != nil {
					return err
				}
			}
			if _, err := c.Write(tag); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("%v: sending to %s: %v", h, dst, err)
	}
}

// TestNexthopFDBEntries: an FDB entry that points to a kernel FDB nexthop
// group (`ip nexthop add id 10 group 1/2 fdb`, `bridge fdb add MAC dev vx0
// nhid 10`) sends each flow to one gateway of the group, every frame of a
// flow to the same one (vxlan_xmit_nh); a group member that is deleted
// stops getting traffic; deleting the group deletes the entry
// (vxlan_nexthop_event); refused IDs give the kernel's errors
// (vxlan_fdb_nh_update). With vtep as the sender, the nexthops are the
// kernel's of vtepd's namespace, created with ip(8) as for the kernel.
func TestNexthopFDBEntries(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		l := newLab(t, labConfig{kinds: []kind{dut, kindKernel, kindKernel}})
		h1, h2, h3 := l.hosts[0], l.hosts[1], l.hosts[2]
		h1.ns.IP(t, "nexthop", "add", "id", "1", "via", h2.Underlay().String(), "fdb")
		h1.ns.IP(t, "nexthop", "add", "id", "2", "via", h3.Underlay().String(), "fdb")
		h1.ns.IP(t, "nexthop", "add", "id", "10", "group", "1/2", "fdb")

		for _, c := range []struct{ nhid, want string }{
			{"99", "Error: Nexthop id does not exist."},
			{"1", "Error: Nexthop is not a multipath group."},
		} {
			if got := h1.fdbCommandError(t, "add", "02:00:00:00:0e:01", "dev", vxDev, "nhid", c.nhid); !strings.Contains(got, c.want) {
				t.Errorf("fdb add nhid %s: %q, want %q", c.nhid, got, c.want)
			}
		}

		macX := header.MAC{0x02, 0, 0, 0, 0x0e, 0x0e}
		h1.FDB(t, "add", macX.String(), "nhid", "10", "self", "static")
		if es := h1.FindFDB(t, macX); len(es) != 1 || es[0].NHID != 10 || es[0].Dst != "" || es[0].State != "static" {
			t.Fatalf("%v: fdb show for %v: %+v", h1, macX, es)
		}
		h1.ns.IP(t, "neigh", "add", "192.0.2.200", "lladdr", macX.String(), "dev", vxDev, "nud", "permanent")

		toX := func(f []byte) bool { return len(f) >= 6 && bytes.Equal(f[0:6], macX[:]) }
		c2 := startCapture(t, h2.ns, vxDev, incoming, toX)
		c3 := startCapture(t, h3.ns, vxDev, incoming, toX)
		count := func(name string, tag []byte, n int, oneFlow bool) (int, int) {
			t.Helper()
			c2.Reset()
			c3.Reset()
			h1.sendFlows(t, "192.0.2.200", tag, n, oneFlow)
			nstest.WaitFor(t, 5*time.Second, fmt.Sprintf("%s: %d frames at h2 and h3", name, n), func() error {
				if got := c2.Count() + c3.Count(); got < n {
					return fmt.Errorf("have %d", got)
				}
				return nil
			})
			settle(t, c2, c3)
			a, b := c2.Count(), c3.Count()
			if a+b != n {
				t.Errorf("%s: h2 got %d and h3 %d frames, want %d in all (each frame to one gateway)", name, a, b, n)
			}
			return a, b
		}
		if a, b := count("32 flows", []byte("nh flows"), 32, false); a == 0 || b == 0 {
			t.Errorf("32 flows over group 1/2: h2 %d, h3 %d; want both used", a, b)
		}
		if a, b := count("one flow", []byte("nh one flow"), 8, true); a != 0 && b != 0 {
			t.Errorf("one flow split over the group: h2 %d, h3 %d", a, b)
		}

		// A deleted member leaves the group (remove_nh_grp_entry).
		h1.ns.IP(t, "nexthop", "del", "id", "2")
		nstest.WaitFor(t, 5*time.Second, "traffic only to h2", func() error {
			if a, b := count("after del id 2", []byte("nh after del"), 8, false); b != 0 || a != 8 {
				return fmt.Errorf("h2 %d, h3 %d", a, b)
			}
			return nil
		})

		// Deleting the group deletes its FDB entries.
		h1.ns.IP(t, "nexthop", "del", "id", "10")
		nstest.WaitFor(t, 5*time.Second, "the nhid entry gone", func() error {
			if es := h1.FindFDB(t, macX); len(es) != 0 {
				return fmt.Errorf("still %+v", es)
			}
			return nil
		})
	})
}

// flowTag starts the payload of the datagrams of sendIndexedFlows; the
// flow's index follows it in decimal.
const flowTag = "nh res flow "

// flowBasePort is the local UDP port of flow 0 of sendIndexedFlows.
const flowBasePort = 40000

// sendIndexedFlows sends one UDP datagram to dst:9 for each of n flows of
// h: flow i from local port flowBasePort+i, with the payload flowTag and i.
// The sockets are not connected, so that the kernel hashes each datagram
// by its addresses and ports (__skb_get_hash): a connected one carries its
// socket's random sk_txhash (sk_set_txhash in __ip4_datagram_connect), and
// the same flow sent again would hash differently. Every socket is closed
// before the next is opened, so the same flows can be sent again.
func (h *host) sendIndexedFlows(t testing.TB, dst string, n int) {
	t.Helper()
	to := &net.UDPAddr{IP: net.ParseIP(dst), Port: 9}
	err := h.ns.Do(func() error {
		for i := range n {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: flowBasePort + i})
			if err != nil {
				return fmt.Errorf("flow %d: %w", i, err)
			}
			_, err = c.WriteToUDP(fmt.Appendf(nil, "%s%d", flowTag, i), to)
			c.Close()
			if err != nil {
				return fmt.Errorf("flow %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v: sending flows to %s: %v", h, dst, err)
	}
}

// flowIndex returns the flow index of an Ethernet frame carrying a
// datagram of sendIndexedFlows (IPv4, UDP to port 9), or false.
func flowIndex(f []byte) (int, bool) {
	if len(f) < 14+20+8 || f[12] != 0x08 || f[13] != 0x00 || f[14]>>4 != 4 || f[14+9] != 17 {
		return 0, false
	}
	udp := 14 + int(f[14]&0x0f)*4
	if len(f) < udp+8 || f[udp+2] != 0 || f[udp+3] != 9 {
		return 0, false
	}
	// The UDP length bounds the payload: a short frame may be padded.
	end := udp + (int(f[udp+4])<<8 | int(f[udp+5]))
	if end < udp+8 || end > len(f) {
		return 0, false
	}
	p, ok := bytes.CutPrefix(f[udp+8:end], []byte(flowTag))
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(p))
	if err != nil {
		return 0, false
	}
	return i, true
}

// TestNexthopResilientGroupKeepsFlows: an FDB entry that points to a
// resilient FDB nexthop group (`ip nexthop add id 10 group 1/2 type
// resilient buckets 32 idle_timer 0 fdb`) sends each flow to the member of
// its hash bucket (vxlan_xmit_nh, nexthop_select_path_res); when a member
// is added (`ip nexthop replace id 10 group 1/2/3 type resilient …`), the
// kernel moves buckets only from the members that have too many to the new
// one (replace_nexthop_grp, nh_res_group_rebalance, nh_res_table_upkeep),
// so a flow either stays on its member or moves to the new one, never
// from one old member to another. idle_timer 0 makes every bucket idle,
// so the kernel migrates them at once, even those its own vxlan traffic
// keeps busy. With vtep as the sender, vtepd selects from the kernel's
// bucket table of its namespace (RTM_GETNEXTHOPBUCKET), which it learns
// asynchronously.
//
// The check discriminates: a hash-threshold group (the default type, by
// upper bounds, nexthop_select_path_hthr) going from 1/2 to 1/2/3 moves
// the flows whose hash is in [1/3, 1/2) of the range from member 1 to
// member 2, about one flow in six; with 48 flows, the chance that none
// falls there is (5/6)^48 < 0.02%.
func TestNexthopResilientGroupKeepsFlows(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		const nFlows = 48
		l := newLab(t, labConfig{kinds: []kind{dut, kindKernel, kindKernel, kindKernel}})
		h1 := l.hosts[0]
		peers := l.hosts[1:] // h2, h3, h4: members 1, 2 and 3
		for i, p := range peers {
			h1.ns.IP(t, "nexthop", "add", "id", strconv.Itoa(i+1), "via", p.Underlay().String(), "fdb")
		}
		res := []string{"type", "resilient", "buckets", "32", "idle_timer", "0", "fdb"}
		h1.ns.IP(t, append([]string{"nexthop", "add", "id", "10", "group", "1/2"}, res...)...)

		macX := header.MAC{0x02, 0, 0, 0, 0x0e, 0x0f}
		const ipX = "192.0.2.201"
		h1.FDB(t, "add", macX.String(), "nhid", "10", "self", "static")
		h1.ns.IP(t, "neigh", "add", ipX, "lladdr", macX.String(), "dev", vxDev, "nud", "permanent")

		toX := func(f []byte) bool {
			_, ok := flowIndex(f)
			return ok && bytes.Equal(f[0:6], macX[:])
		}
		caps := make([]*capture, len(peers))
		for i, p := range peers {
			caps[i] = startCapture(t, p.ns, vxDev, incoming, toX)
		}
		// send sends the flows once and returns, for each flow, the
		// index in peers of the peer that received it, and how many
		// flows each peer received. A flow received by none, by two
		// peers or twice is an error.
		send := func(name string) (at []int, per []int) {
			t.Helper()
			for _, c := range caps {
				c.Reset()
			}
			h1.sendIndexedFlows(t, ipX, nFlows)
			total := func() (n int) {
				for _, c := range caps {
					n += c.Count()
				}
				return n
			}
			nstest.WaitFor(t, 10*time.Second, fmt.Sprintf("%s: %d flows at the peers", name, nFlows), func() error {
				if got := total(); got < nFlows {
					return fmt.Errorf("have %d", got)
				}
				return nil
			})
			settle(t, caps...)
			at = slices.Repeat([]int{-1}, nFlows)
			per = make([]int, len(peers))
			for pi, c := range caps {
				for _, f := range c.Frames() {
					i, _ := flowIndex(f)
					switch {
					case i < 0 || i >= nFlows:
						t.Errorf("%s: %v got flow %d, want 0…%d", name, peers[pi], i, nFlows-1)
					case at[i] == pi:
						t.Errorf("%s: %v got flow %d twice", name, peers[pi], i)
					case at[i] >= 0:
						t.Errorf("%s: flow %d reached both %v and %v, want one member", name, i, peers[at[i]], peers[pi])
					default:
						at[i] = pi
						per[pi]++
					}
				}
			}
			for i, pi := range at {
				if pi < 0 {
					t.Errorf("%s: flow %d reached no peer", name, i)
				}
			}
			return at, per
		}

		// Round 1: group 1/2; the same flows sent twice take the same
		// members (else the test could not tell moved flows apart).
		at1, per1 := send("round 1, group 1/2")
		if per1[0] == 0 || per1[1] == 0 || per1[2] != 0 {
			t.Errorf("round 1, group 1/2: h2 %d, h3 %d, h4 %d flows; want h2 and h3 used, h4 none", per1[0], per1[1], per1[2])
		}
		if again, _ := send("round 1 again"); !slices.Equal(again, at1) {
			t.Fatalf("the same flows sent again took other members:\n first %v\n then  %v", at1, again)
		}

		// Member 3 (h4) joins; vtepd learns the new group and its
		// buckets asynchronously, so send until h4 gets traffic.
		h1.ns.IP(t, append([]string{"nexthop", "replace", "id", "10", "group", "1/2/3"}, res...)...)
		nstest.WaitFor(t, 10*time.Second, "h4 getting flows of group 1/2/3", func() error {
			if _, per := send("waiting for h4"); per[2] == 0 {
				return fmt.Errorf("h2 %d, h3 %d, h4 %d flows", per[0], per[1], per[2])
			}
			return nil
		})

		// Round 2: the same flows; each stays or moves to h4.
		at2, per2 := send("round 2, group 1/2/3")
		t.Logf("round 1: h2 %d, h3 %d flows; round 2: h2 %d, h3 %d, h4 %d flows", per1[0], per1[1], per2[0], per2[1], per2[2])
		if per2[2] == 0 {
			t.Errorf("round 2, group 1/2/3: h4 got no flows (h2 %d, h3 %d)", per2[0], per2[1])
		}
		for i := range nFlows {
			if a, b := at1[i], at2[i]; a >= 0 && b >= 0 && a != b && b != 2 {
				t.Errorf("flow %d (port %d) moved from %v to %v after member 3 was added; want it kept or moved to h4",
					i, flowBasePort+i, peers[a], peers[b])
			}
		}
	})
}
