package vtep_test

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/mroute"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// The devices of the mcroute tests, after the switch of the kernel's
// vxlan_bridge_1q_mc_ul.sh: the links' dev is a dummy (lo10) and the
// multicast routes send out of swp2 and swp3.
const (
	mcLo10 = 10
	mcSwp2 = 2
	mcSwp3 = 3
)

var (
	mcLocal = netip.MustParseAddr("192.0.2.100")
	mcGroup = netip.MustParseAddr("233.252.0.1")
)

// mcRouter is a MulticastRouter over a fixed table, the route of a packet
// without an interface going out of lo10 (the device of the link's
// source address, as __ip_route_output_key picks for a multicast
// destination).
func mcRouter(tab *mroute.Table) vtep.MulticastRouter {
	return vtep.MulticastRouterFunc(func(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
		if oif == 0 {
			oif = mcLo10
		}
		return tab.Output(outs, src, group, oif, ttl)
	})
}

func mcTable(routes ...mroute.Route) *mroute.Table {
	var vifs []mroute.Netconf
	for _, d := range []int{mcLo10, mcSwp2, mcSwp3} {
		vifs = append(vifs, mroute.Netconf{Family: 2, Ifindex: d, MCForwarding: true, HasMCForwarding: true})
	}
	return mroute.New(routes, vifs)
}

var mcSG = mroute.Route{Family: mroute.FamilyIPMR, Table: mroute.TableDefault, Source: mcLocal, Group: mcGroup,
	IIF: mcLo10, OIFs: []mroute.OIF{{Ifindex: mcSwp2, TTL: 1}, {Ifindex: mcSwp3, TTL: 1}}}

// TestMCRouteSendsOutOfTheRoutesInterfaces: a link with mcroute sends what
// it sends to its group through multicast routing (vxlan_xmit_one sets
// IPSKB_MCROUTE, ip_mr_output): one copy out of each outgoing interface of
// the (S, G) entry, the highest vif first, with the TTL less one
// (ipmr_prepare_xmit), and no copy out of dev itself. Without mcroute the
// same entry is not used (ipv4_nomcroute). No entry while dev is a vif
// drops the frame (ipv4_mcroute_noroute), and so does a TTL not above the
// thresholds (ip_mr_output_finish: the default TTL of a group is 1).
func TestMCRouteSendsOutOfTheRoutesInterfaces(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    string
		routes  []mroute.Route
		outs    []int // output interfaces, in order
		ttl     uint8
		dropped uint64
	}{
		{"mcroute", "mcroute ttl 16", []mroute.Route{mcSG}, []int{mcSwp3, mcSwp2}, 15, 0},
		{"nomcroute", "ttl 16", []mroute.Route{mcSG}, []int{mcLo10}, 16, 0},
		{"mcroute, no route", "mcroute ttl 16", nil, nil, 0, 1},
		{"mcroute, ttl 1", "mcroute", []mroute.Route{mcSG}, nil, 0, 1},
		{"mcroute, (S,G) of another iif", "mcroute ttl 16", []mroute.Route{{Family: mroute.FamilyIPMR, Table: mroute.TableDefault,
			Source: mcLocal, Group: mcGroup, IIF: mcSwp2, OIFs: []mroute.OIF{{Ifindex: mcSwp3, TTL: 1}}}}, []int{mcLo10}, 16, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			opts := netlab.Options{Trace: rec.trace, Host: func(name string, o *vtep.HostOptions) {
				o.Ifindex = func(string) int { return mcLo10 }
				o.MulticastRouter = mcRouter(mcTable(tc.routes...))
			}}
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "sw", mcLocal.String())
				l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 "+tc.args)
				f := netlab.ARPRequest(macA, ipA, ipB)
				l.Send(f)
				recvAll(l)
				sent := rec.take()
				var outs []int
				for _, p := range sent {
					o := decodeOuter(t, p.pkt)
					outs = append(outs, p.ifindex)
					if o.ttl != tc.ttl || o.dst != mcGroup || o.src != mcLocal || o.vni() != 1000 || !slices.Equal(o.inner, f) {
						t.Errorf("sent %v -> %v ttl %d vni %d, want %v -> %v ttl %d vni 1000 with the frame", o.src, o.dst, o.ttl, o.vni(), mcLocal, mcGroup, tc.ttl)
					}
				}
				if !slices.Equal(outs, tc.outs) {
					t.Errorf("sent out of %v, want %v", outs, tc.outs)
				}
				if got := counter(l, "drop_mcroute_unrouted"); got != tc.dropped {
					t.Errorf("mcroute_unrouted = %d, want %d", got, tc.dropped)
				}
			})
		})
	}
}

