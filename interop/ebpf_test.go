package interop

import (
	"fmt"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestEBPFTransmitPath: with `vtepd -ebpf on`, the frames to a learned
// unicast MAC address are encapsulated by the tc program on the TAP and
// never reach vtepd; a kernel vxlan peer, and another vtepd, take them as
// the kernel's own (vxlan_xmit_one: the same outer headers, and GSO
// super-frames as SKB_GSO_UDP_TUNNEL). Verified TCP transfers and pings
// over IPv4 and IPv6 overlays must work both ways, the program must have
// sent most of the frames, and its table must follow the FDB: a `replace`
// of the peer's entry to an address nobody has stops the pings, and
// putting it back restores them.
func TestEBPFTransmitPath(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	for _, tc := range []struct {
		name        string
		kinds       []kind
		vethOffload bool
	}{
		{"kernel-peer", []kind{kindVtepEBPF, kindKernel}, false},
		{"kernel-peer-veth-offload", []kind{kindVtepEBPF, kindKernel}, true},
		{"vtep-peer", []kind{kindVtepEBPF, kindVtepEBPF}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, labConfig{kinds: tc.kinds, vethOffload: tc.vethOffload})
			h1, h2 := l.hosts[0], l.hosts[1]
			transferBothWays(t, h1, h2, 50<<20)
			h1.warmUp(t, h2.In6())
			h1.PingOK(t, h2.In6())
			h2.PingOK(t, h1.In6())
			for _, h := range []*host{h1, h2} {
				if h.kind != kindVtepEBPF {
					continue
				}
				// The program's counters reach the link's within a second.
				var fast, tx uint64
				nstest.WaitFor(t, 5*time.Second, "the program's counters", func() error {
					st := h.Stats(t)
					fast, tx = st.Vtep["tx_ebpf_bytes"], st.TX.Bytes
					if fast < 50<<20 {
						return fmt.Errorf("tx_ebpf_bytes = %d, want the 50 MB transfer", fast)
					}
					return nil
				})
				if tx < fast {
					t.Errorf("%v: tx_bytes %d < tx_ebpf_bytes %d: not counted in the link's", h, tx, fast)
				}
				t.Logf("%v: tx_ebpf_bytes=%d tx_bytes=%d tx_ebpf_packets=%d tap_read_frames=%d",
					h, fast, tx, h.Stats(t).Vtep["tx_ebpf_packets"], h.Stats(t).Vtep["tap_read_frames"])
			}

			// The table follows the FDB.
			mac := h2.mac.String()
			h1.FDB(t, "replace", mac, "dst", "10.0.0.99", "permanent")
			time.Sleep(100 * time.Millisecond)
			res := h1.Ping(t, h2.In4(), nstest.PingOptions{Count: 3, Interval: 50 * time.Millisecond, Wait: time.Second})
			if res.Received != 0 {
				t.Errorf("%v: %d pings answered with %s's entry pointing at 10.0.0.99", h1, res.Received, mac)
			}
			h1.FDB(t, "replace", mac, "dst", h2.Underlay().String(), "permanent")
			h1.warmUp(t, h2.In4())
			h1.PingOK(t, h2.In4())
		})
	}
}
