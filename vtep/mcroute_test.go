package vtep_test

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/vtepd/vtep/checksum"
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
// and keeps what it is given.
type reportingRouter struct {
	vtep.MulticastRouter
	pkts [][]byte
	oifs []int
}

func (r *reportingRouter) ReportUnresolved(src, group netip.Addr, oif int, pkt []byte) {
	r.pkts = append(r.pkts, slices.Clone(pkt))
	r.oifs = append(r.oifs, oif)
}

// TestMCRouteReportsUnresolvedPackets: a packet multicast routing has no
// entry for, out of a dev that is a vif, is what the kernel reports to the
// routing daemon (ipmr_cache_unresolved → IGMPMSG_NOCACHE): the router
// is given the whole outer packet, with its own TTL, and the interface it
// was to leave by; the packet is dropped. Routed packets are not
// reported.
func TestMCRouteReportsUnresolvedPackets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		routes  []mroute.Route
		reports int
	}{
		{"no route", nil, 1},
		{"(S, G)", []mroute.Route{mcSG}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reportingRouter{MulticastRouter: mcRouter(mcTable(tc.routes...))}
			opts := netlab.Options{Host: func(name string, o *vtep.HostOptions) {
				o.Ifindex = func(string) int { return mcLo10 }
				o.MulticastRouter = r
			}}
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "sw", mcLocal.String())
				l := h.MustAddLink(t, "vx10", "id 1000 local 192.0.2.100 group 233.252.0.1 dev lo10 dstport 4789 mcroute ttl 16")
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
					if o.ttl != 16 || o.src != mcLocal || o.dst != mcGroup || o.vni() != 1000 || !slices.Equal(o.inner, f) {
						t.Errorf("reported %v -> %v ttl %d vni %d, want %v -> %v ttl 16 vni 1000 with the frame", o.src, o.dst, o.ttl, o.vni(), mcLocal, mcGroup)
					}
					if r.oifs[i] != mcLo10 {
						t.Errorf("reported as out of %d, want lo10 (%d)", r.oifs[i], mcLo10)
					}
				}
				if got := counter(l, "drop_mcroute_unrouted"); got != uint64(tc.reports) {
					t.Errorf("mcroute_unrouted = %d, want %d", got, tc.reports)
				}
			})
		})
	}
}
