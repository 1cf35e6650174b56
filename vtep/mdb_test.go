package vtep_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
)

// mdbLab is h1 with vx0 flooding to h2..h4 (all-zeros entry), and a
// recorder of every outer packet h1 writes.
func mdbLab(t *testing.T, lab *netlab.Lab, extra string) *netlab.Link {
	t.Helper()
	var l1 *netlab.Link
	for i := 1; i <= 4; i++ {
		a := fmt.Sprintf("192.0.2.%d", i)
		h := lab.MustAddHost(t, fmt.Sprintf("h%d", i), a)
		l := h.MustAddLink(t, "vx0", "id 42 dstport 4789 local "+a+" "+extra)
		if i == 1 {
			l1 = l
		}
	}
	for i := 2; i <= 4; i++ {
		appendFDB(t, l1, header.ZeroMAC, netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i)))
	}
	return l1
}

// mcast4 is a UDP datagram from src to group, to the group's MAC.
func mcast4(src, group netip.Addr) []byte {
	g := group.As4()
	dst := header.MAC{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]}
	return netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: dst, Src: src, Dst: group, TTL: 5}, 1111, 2222, payload(40))
}

func mcast6(src, group netip.Addr) []byte {
	g := group.As16()
	dst := header.MAC{0x33, 0x33, g[12], g[13], g[14], g[15]}
	return netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: dst, Src: src, Dst: group, TTL: 5}, 1111, 2222, payload(40))
}

// sentTo sends f on l and returns the outer destinations, in send order.
func sentTo(t *testing.T, rec *recorder, l *netlab.Link, f []byte) []string {
	t.Helper()
	rec.take()
	if err := l.SendMeta(f, tap.Meta{}); err != nil {
		t.Fatal(err)
	}
	recvAll(l)
	var out []string
	for _, p := range rec.take() {
		o := decodeOuter(t, p.pkt)
		out = append(out, fmt.Sprintf("%v/%d/%d", o.dst, o.dport, o.vni()))
	}
	return out
}

func mdbAdd(t *testing.T, l *netlab.Link, r fdb.MDBRequest) {
	t.Helper()
	r.Permanent = true
	if err := l.FDB().MDBAdd(r); err != nil {
		t.Fatalf("mdb add %+v: %v", r, err)
	}
}

// TestMDBTransmit: with MDB entries, IPv4/IPv6 multicast goes to the
// remotes of its (S, G), (*, G) or catch-all entry, with each remote's
// port and VNI, the first remote getting the original last
// (vxlan_mdb_xmit); link-local groups, broadcast, VLAN-tagged frames and
// groups without an entry (and no catch-all) are flooded by the all-zeros
// FDB entry (vxlan_mdb_entry_skb_get).
func TestMDBTransmit(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1 := mdbLab(t, lab, "")
		flood := []string{"192.0.2.3/4789/42", "192.0.2.4/4789/42", "192.0.2.2/4789/42"}
		g1, g2 := ip("239.1.1.1"), ip("239.2.2.2")
		check := func(name string, f []byte, want ...string) {
			t.Helper()
			if got := sentTo(t, rec, l1, f); !slices.Equal(got, want) {
				t.Errorf("%s: sent to %v, want %v", name, got, want)
			}
		}
		check("no MDB", mcast4(ipA, g1), flood...)
		mdbAdd(t, l1, fdb.MDBRequest{Group: g1, Dst: ip("192.0.2.2")})
		mdbAdd(t, l1, fdb.MDBRequest{Group: g1, Dst: ip("192.0.2.3"), Port: 1234, VNI: 77, HasVNI: true})
		check("(*, G)", mcast4(ipA, g1), "192.0.2.2/4789/42", "192.0.2.3/1234/77")
		check("no entry, no catch-all", mcast4(ipA, g2), flood...)
		mdbAdd(t, l1, fdb.MDBRequest{Group: g1, Source: ipA, Dst: ip("192.0.2.4")})
		check("(S, G)", mcast4(ipA, g1), "192.0.2.4/4789/42")
		check("(*, G) for another source", mcast4(ipB, g1), "192.0.2.2/4789/42", "192.0.2.3/1234/77")
		mdbAdd(t, l1, fdb.MDBRequest{Group: netip.IPv4Unspecified(), Dst: ip("192.0.2.4")})
		check("catch-all", mcast4(ipA, g2), "192.0.2.4/4789/42")
		check("link-local group", mcast4(ipA, ip("224.0.0.251")), flood...)
		bc := mcast4(ipA, g1)
		copy(bc, header.BroadcastMAC[:])
		check("broadcast MAC", bc, flood...)
		check("IPv6 without catch-all", mcast6(ip6A, ip("ff0e::5")), flood...)
		check("ARP", netlab.ARPRequest(macA, ipA, ipB), flood...)
		tagged := slices.Concat(mcast4(ipA, g1)[:12], []byte{0x81, 0, 0, 5}, mcast4(ipA, g1)[12:])
		check("VLAN-tagged", tagged, flood...)

		// (*, G) EXCLUDE with a source list: the source's (S, G) has
		// only a blocked remote, so its traffic is dropped.
		g3 := ip("239.3.3.3")
		mdbAdd(t, l1, fdb.MDBRequest{Group: g3, Dst: ip("192.0.2.2"), HasMode: true, Sources: []netip.Addr{ipA}})
		mdbAdd(t, l1, fdb.MDBRequest{Group: g3, Dst: ip("192.0.2.3")})
		check("(S, G) blocked", mcast4(ipA, g3))
		if n := counter(l1, "drop_mdb_no_remote"); n != 1 {
			t.Errorf("drop_mdb_no_remote %d, want 1", n)
		}
		check("(*, G) EXCLUDE, other source", mcast4(ipB, g3), "192.0.2.2/4789/42", "192.0.2.3/4789/42")

		// Deleting the last entry turns the MDB off.
		if _, err := l1.FDB().MDBFlush(fdb.MDBFlushFilter{}); err != nil {
			t.Fatal(err)
		}
		check("after flush", mcast4(ipA, g1), flood...)
	})
}

// TestMDBTransmitIPv6: IPv6 groups, the :: catch-all, and the link-local
// scope exception (ipv6_addr_type IPV6_ADDR_LINKLOCAL).
func TestMDBTransmitIPv6(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1 := mdbLab(t, lab, "")
		mdbAdd(t, l1, fdb.MDBRequest{Group: ip("ff0e::5"), Dst: ip("192.0.2.3")})
		mdbAdd(t, l1, fdb.MDBRequest{Group: netip.IPv6Unspecified(), Dst: ip("192.0.2.4")})
		for _, tc := range []struct {
			group string
			want  []string
		}{
			{"ff0e::5", []string{"192.0.2.3/4789/42"}},
			{"ff05::9", []string{"192.0.2.4/4789/42"}},
			{"ff02::1:ff00:1", []string{"192.0.2.3/4789/42", "192.0.2.4/4789/42", "192.0.2.2/4789/42"}},
		} {
			if got := sentTo(t, rec, l1, mcast6(ip6A, ip(tc.group))); !slices.Equal(got, tc.want) {
				t.Errorf("%s: sent to %v, want %v", tc.group, got, tc.want)
			}
		}
	})
}