// TestMCRouteDropsCopiesOverTheMTU: ipmr_prepare_xmit drops a copy with DF
// set that is longer than the MTU of its outgoing interface's route; the
// other copies go.
func TestMCRouteDropsCopiesOverTheMTU(t *testing.T) {
	rec := &recorder{}
	opts := netlab.Options{
		Trace:   rec.trace,
		Network: underlay.NetworkOptions{InterfaceMTU: map[int]int{mcSwp2: 1400, mcSwp3: 9000}},
		Host: func(name string, o *vtep.HostOptions) {
			o.Ifindex = func(string) int { return mcLo10 }
			o.MulticastRouter = mcRouter(mcTable(mcSG))
		},
	}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "sw", mcLocal.String())
		l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl 16 df set")
		big := bigUDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, TTL: 9}, 1400)
		l.Send(big)
		recvAll(l)
		sent := rec.take()
		if len(sent) != 1 || sent[0].ifindex != mcSwp3 {
			var outs []int
			for _, p := range sent {
				outs = append(outs, p.ifindex)
			}
			t.Fatalf("sent out of %v, want [%d]", outs, mcSwp3)
		}
		if got := counter(l, "drop_mcroute_too_big"); got != 1 {
			t.Errorf("mcroute_too_big = %d, want 1", got)
		}
	})
}

// reportingRouter is a MulticastRouter that is also a MulticastReporter
// over a table that can change, and keeps what it is given.
type reportingRouter struct {
	tab  atomic.Pointer[mroute.Table]
	mu   sync.Mutex
	pkts [][]byte // reported
	oifs []int
	sent []sentCopy
	// refuse, if set, is SendResolved's error for an interface.
	refuse map[int]error
}

type sentCopy struct {
	pkt []byte
	oif int
}

// reportingOpts are the lab options of a host whose links' dev is lo10
// and whose router is r.
func reportingOpts(r *reportingRouter) netlab.Options {
	return netlab.Options{Host: func(name string, o *vtep.HostOptions) {
		o.Ifindex = func(string) int { return mcLo10 }
		o.MulticastRouter = r
	}}
}

func newReportingRouter(tab *mroute.Table) *reportingRouter {
	r := &reportingRouter{}
	r.tab.Store(tab)
	return r
}

func (r *reportingRouter) RouteMulticast(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	return mcRouter(r.tab.Load()).RouteMulticast(outs, src, group, oif, ttl)
}

func (r *reportingRouter) Report(src, group netip.Addr, oif int, pkt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts = append(r.pkts, slices.Clone(pkt))
	r.oifs = append(r.oifs, oif)
}

func (r *reportingRouter) ResolveHeld(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	if oif == 0 {
		oif = mcLo10
	}
	return r.tab.Load().Resolve(outs, src, group, oif, ttl)
}

func (r *reportingRouter) SendResolved(pkt []byte, oif int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refuse[oif]; err != nil {
		return err
	}
	r.sent = append(r.sent, sentCopy{slices.Clone(pkt), oif})
	return nil
}

// TestMCRouteReportsForwardedAndHeldPackets: the kernel's multicast
// routing is shown each packet it would have seen itself, so that it
// counts it in its cache entry (ip_mr_output_finish) or, with no entry and
// dev a vif, holds it and asks the routing daemon (ipmr_cache_unresolved
// → IGMPMSG_NOCACHE). The router is given the whole outer packet, with
// its own TTL, and the interface it was to leave by. A packet routing
// leaves alone (an entry with another incoming interface: ip_mc_output)
// is not shown; one whose TTL passes no threshold is, as the kernel
// counts it too.
func TestMCRouteReportsForwardedAndHeldPackets(t *testing.T) {
	wrongIIF := mcSG
	wrongIIF.IIF = mcSwp2
	for _, tc := range []struct {
		name     string
		routes   []mroute.Route
		ttl      int
		reports  int
		unrouted uint64 // sent out of no interface
	}{
		{"no route", nil, 16, 1, 0}, // held
		{"(S, G)", []mroute.Route{mcSG}, 16, 1, 0},
		{"(S, G), TTL 1", []mroute.Route{mcSG}, 1, 1, 1},
		{"(S, G) on swp2", []mroute.Route{wrongIIF}, 16, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReportingRouter(mcTable(tc.routes...))
			opts := reportingOpts(r)
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "sw", mcLocal.String())
				l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl "+strconv.Itoa(tc.ttl))
				f := netlab.ARPRequest(macA, ipA, ipB)
				l.Send(f)
				recvAll(l)
				if len(r.pkts) != tc.reports {
					t.Fatalf("%d packets reported, want %d", len(r.pkts), tc.reports)
				}
				for i, p := range r.pkts {
					// The header checksum is the underlay's to make.
					if p[0]>>4 == 4 && binary.BigEndian.Uint16(p[10:]) == 0 {
						binary.BigEndian.PutUint16(p[10:], checksum.Checksum(p[:20], 0))
					}
					o := decodeOuter(t, p)
					if o.ttl != uint8(tc.ttl) || o.src != mcLocal || o.dst != mcGroup || o.vni() != 1000 || !slices.Equal(o.inner, f) {
						t.Errorf("reported %v -> %v ttl %d vni %d, want %v -> %v ttl %d vni 1000 with the frame", o.src, o.dst, o.ttl, o.vni(), mcLocal, mcGroup, tc.ttl)
					}
					if r.oifs[i] != mcLo10 {
						t.Errorf("reported as out of %d, want lo10 (%d)", r.oifs[i], mcLo10)
					}
				}
				if got := counter(l, "drop_mcroute_unrouted"); got != tc.unrouted {
					t.Errorf("mcroute_unrouted = %d, want %d", got, tc.unrouted)
				}
			})
		})
	}
}

