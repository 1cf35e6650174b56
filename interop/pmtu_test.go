package interop

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestPMTUException: with a lower route MTU to the peer VTEP, a ping with
// DF whose packet is larger than that MTU less the headroom (50 bytes over
// IPv4, 70 over IPv6) leaves the sender's route to the overlay destination
// with a PMTU exception of that size, so that the next ones are refused
// locally (pmtu.sh pmtu_ipv4_vxlan4_exception, pmtu_ipv6_vxlan6_exception).
// The kernel lowers the route's PMTU itself (skb_tunnel_check_pmtu); vtep
// tells the host's stack with the ICMP error it delivers through the TAP.
func TestPMTUException(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ipv6     bool
		routeMTU int
		size     int // ping payload
		want     string
	}{
		{"ipv4", false, 1300, 1300, "mtu 1250"},
		{"ipv6", true, 1400, 1350, "mtu 1330"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachKind(t, func(t *testing.T, dut kind) {
				_, h1, h2 := pair(t, dut, labConfig{ipv6: tc.ipv6})
				dst, plen := h2.In4(), "/32"
				if tc.ipv6 {
					dst, plen = h2.In6(), "/128"
				}
				h1.warmUp(t, dst)
				h1.ns.IP(t, "route", "replace", h2.Underlay().String()+plen, "dev", ulDev, "mtu", fmt.Sprint(tc.routeMTU))
				if out := h1.ns.IP(t, "route", "get", dst.String()); strings.Contains(out, " mtu ") {
					t.Fatalf("a PMTU exception before the test: %s", out)
				}
				nstest.WaitFor(t, 10*time.Second, "a PMTU exception ("+tc.want+") on the route to "+dst.String(), func() error {
					h1.Ping(t, dst, nstest.PingOptions{Count: 1, Size: tc.size, DontFragment: true, Wait: 500 * time.Millisecond})
					out := h1.ns.IP(t, "route", "get", dst.String())
					if !strings.Contains(out, tc.want) {
						return fmt.Errorf("ip route get: %s", strings.TrimSpace(out))
					}
					return nil
				})
				// Packets that fit still cross.
				h1.PingOK(t, dst, "-M", "do", "-s", "1200")
				if dut.isVtep() {
					st := h1.Stats(t)
					if st.Vtep["tx_pmtu_exceeded"] == 0 || st.Vtep["tx_pmtu_errors"] == 0 {
						t.Errorf("tx_pmtu_exceeded %d, tx_pmtu_errors %d: want both counted", st.Vtep["tx_pmtu_exceeded"], st.Vtep["tx_pmtu_errors"])
					}
				}
			})
		})
	}
}

// TestPMTUBridgedException: with vx0 a port of a bridge that a client
// namespace reaches over a veth, the oversized DF ping of the client is
// answered by the tunnel with an ICMP Fragmentation Needed and not sent
// (skb_tunnel_check_pmtu with reply; pmtu.sh
// pmtu_ipv4_br_vxlan4_exception): the client, which has no tunnel of its
// own, gets a PMTU exception of 1250, and the peer VTEP receives nothing.
func TestPMTUBridgedException(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{})
		h1.ns.IP(t, "link", "add", "br0", "type", "bridge")
		h1.ns.IP(t, "link", "set", vxDev, "master", "br0")
		c := nstest.NewNS(t, "client")
		client := netip.MustParsePrefix("192.0.2.100/24")
		_, brPort := nstest.AddVeth(t, c, h1.ns, nstest.Veth{NameA: "eth0", NameB: "vc0", AddrsA: []netip.Prefix{client}})
		h1.ns.IP(t, "link", "set", brPort, "master", "br0")
		h1.ns.LinkUp(t, "br0")
		dst := h2.In4()
		nstest.WaitFor(t, 10*time.Second, "the client reaching "+dst.String(), func() error {
			out, _ := c.Exec(context.Background(), "ping", "-c", "1", "-W", "1", dst.String())
			if !strings.Contains(out, " 0% packet loss") {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		h1.ns.IP(t, "route", "replace", h2.Underlay().String()+"/32", "dev", ulDev, "mtu", "1300")
		big := func() {
			c.Exec(context.Background(), "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1300", dst.String())
		}
		exception := func() error {
			out := c.IP(t, "route", "get", dst.String())
			if !strings.Contains(out, "mtu 1250") {
				return fmt.Errorf("ip route get: %s", strings.TrimSpace(out))
			}
			return nil
		}
		// vtepd learns that vx0 is a bridge port from a link notification,
		// and reads the route MTU at most a second late.
		nstest.WaitFor(t, 10*time.Second, "a PMTU exception of 1250 in the client", func() error {
			big()
			return exception()
		})
		c.IP(t, "route", "flush", "cache")
		// Echo requests the peer's stack received: its interface counters
		// would also count the IPv6 router solicitations and MLD reports
		// the new bridge floods at about this time.
		before := snmpCounter(t, h2.ns, "Icmp", "InEchos")
		big()
		if err := exception(); err != nil {
			t.Errorf("after flushing the client's cache, one more ping: %v", err)
		}
		if after := snmpCounter(t, h2.ns, "Icmp", "InEchos"); after != before {
			t.Errorf("the peer received %d echo requests for the oversized ping, want 0 (the error replaces it on a bridge port)", after-before)
		}
	})
}

// snmpCounter returns counter name of protocol proto ("Icmp", "Udp") in
// ns's /proc/net/snmp.
func snmpCounter(t testing.TB, ns *nstest.NS, proto, name string) int64 {
	t.Helper()
	out := ns.Run(t, "cat", "/proc/net/snmp")
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == name && i < len(f) {
				v, err := strconv.ParseInt(f[i], 10, 64)
				if err != nil {
					t.Fatalf("/proc/net/snmp: %q", line)
				}
				return v
			}
		}
	}
	t.Fatalf("no %s %s in /proc/net/snmp:\n%s", proto, name, out)
	return 0
}
