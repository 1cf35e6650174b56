package vtep_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/vtep"
)

// TestProxyARPAnsweredAndConsumed: with proxy, an ARP request for a
// NUD_CONNECTED neighbour is answered on the link itself with
// arp_create(ARPOP_REPLY, …) and never reaches the underlay; a request for
// an unknown or unreachable neighbour, or one behind a bridge-local FDB
// entry, is consumed without an answer (arp_reduce).
func TestProxyARPAnsweredAndConsumed(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1, _ := twoHosts(t, lab, "proxy")
		nb := l1.Host.Neighbors
		nb.Set("vx0", ipB, vtep.Neighbor{MAC: macB, State: vtep.NUDReachable})
		nb.Set("vx0", ipC, vtep.Neighbor{MAC: macC, State: vtep.NUDStale})

		l1.Send(netlab.ARPRequest(macA, ipA, ipB))
		want := netlab.Ether(macA, macB, header.EtherTypeARP, nil)
		arp := make([]byte, header.ARPSize)
		header.ARP(arp).Encode(&header.ARPFields{Op: header.ARPReply,
			SenderHardwareAddress: macB, SenderProtocolAddress: ipB,
			TargetHardwareAddress: macA, TargetProtocolAddress: ipA})
		want = append(want, arp...)
		expectFrames(t, l1, want)

		l1.Send(netlab.ARPRequest(macA, ipA, ipC))             // stale: consumed
		l1.Send(netlab.ARPRequest(macA, ipA, ip("10.9.9.9")))  // unknown: consumed
		l1.Send(netlab.ARPRequest(macA, ipA, ip("127.0.0.1"))) // loopback target
		// A neighbour whose MAC sits behind a bridge-local entry is not
		// proxied ("bridge-local neighbor").
		nb.Set("vx0", ip("10.1.0.4"), vtep.Neighbor{MAC: mac("02:aa:00:00:00:04"), State: vtep.NUDPermanent})
		addFDB(t, l1, mac("02:aa:00:00:00:04"), ip("0.0.0.0"), 0, 0, 0)
		l1.Send(netlab.ARPRequest(macA, ipA, ip("10.1.0.4")))
		expectFrames(t, l1)
		if s := rec.take(); len(s) != 0 {
			t.Errorf("%d ARP requests reached the underlay; proxy must consume them", len(s))
		}
		if got := counter(l1, "proxy_consumed"); got != 5 {
			t.Errorf("proxy_consumed = %d, want 5", got)
		}
		if got := counter(l1, "proxy_arp_replies"); got != 1 {
			t.Errorf("proxy_arp_replies = %d, want 1", got)
		}
		if got := counter(l1, "l3_misses"); got != 0 {
			t.Errorf("l3_misses = %d without l3miss", got)
		}
	})
}

