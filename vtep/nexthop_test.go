package vtep_test

import (
	"fmt"
	"testing"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/nexthop"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/vtep"
)

// nhGroup is `ip nexthop add id 1 via 192.0.2.2 fdb; … id 2 via
// 192.0.2.3 fdb; ip nexthop add id 10 group 1,w1/2,w2 fdb`.
func nhGroup(w1, w2 uint32) []nexthop.Nexthop {
	return []nexthop.Nexthop{
		{ID: 1, Gateway: ip("192.0.2.2"), FDB: true},
		{ID: 2, Gateway: ip("192.0.2.3"), FDB: true},
		{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: w1}, {ID: 2, Weight: w2}}},
	}
}

// TestNexthopEntryTransmitsToOneGatewayPerFlow follows vxlan_xmit_nh: a
// frame whose FDB entry points to a nexthop group goes to exactly one
// gateway, chosen by the frame's flow hash (nexthop_path_fdb_result), with
// the link's port and VNI. Every frame of a flow takes the same gateway,
// and the flows split over the gateways by weight.
func TestNexthopEntryTransmitsToOneGatewayPerFlow(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		lab.MustAddHost(t, "h2", "192.0.2.2").MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.2")
		lab.MustAddHost(t, "h3", "192.0.2.3").MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.3")
		l1 := h1.MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.1")
		h1.VTEP.SetNexthops(nhGroup(1, 1))
		add := fdb.Request{MAC: macB, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, NHID: 10}
		if err := l1.FDB().Add(add); err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for port := range 64 {
			var first string
			for i := range 3 {
				f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, TTL: 5}, uint16(20000+port), 7, payload(20))
				got := sentTo(t, rec, l1, f)
				if len(got) != 1 {
					t.Fatalf("flow %d: sent to %v, want one gateway", port, got)
				}
				if i == 0 {
					first = got[0]
					per[first]++
				} else if got[0] != first {
					t.Fatalf("flow %d moved from %s to %s", port, first, got[0])
				}
			}
		}
		if len(per) != 2 || per["192.0.2.2/4789/42"] < 16 || per["192.0.2.3/4789/42"] < 16 {
			t.Fatalf("64 flows over two equal gateways: %v", per)
		}

		// Weights 3 and 1: about three quarters of the flows take the first.
		h1.VTEP.SetNexthops(nhGroup(3, 1))
		// flowsTo counts the flows of 200 that go to remote dst alone.
		flowsTo := func(dst string) int {
			n := 0
			for port := range 200 {
				f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, TTL: 5}, uint16(30000+port), 7, payload(20))
				if got := sentTo(t, rec, l1, f); len(got) == 1 && got[0] == dst {
					n++
				}
			}
			return n
		}
		n := flowsTo("192.0.2.2/4789/42")
		if n < 125 || n > 175 {
			t.Errorf("weight 3 of 4 took %d of 200 flows", n)
		}

		// A resilient group takes the member of the flow's bucket
		// (nexthop_select_path_res), not its weight: with the kernel's
		// table saying 2, 1, 2, 2 every flow of the buckets of member 2
		// stays on it, about three quarters of them.
		res := nhGroup(3, 1)
		res[2].Resilient, res[2].NumBuckets, res[2].Buckets = true, 4, []uint32{2, 1, 2, 2}
		h1.VTEP.SetNexthops(res)
		n = flowsTo("192.0.2.3/4789/42")
		if n < 125 || n > 175 {
			t.Errorf("3 of 4 buckets on member 2 took %d of 200 flows", n)
		}
	})
}