// wantCounters checks l's counters.
func wantCounters(t *testing.T, l *netlab.Link, want map[string]uint64) {
	t.Helper()
	for name, n := range want {
		if got := counter(l, name); got != n {
			t.Errorf("%s = %d, want %d", name, got, n)
		}
	}
}

// mcFrames returns n distinct frames for the group.
func mcFrames(n int) [][]byte {
	var fs [][]byte
	for i := range n {
		fs = append(fs, netlab.ARPRequest(macA, ipA, netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})))
	}
	return fs
}

// TestMCRouteHoldsUnresolvedPacketsUntilTheRouteComes: a packet multicast
// routing has no entry for waits for the routing daemon's answer, as in
// ipmr_cache_unresolved: at most 4 are held, and reported (a 5th is
// dropped unreported), and once an (S, G) entry is in
// (ipmr_mfc_add → ipmr_cache_resolve → ip_mr_forward) each held packet
// leaves, in order, out of each outgoing interface, highest vif first,
// with the TTL less one and its checksums complete.
func TestMCRouteHoldsUnresolvedPacketsUntilTheRouteComes(t *testing.T) {
	for _, csum := range []string{"udpcsum", "noudpcsum"} {
		t.Run(csum, func(t *testing.T) {
			r := newReportingRouter(mcTable())
			opts := reportingOpts(r)
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "sw", mcLocal.String())
				l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl 16 "+csum)
				fs := mcFrames(6)
				for _, f := range fs {
					l.Send(f)
				}
				recvAll(l)
				if len(r.pkts) != 4 || len(r.sent) != 0 {
					t.Fatalf("%d packets reported and %d sent, want 4 and 0", len(r.pkts), len(r.sent))
				}
				if got := counter(l, "drop_mcroute_unrouted"); got != 2 {
					t.Errorf("mcroute_unrouted = %d, want 2 (the 5th and 6th)", got)
				}
				h.VTEP.ResolveMulticast() // a change that leaves the (S, G) unresolved
				if len(r.sent) != 0 {
					t.Fatalf("%d copies sent without a route", len(r.sent))
				}
				r.tab.Store(mcTable(mcSG))
				h.VTEP.ResolveMulticast()
				var outs []int
				for i, c := range r.sent {
					outs = append(outs, c.oif)
					o := decodeOuter(t, c.pkt) // checks both checksums
					if want := fs[i/2]; o.ttl != 15 || o.src != mcLocal || o.dst != mcGroup || o.vni() != 1000 || !slices.Equal(o.inner, want) {
						t.Errorf("copy %d: %v -> %v ttl %d vni %d, want %v -> %v ttl 15 vni 1000 with frame %d", i, o.src, o.dst, o.ttl, o.vni(), mcLocal, mcGroup, i/2)
					}
					if (o.udpCsum != 0) != (csum == "udpcsum") {
						t.Errorf("copy %d: UDP checksum %#04x with %s", i, o.udpCsum, csum)
					}
				}
				if want := []int{mcSwp3, mcSwp2, mcSwp3, mcSwp2, mcSwp3, mcSwp2, mcSwp3, mcSwp2}; !slices.Equal(outs, want) {
					t.Errorf("sent out of %v, want %v", outs, want)
				}
				if got := counter(l, "tx_packets"); got != 8 {
					t.Errorf("tx_packets = %d, want 8", got)
				}
				// Resolved: nothing is held any more, and the next packet
				// follows the route at once.
				h.VTEP.ResolveMulticast()
				if len(r.sent) != 8 || len(r.pkts) != 4 {
					t.Errorf("%d copies sent and %d packets reported after a second resolve, want 8 and 4 (the kernel counts the packets it held itself)", len(r.sent), len(r.pkts))
				}
			})
		})
	}
}

