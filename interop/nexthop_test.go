package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
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
