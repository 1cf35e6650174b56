package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestPMTUException: with a route MTU of 1300 to the peer VTEP, a ping
// with DF whose packet is larger than 1300 − 50 leaves the sender's route
// to the overlay destination with a PMTU exception of 1250, so that the
// next ones are refused locally (pmtu.sh pmtu_ipv4_vxlan4_exception). The
// kernel lowers the route's PMTU itself (skb_tunnel_check_pmtu); vtep
// tells the host's stack with the ICMP Fragmentation Needed it delivers
// through the TAP.
func TestPMTUException(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		_, h1, h2 := pair(t, dut, labConfig{})
		h1.warmUp(t, h2.In4())
		h1.ns.IP(t, "route", "replace", h2.Underlay().String()+"/32", "dev", ulDev, "mtu", "1300")
		if out := h1.ns.IP(t, "route", "get", h2.In4().String()); strings.Contains(out, "mtu") {
			t.Fatalf("a PMTU exception before the test: %s", out)
		}
		nstest.WaitFor(t, 10*time.Second, "a PMTU exception of 1250 on the route to "+h2.In4().String(), func() error {
			h1.Ping(t, h2.In4(), nstest.PingOptions{Count: 1, Size: 1300, DontFragment: true, Wait: 500 * time.Millisecond})
			out := h1.ns.IP(t, "route", "get", h2.In4().String())
			if !strings.Contains(out, "mtu 1250") {
				return fmt.Errorf("ip route get: %s", strings.TrimSpace(out))
			}
			return nil
		})
		// Packets that fit still cross.
		h1.PingOK(t, h2.In4(), "-M", "do", "-s", "1200")
		if dut.isVtep() {
			st := h1.Stats(t)
			if st.Vtep["tx_pmtu_exceeded"] == 0 || st.Vtep["tx_pmtu_errors"] == 0 {
				t.Errorf("tx_pmtu_exceeded %d, tx_pmtu_errors %d: want both counted", st.Vtep["tx_pmtu_exceeded"], st.Vtep["tx_pmtu_errors"])
			}
		}
	})
}