// TestNexthopRemovalDeletesEntries follows vxlan_nexthop_event: when a
// nexthop group disappears from the kernel, the FDB entries that point to
// it are deleted, and traffic falls back to the all-zeros entry. A group
// whose members are all gone drops the frame (nexthop_no_path).
func TestNexthopRemovalDeletesEntries(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		for i := 2; i <= 4; i++ {
			a := fmt.Sprintf("192.0.2.%d", i)
			lab.MustAddHost(t, fmt.Sprintf("h%d", i), a).MustAddLink(t, "vx0", "id 42 dstport 4789 local "+a)
		}
		l1 := h1.MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.1")
		appendFDB(t, l1, header.ZeroMAC, ip("192.0.2.4"))
		h1.VTEP.SetNexthops(nhGroup(1, 1))
		for _, m := range []header.MAC{macB, macC} {
			if err := l1.FDB().Add(fdb.Request{MAC: m, State: fdb.StatePermanent, Flags: fdb.FlagSelf, NHID: 10}); err != nil {
				t.Fatal(err)
			}
		}
		frame := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, TTL: 5}, 1, 2, payload(20))

		// A group left without gateways (members gone from the snapshot).
		h1.VTEP.SetNexthops([]nexthop.Nexthop{{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 1}}}})
		if got := sentTo(t, rec, l1, frame); len(got) != 0 {
			t.Fatalf("sent to %v with no gateway", got)
		}
		if n := counter(l1, "drop_nexthop_no_path"); n != 1 {
			t.Errorf("drop_nexthop_no_path %d, want 1", n)
		}

		if n := h1.VTEP.SetNexthops(nil); n != 2 {
			t.Fatalf("SetNexthops deleted %d entries, want 2", n)
		}
		if l1.FDB().Lookup(macB, 42) != nil || l1.FDB().Lookup(macC, 42) != nil {
			t.Fatal("entries of a deleted nexthop survive")
		}
		if got := sentTo(t, rec, l1, frame); len(got) != 1 || got[0] != "192.0.2.4/4789/42" {
			t.Fatalf("after the group is gone: sent to %v, want the all-zeros remote", got)
		}
	})
}

// TestNexthopEntryIsNotLearnedOver follows vxlan_snoop: a frame whose
// source MAC has a nexthop entry is dropped (entry_exists), and the entry
// stays; proxy ARP answers for a neighbour behind a nexthop entry (the
// entry is not bridge-local).
func TestNexthopEntryIsNotLearnedOver(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		h2 := lab.MustAddHost(t, "h2", "192.0.2.2")
		l1 := h1.MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.1 proxy")
		l2 := h2.MustAddLink(t, "vx0", "id 42 dstport 4789 local 192.0.2.2")
		appendFDB(t, l2, header.ZeroMAC, ip("192.0.2.1"))
		h1.VTEP.SetNexthops(nhGroup(1, 1))
		r := fdb.Request{MAC: macB, State: fdb.StateReachable, Flags: fdb.FlagSelf, NHID: 10}
		if err := l1.FDB().Add(r); err != nil {
			t.Fatal(err)
		}
		f := netlab.UDP(netlab.IP{SrcMAC: macB, DstMAC: macA, Src: ipB, Dst: ipA, TTL: 5}, 1, 2, payload(20))
		if err := l2.SendMeta(f, tap.Meta{}); err != nil {
			t.Fatal(err)
		}
		expectFrames(t, l1)
		if n := counter(l1, "drop_entry_exists"); n != 1 {
			t.Errorf("drop_entry_exists %d, want 1", n)
		}
		if e := l1.FDB().Lookup(macB, 42); e == nil || e.NHID() != 10 || len(e.Remotes()) != 0 {
			t.Fatalf("entry after learning: %+v", e)
		}

		h1.Neighbors.Set("vx0", ipB, vtep.Neighbor{MAC: macB, State: vtep.NUDReachable})
		l1.Drain()
		if err := l1.Send(netlab.ARPRequest(macA, ipA, ipB)); err != nil {
			t.Fatal(err)
		}
		got := recvAll(l1)
		if len(got) != 1 {
			t.Fatalf("proxy ARP replies: %d, want 1", len(got))
		}
	})
}