// TestProxyNSAnsweredAndConsumed: with proxy, an IPv6 Neighbor
// Solicitation for a reachable neighbour gets a Neighbor Advertisement
// built as vxlan_na_create does: to the source link-layer address option
// (else the frame's source), from the target, hop limit 255, S and O set,
// R from the neighbour MAC's FDB entry (NTF_ROUTER), a target link-layer
// address option; the NS itself is consumed (neigh_reduce).
func TestProxyNSAnsweredAndConsumed(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1, _ := twoHosts(t, lab, "proxy")
		l1.Host.Neighbors.Set("vx0", ip6B, vtep.Neighbor{MAC: macB, State: vtep.NUDReachable})
		addFDB(t, l1, macB, vtep2, 0, 0, fdb.FlagRouter)
		sllao := mac("02:aa:00:00:00:09") // differs from the frame source
		ns := netlab.NeighborSolicit(sllao, ip6A, ip6B, true)
		copy(ns[6:12], macA[:])
		l1.Send(ns)
		got := expectFrames(t, l1, nil)
		na := got[0].Data
		if len(na) != 14+40+32 {
			t.Fatalf("NA is %d bytes: %x", len(na), na)
		}
		if header.MAC(na[0:6]) != sllao || header.MAC(na[6:12]) != macB {
			t.Errorf("NA Ethernet %v -> %v, want %v -> %v", header.MAC(na[6:12]), header.MAC(na[0:6]), macB, sllao)
		}
		h := na[14:]
		if h[0] != 0x60 || h[6] != header.ICMPv6ProtocolNumber || h[7] != 255 ||
			netip.AddrFrom16([16]byte(h[8:24])) != ip6B || netip.AddrFrom16([16]byte(h[24:40])) != ip6A {
			t.Errorf("NA IPv6 header %x", h[:40])
		}
		m := h[40:]
		if m[0] != header.ICMPv6NeighborAdvertisement || m[4] != header.NDPFlagRouter|header.NDPFlagSolicited|header.NDPFlagOverride ||
			netip.AddrFrom16([16]byte(m[8:24])) != ip6B || m[24] != header.NDPOptionTargetLinkLayerAddress || m[25] != 1 || header.MAC(m[26:32]) != macB {
			t.Errorf("NA body %x", m)
		}
		if !netlab.L4ChecksumValid(na) {
			t.Errorf("NA checksum does not verify")
		}

		// Without the option the reply goes to the frame's source, and
		// without NTF_ROUTER the R flag is clear.
		if err := l1.FDB().Delete(fdb.Request{MAC: macB}); err != nil {
			t.Fatal(err)
		}
		l1.Send(netlab.NeighborSolicit(macA, ip6A, ip6B, false))
		na = expectFrames(t, l1, nil)[0].Data
		if header.MAC(na[0:6]) != macA || na[14+40+4] != header.NDPFlagSolicited|header.NDPFlagOverride {
			t.Errorf("NA to %v flags %#x", header.MAC(na[0:6]), na[14+40+4])
		}

		// A zero-length option makes vxlan_na_create give up; the NS is
		// still consumed.
		bad := netlab.NeighborSolicit(macA, ip6A, ip6B, true)
		bad[14+40+24+1] = 0
		l1.Send(bad)
		expectFrames(t, l1)
		if s := rec.take(); len(s) != 0 {
			t.Errorf("%d NS reached the underlay", len(s))
		}
		if got := counter(l1, "proxy_na_replies"); got != 2 {
			t.Errorf("proxy_na_replies = %d, want 2", got)
		}
	})
}

// expectMiss reads one notification.
func expectMiss(t *testing.T, ch <-chan vtep.Miss, want vtep.Miss) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("miss %+v, want %+v", got, want)
		}
	default:
		t.Errorf("no miss notification, want %+v", want)
	}
}

// TestL2AndL3MissEvents: l2miss notifies an unknown unicast destination
// MAC when there is no default entry (vxlan_fdb_miss), but not a multicast
// one; l3miss notifies the unknown target of a proxied ARP request or NS
// with NDA_VNI = VXLAN_N_VID (vxlan_ip_miss).
func TestL2AndL3MissEvents(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		l := h.MustAddLink(t, "vx0", "id 42 dstport 4789 proxy l2miss l3miss")
		misses, cancel := l.SubscribeMisses(8)
		defer cancel()

		l.Send(netlab.Echo(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, false, 1, 1, nil))
		l.Send(netlab.Echo(netlab.IP{SrcMAC: macA, DstMAC: mac("01:00:5e:00:00:01"), Src: ipA, Dst: ip("224.0.0.1")}, false, 1, 1, nil))
		l.Send(netlab.ARPRequest(macA, ipA, ipC))
		l.Send(netlab.NeighborSolicit(macA, ip6A, ip6B, true))
		recvAll(l)
		expectMiss(t, misses, vtep.Miss{Kind: vtep.L2Miss, Link: "vx0", MAC: macB})
		expectMiss(t, misses, vtep.Miss{Kind: vtep.L3Miss, Link: "vx0", IP: ipC, VNI: vtep.MissVNI})
		expectMiss(t, misses, vtep.Miss{Kind: vtep.L3Miss, Link: "vx0", IP: ip6B, VNI: vtep.MissVNI})
		if len(misses) != 0 {
			t.Errorf("extra miss %+v", <-misses)
		}
		if got := counter(l, "drop_no_tx_target"); got != 2 {
			t.Errorf("drop_no_tx_target = %d, want 2", got)
		}
		if got := counter(l, "tx_dropped"); got != 2 {
			t.Errorf("tx_dropped = %d, want 2", got)
		}
		if got := counter(l, "l2_misses"); got != 1 {
			t.Errorf("l2_misses = %d", got)
		}
		if got := counter(l, "l3_misses"); got != 2 {
			t.Errorf("l3_misses = %d", got)
		}
	})
}

