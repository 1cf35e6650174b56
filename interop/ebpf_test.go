package interop

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestEBPFDataPath: with `vtepd -ebpf on`, the frames to a learned
// unicast MAC address are encapsulated by the tc program on the TAP and
// never reach vtepd; a kernel vxlan peer, and another vtepd, take them as
// the kernel's own (vxlan_xmit_one: the same outer headers, and GSO
// super-frames as SKB_GSO_UDP_TUNNEL). The packets from a learned source
// without an outer UDP checksum (another vtepd, a kernel peer with
// noudpcsum) are decapsulated by the tc program on the underlay and never
// reach vtepd either; those with one that nothing verified (a kernel peer
// over a veth) go through vtepd. Verified TCP transfers and pings over
// IPv4 and IPv6 overlays must work both ways, the programs must have
// carried the transfers, and the transmit table must follow the FDB: a
// `replace` of the peer's entry to an address nobody has stops the pings,
// and putting it back restores them.
func TestEBPFDataPath(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	noUDPCsum := func(h *host) []string {
		if h.kind == kindKernel {
			return []string{"noudpcsum"}
		}
		return nil
	}
	for _, tc := range []struct {
		name        string
		kinds       []kind
		vethOffload bool
		args        func(*host) []string
		kernelRX    bool // the peer's packets go through the receive program
	}{
		{"kernel-peer", []kind{kindVtepEBPF, kindKernel}, false, nil, false},
		{"kernel-peer-veth-offload", []kind{kindVtepEBPF, kindKernel}, true, nil, false},
		{"kernel-peer-noudpcsum", []kind{kindVtepEBPF, kindKernel}, true, noUDPCsum, true},
		{"vtep-peer", []kind{kindVtepEBPF, kindVtepEBPF}, false, nil, true},
		{"vtep-peer-veth-offload", []kind{kindVtepEBPF, kindVtepEBPF}, true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, labConfig{kinds: tc.kinds, vethOffload: tc.vethOffload, args: tc.args})
			h1, h2 := l.hosts[0], l.hosts[1]
			transferBothWays(t, h1, h2, 50<<20)
			h1.warmUp(t, h2.In6())
			h1.PingOK(t, h2.In6())
			h2.PingOK(t, h1.In6())
			for _, h := range []*host{h1, h2} {
				if h.kind != kindVtepEBPF {
					continue
				}
				// The programs' counters reach the link's within a second.
				var fast, tx uint64
				nstest.WaitFor(t, 5*time.Second, "the program's counters", func() error {
					st := h.Stats(t)
					fast, tx = st.Vtep["tx_ebpf_bytes"], st.TX.Bytes
					// Most of it: vtepd carries the first
					// milliseconds, until learning has filled the
					// tables.
					if fast < 40<<20 {
						return fmt.Errorf("tx_ebpf_bytes = %d, want most of the 50 MB transfer", fast)
					}
					if rx := st.Vtep["rx_ebpf_bytes"]; tc.kernelRX && rx < 40<<20 {
						return fmt.Errorf("rx_ebpf_bytes = %d, want most of the 50 MB transfer", rx)
					}
					return nil
				})
				if tx < fast {
					t.Errorf("%v: tx_bytes %d < tx_ebpf_bytes %d: not counted in the link's", h, tx, fast)
				}
				st := h.Stats(t)
				t.Logf("%v: tx_ebpf_bytes=%d tx_bytes=%d tx_ebpf_packets=%d tap_read_frames=%d rx_ebpf_bytes=%d rx_ebpf_packets=%d rx_bytes=%d",
					h, fast, tx, st.Vtep["tx_ebpf_packets"], st.Vtep["tap_read_frames"],
					st.Vtep["rx_ebpf_bytes"], st.Vtep["rx_ebpf_packets"], st.RX.Bytes)
				if st.RX.Bytes < st.Vtep["rx_ebpf_bytes"] {
					t.Errorf("%v: rx_bytes %d < rx_ebpf_bytes %d: not counted in the link's", h, st.RX.Bytes, st.Vtep["rx_ebpf_bytes"])
				}
				if !tc.kernelRX && st.Vtep["rx_ebpf_packets"] != 0 {
					t.Errorf("%v: the receive program took %d packets with unverified UDP checksums", h, st.Vtep["rx_ebpf_packets"])
				}
			}

			// Pings the transmit program sends refresh the "used" time of
			// the peer's entry (vxlan_find_mac_tx), within a second.
			if h1.fdbUsed(t, h2.mac.String()) < 0 {
				t.Errorf("%v: no FDB entry for %v after the transfers", h1, h2.mac)
			} else {
				time.Sleep(3 * time.Second)
				idle := h1.fdbUsed(t, h2.mac.String())
				h1.PingOK(t, h2.In4())
				nstest.WaitFor(t, 5*time.Second, "used to move", func() error {
					if u := h1.fdbUsed(t, h2.mac.String()); u >= idle {
						return fmt.Errorf("used %d s after the ping, %d s before", u, idle)
					}
					return nil
				})
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

// fdbUsed returns the "used" age in seconds of vx0's entry for mac
// (`vtep -j -s fdb show`), or -1 when there is none.
func (h *host) fdbUsed(t testing.TB, mac string) int {
	t.Helper()
	out := h.vtepd.Run(t, "-j", "-s", "fdb", "show", "dev", vxDev)
	var es []struct {
		MAC  string `json:"mac"`
		Used int    `json:"used"`
	}
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("%v: parsing fdb show: %v\n%s", h, err, out)
	}
	for _, e := range es {
		if e.MAC == mac {
			return e.Used
		}
	}
	return -1
}
