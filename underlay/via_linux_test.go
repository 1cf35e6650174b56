package underlay

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestWriteViaLinkLocal: host A reaches two peers, B and C, over two
// links on which every address is the same (A is fe80::1 and the peer
// fe80::2 on both). Only the output interface tells the links apart, as
// the remote_ifindex of an IPv6 link-local vxlan device does
// (vxlan_xmit_one → vxlan6_get_route with flowi6_oif). A run of equal-size
// datagrams and a lone one go to C by C's link, then to B by B's; each
// peer gets only its own packets, and ReadInfo reports the interface they
// arrived on (skb->dev->ifindex, which vxlan_vs_find_vni matches against
// remote_ifindex). In raw mode the run goes out from a per-flow UDP
// socket, which needs the interface to bind a link-local address.
func TestWriteViaLinkLocal(t *testing.T) {
	for _, mode := range []SendMode{SendUDP, SendRaw} {
		t.Run(mode.String(), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			a := nstest.NewNS(t, "lla")
			peers := map[string]*nstest.NS{"b": nstest.NewNS(t, "llb"), "c": nstest.NewNS(t, "llc")}
			local := netip.MustParseAddr("fe80::1")
			remote := netip.MustParseAddr("fe80::2")
			oif, in := map[string]int{}, map[string]int{}
			rx := map[string]*LinuxConn{}
			for name, ns := range peers {
				nstest.AddVeth(t, a, ns, nstest.Veth{NameA: "to" + name, NameB: "ul",
					AddrsA: []netip.Prefix{netip.PrefixFrom(local, 64)},
					AddrsB: []netip.Prefix{netip.PrefixFrom(remote, 64)}})
				oif[name], in[name] = linkIndex(t, a, "to"+name), linkIndex(t, ns, "ul")
				rx[name] = listen(t, ns, Options{Family: 6, Port: 4789})
			}
			tx := listen(t, a, Options{Family: 6, Send: mode})
			if tx.SendMode() != mode {
				t.Skipf("send mode %v unavailable", mode)
			}
			for _, name := range []string{"c", "b"} {
				var bufs [][]byte
				var oifs []int
				for i := range 6 {
					size := 1000
					if i == 5 {
						size = 10
					}
					bufs = append(bufs, pkt{src: local, dst: remote, sport: 40000, dport: 4789, ttl: 64,
						payload: bytes.Repeat([]byte(name), size)}.build())
					oifs = append(oifs, oif[name])
				}
				if n, err := tx.WriteVia(bufs, oifs, headroom); err != nil || n != len(bufs) {
					t.Fatalf("WriteVia to %s = %d, %v; %+v", name, n, err, tx.Stats())
				}
				for i, g := range readN(t, rx[name], len(bufs), 16, 1500) {
					if g.payload[0] != name[0] || g.src != local || g.dst != remote || g.ifindex != in[name] {
						t.Errorf("%s packet %d: from %s to %s, payload %q…, ifindex %d; want %s → %s, %q, ifindex %d",
							name, i, g.src, g.dst, g.payload[:1], g.ifindex, local, remote, name, in[name])
					}
				}
			}
			if st := tx.Stats(); mode == SendRaw && tx.GSO() && st.TxFlowSockets != 2 {
				t.Errorf("stats %+v, want 2 flow sockets (one per link)", st)
			}
		})
	}
}

// TestWriteViaMulticastFromAnotherDevicesAddress: a VTEP's address is
// often on lo while its underlay links have no address of global scope
// (BGP unnumbered fabrics). The kernel's vxlan routes with its source
// given (vxlan6_get_route sets fl6.saddr), so a packet to an IPv6 group
// out of such a link leaves from the VTEP's address. Without the source
// the route lookup must choose one, and for a multicast destination it
// may only take the output interface's (ipv6_dev_get_saddr), which has
// none: sendmsg fails with EADDRNOTAVAIL.
func TestWriteViaMulticastFromAnotherDevicesAddress(t *testing.T) {
	for _, mode := range []SendMode{SendUDP, SendRaw} {
		t.Run(mode.String(), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			a, b := nstest.NewNS(t, "mcsrca"), nstest.NewNS(t, "mcsrcb")
			a.IP(t, "link", "add", "ul", "type", "veth", "peer", "name", "ul", "netns", b.Name)
			a.IP(t, "link", "set", "ul", "addrgenmode", "none")
			a.IP(t, "addr", "add", "2001:db8::1/128", "dev", "lo")
			a.LinkUp(t, "ul")
			b.LinkUp(t, "ul")
			src, group := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff0e::1:2:3")
			oif := linkIndex(t, a, "ul")
			at := capturePackets(t, b, linkIndex(t, b, "ul"))
			tx := listen(t, a, Options{Family: 6, Send: mode})
			if tx.SendMode() != mode {
				t.Skipf("send mode %v unavailable", mode)
			}
			var bufs [][]byte
			var oifs []int
			for i := range 4 {
				size := 1000
				if i == 3 {
					size = 10
				}
				bufs = append(bufs, pkt{src: src, dst: group, sport: 40000, dport: 4789, ttl: 16,
					payload: bytes.Repeat([]byte{byte(i)}, size)}.build())
				oifs = append(oifs, oif)
			}
			if n, err := tx.WriteVia(bufs, oifs, headroom); err != nil || n != len(bufs) {
				t.Fatalf("WriteVia = %d, %v; %+v", n, err, tx.Stats())
			}
			// A UDP_SEGMENT send may arrive at the capture unsegmented:
			// count payload bytes.
			got, bytesIn, want := receivedTo(at, group), 0, 0
			for _, p := range got {
				bytesIn += len(p) - 48
			}
			for _, b := range bufs {
				want += len(b) - headroom - 48
			}
			if bytesIn != want {
				t.Fatalf("%d payload bytes in %d packets arrived, want %d; %+v", bytesIn, len(got), want, tx.Stats())
			}
			for i, p := range got {
				if s := netip.AddrFrom16([16]byte(p[8:24])); s != src || p[7] != 16 {
					t.Errorf("packet %d from %v hop limit %d, want %v, 16", i, s, p[7], src)
				}
			}
		})
	}
}