// TestRouteShortCircuit: with rsc, a frame to an FDB entry flagged router
// is rewritten to the MAC the neighbour table has for its inner
// destination IP (the router's MAC becomes the source) and forwarded by
// that MAC's entry (route_shortcircuit). An entry without the router flag
// is not touched; an unknown IP raises an L3 miss with l3miss.
func TestRouteShortCircuit(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "rsc l3miss")
		router := mac("02:aa:00:00:00:fe")
		addFDB(t, l1, router, vtep3, 0, 0, fdb.FlagRouter)
		addFDB(t, l1, macB, vtep2, 0, 0, 0)
		l1.Host.Neighbors.Set("vx0", ipB, vtep.Neighbor{MAC: macB, State: vtep.NUDStale})
		misses, cancel := l1.SubscribeMisses(4)
		defer cancel()

		f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: router, Src: ipA, Dst: ipB}, 1000, 2000, payload(20))
		l1.Send(f)
		want := bytes.Clone(f)
		copy(want[0:6], macB[:])
		copy(want[6:12], router[:])
		expectFrames(t, l2, want)

		// Unknown inner destination: L3 miss, frame goes to the router entry.
		g := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: router, Src: ipA, Dst: ipC}, 1000, 2000, nil)
		l1.Send(g)
		recvAll(l2)
		expectMiss(t, misses, vtep.Miss{Kind: vtep.L3Miss, Link: "vx0", IP: ipC, VNI: vtep.MissVNI})
		_ = binary.BigEndian
	})
}

// TestRouteShortCircuitToBridgeLocalBypasses: when RSC resolves to a MAC
// whose entry is bridge-local (0.0.0.0), the frame is delivered back to the
// link itself instead of being dropped (vxlan_xmit_one: "short-circuited
// back to local bridge"), and the link learns the rewritten source behind
// 127.0.0.1.
func TestRouteShortCircuitToBridgeLocalBypasses(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, _ := twoHosts(t, lab, "rsc")
		router := mac("02:aa:00:00:00:fe")
		addFDB(t, l1, router, vtep3, 0, 0, fdb.FlagRouter)
		addFDB(t, l1, macC, ip("0.0.0.0"), 0, 0, 0)
		l1.Host.Neighbors.Set("vx0", ipC, vtep.Neighbor{MAC: macC, State: vtep.NUDReachable})
		f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: router, Src: ipA, Dst: ipC}, 1, 2, nil)
		l1.Send(f)
		want := bytes.Clone(f)
		copy(want[0:6], macC[:])
		copy(want[6:12], router[:])
		expectFrames(t, l1, want)
		if got := learnedAt(l1, router); got != vtep3 {
			t.Errorf("router entry now at %v", got)
		}
		if got := counter(l1, "bypassed"); got != 1 {
			t.Errorf("bypassed = %d, want 1", got)
		}
		// Without RSC, a bridge-local remote is dropped.
		l1.Send(netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macC, Src: ipA, Dst: ipC}, 1, 2, nil))
		expectFrames(t, l1)
		if got := counter(l1, "drop_remote_any"); got != 1 {
			t.Errorf("drop_remote_any = %d, want 1", got)
		}
	})
}
