package interop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestSocketOpenedAtUpClosedAtDown: a vxlan device opens its UDP socket
// when it comes up and lets go of it when it goes down (vxlan_open →
// vxlan_sock_add, vxlan_stop → vxlan_sock_release); devices on the same
// port share it. On the device under test, with a kernel peer:
//   - vx0 down while vx1 (another VNI, same port) is up: the socket stays,
//     the peer's packets for vx0 are dropped without an ICMP error;
//   - both down: no socket on the port (ss), and the peer's packets are
//     answered with ICMP port unreachable (Udp NoPorts, Icmp
//     OutDestUnreachs at the device's host, InDestUnreachs at the peer);
//   - another program bound to the port: `link set vx0 up` fails with
//     "RTNETLINK answers: Address already in use" and vx0 stays down;
//     once it lets go, vx0 comes up and carries traffic again.
func TestSocketOpenedAtUpClosedAtDown(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		l := newLab(t, labConfig{kinds: []kind{dut, kindKernel}})
		h1, h2 := l.hosts[0], l.hosts[1]
		h2.PingOK(t, h1.In4())
		port := strconv.Itoa(int(l.Port()))

		link := func(args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), nstest.CommandTimeout)
			defer cancel()
			t.Logf("[%s] $ link %s", h1, strings.Join(args, " "))
			if dut.isVtep() {
				return h1.vtepd.CLI(ctx, append([]string{"link"}, args...)...)
			}
			return h1.ns.Exec(ctx, "ip", append([]string{"link"}, args...)...)
		}
		mustLink := func(args ...string) {
			t.Helper()
			if out, err := link(args...); err != nil {
				t.Fatalf("%v: %v\n%s", h1, err, out)
			}
		}
		sockets := func() int {
			t.Helper()
			out := strings.TrimSpace(h1.ns.Run(t, "ss", "-H", "-u", "-a", "-n", "sport", "= :"+port))
			if out == "" {
				return 0
			}
			return strings.Count(out, "\n") + 1
		}
		// pingFails sends the peer's pings to vx0, which is down, and
		// returns how many ICMP port unreachables each side counted.
		pingFails := func() (noPorts, out, in int64) {
			t.Helper()
			n0 := snmpCounter(t, h1.ns, "Udp", "NoPorts")
			o0 := snmpCounter(t, h1.ns, "Icmp", "OutDestUnreachs")
			i0 := snmpCounter(t, h2.ns, "Icmp", "InDestUnreachs")
			res := h2.Ping(t, h1.In4(), nstest.PingOptions{Count: 3, Interval: 50 * time.Millisecond, Wait: 500 * time.Millisecond})
			if res.Received != 0 {
				t.Errorf("ping to a link that is down: %d replies", res.Received)
			}
			return snmpCounter(t, h1.ns, "Udp", "NoPorts") - n0,
				snmpCounter(t, h1.ns, "Icmp", "OutDestUnreachs") - o0,
				snmpCounter(t, h2.ns, "Icmp", "InDestUnreachs") - i0
		}

		mustLink("add", "vx1", "type", "vxlan", "id", strconv.Itoa(labVNI+1), "dstport", port,
			"local", h1.Underlay().String(), "dev", ulDev)
		if dut.isVtep() {
			h1.ns.WaitLink(t, "vx1")
		}
		mustLink("set", "vx1", "up")
		if n := sockets(); n == 0 {
			t.Fatalf("%v: no socket on port %s with both links up", h1, port)
		}
		mustLink("set", vxDev, "down")
		if n := sockets(); n == 0 {
			t.Errorf("%v: no socket on port %s with vx1 up", h1, port)
		}
		if noPorts, out, in := pingFails(); noPorts != 0 || out != 0 || in != 0 {
			t.Errorf("vx1 up: NoPorts +%d, OutDestUnreachs +%d, peer InDestUnreachs +%d; want 0 (the shared socket stays)", noPorts, out, in)
		}

		mustLink("set", "vx1", "down")
		if n := sockets(); n != 0 {
			t.Errorf("%v: %d sockets on port %s with every link down, want 0:\n%s", h1, n, port,
				h1.ns.Run(t, "ss", "-u", "-a", "-n", "-p"))
		}
		if noPorts, out, in := pingFails(); noPorts == 0 || out == 0 || in == 0 {
			t.Errorf("all down: NoPorts +%d, OutDestUnreachs +%d, peer InDestUnreachs +%d; want ICMP port unreachables", noPorts, out, in)
		}

		// Another program takes the port.
		pc, err := h1.ns.ListenPacket("udp4", "0.0.0.0:"+port)
		if err != nil {
			t.Fatal(err)
		}
		out, err := link("set", vxDev, "up")
		if err == nil || !strings.Contains(out, "RTNETLINK answers: Address already in use") {
			t.Errorf("%v: link set up on a port in use: %v\n%s\nwant RTNETLINK answers: Address already in use", h1, err, out)
		}
		if flags := h1.ns.IP(t, "-br", "link", "show", vxDev); strings.Contains(flags, ",UP") {
			t.Errorf("%v: vx0 is up after the refused up: %s", h1, flags)
		}
		pc.Close()
		mustLink("set", vxDev, "up")
		h2.PingOK(t, h1.In4())
	})
}