// TestMCRouteHeldPacketsExpire: an (S, G) waits 10 s from its first
// packet (ipmr_cache_alloc_unres, ipmr_expire_process); its packets are
// then dropped, a route that comes later does not send them, and the
// next packet of the (S, G) waits again.
func TestMCRouteHeldPacketsExpire(t *testing.T) {
	r := newReportingRouter(mcTable())
	opts := reportingOpts(r)
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "sw", mcLocal.String())
		l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl 16")
		fs := mcFrames(3)
		l.Send(fs[0])
		recvAll(l)
		time.Sleep(9 * time.Second)
		l.Send(fs[1])
		recvAll(l)
		if got := counter(l, "drop_mcroute_unrouted"); got != 0 {
			t.Fatalf("mcroute_unrouted = %d after 9 s, want 0", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := counter(l, "drop_mcroute_unrouted"); got != 2 {
			t.Errorf("mcroute_unrouted = %d after 10 s, want 2", got)
		}
		r.tab.Store(mcTable(mcSG))
		h.VTEP.ResolveMulticast()
		if len(r.sent) != 0 {
			t.Errorf("%d expired copies sent", len(r.sent))
		}
		r.tab.Store(mcTable())
		l.Send(fs[2])
		recvAll(l)
		if len(r.pkts) != 3 {
			t.Errorf("%d reports, want 3 (one per held packet)", len(r.pkts))
		}
	})
}

// TestMCRouteHoldsTenGroupsAtMost: at most 10 (S, G)s wait at once
// (cache_resolve_queue_len); a packet of an 11th is dropped unreported.
// A resolved (S, G) whose entry has another incoming interface drops its
// packets (ip_mr_forward: the host's own packet on the wrong interface),
// and a copy the interface's MTU refuses is counted as too big.
func TestMCRouteHoldsTenGroupsAtMost(t *testing.T) {
	r := newReportingRouter(mcTable())
	r.refuse = map[int]error{mcSwp2: syscall.EMSGSIZE}
	opts := reportingOpts(r)
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "sw", mcLocal.String())
		l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl 16")
		var groups []netip.Addr
		for i := range 11 {
			g := netip.AddrFrom4([4]byte{233, 252, 0, byte(1 + i)})
			groups = append(groups, g)
			if i > 0 {
				appendFDB(t, l, header.ZeroMAC, g)
			}
		}
		// Head-end replication to the 11 groups; the first remote (the
		// link's group) goes last (vxlan_xmit's fdst) and finds no room.
		l.Send(mcFrames(1)[0])
		recvAll(l)
		if len(r.pkts) != 10 {
			t.Fatalf("%d reports, want 10", len(r.pkts))
		}
		if got := counter(l, "drop_mcroute_unrouted"); got != 1 {
			t.Errorf("mcroute_unrouted = %d, want 1 (the link's group)", got)
		}
		route := func(g netip.Addr, iif int) mroute.Route {
			return mroute.Route{Family: mroute.FamilyIPMR, Table: mroute.TableDefault, Source: mcLocal, Group: g,
				IIF: iif, OIFs: []mroute.OIF{{Ifindex: mcSwp2, TTL: 1}, {Ifindex: mcSwp3, TTL: 1}}}
		}
		r.tab.Store(mcTable(route(groups[1], mcLo10), route(groups[2], mcSwp2)))
		h.VTEP.ResolveMulticast()
		if len(r.sent) != 1 || r.sent[0].oif != mcSwp3 {
			t.Errorf("sent %d copies, want 1 out of swp3", len(r.sent))
		}
		// Too big: swp2 refused; unrouted: the link's group, and the
		// wrong interface.
		wantCounters(t, l, map[string]uint64{"drop_mcroute_too_big": 1, "drop_mcroute_unrouted": 2, "tx_packets": 1})
		// Two places are free again: the link's group now waits too, and
		// the 8 groups still waiting hold a second packet: 9 more
		// reports. The routed group's packet is reported as forwarded;
		// the one on the wrong interface leaves by lo10, unreported.
		l.Send(mcFrames(2)[1])
		recvAll(l)
		if len(r.pkts) != 20 {
			t.Errorf("%d reports, want 20", len(r.pkts))
		}
		wantCounters(t, l, map[string]uint64{"drop_mcroute_unrouted": 2})
	})
}
