package underlay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestPathMTUFollowsTheRoute: PathMTU is the route's MTU as the kernel's
// vxlan reads it (dst_mtu): the device MTU, a route's mtu attribute, 0
// without a route or for the other family; a changed route is seen once
// the cached answer is a second old.
func TestPathMTUFollowsTheRoute(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "pmtu")
	ns.Run(t, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ns.Run(t, "ip", "link", "set", "d1", "up")
	ns.Run(t, "ip", "link", "set", "d0", "mtu", "1500", "up")
	ns.Run(t, "ip", "addr", "add", "10.9.0.1/24", "dev", "d0")
	ns.Run(t, "ip", "addr", "add", "fd09::1/64", "dev", "d0", "nodad")
	ns.Run(t, "ip", "route", "add", "10.9.1.0/24", "dev", "d0", "mtu", "1300")
	c4 := listen(t, ns, Options{Family: 4})
	c6 := listen(t, ns, Options{Family: 6})
	for _, tc := range []struct {
		c    *LinuxConn
		dst  string
		want int
	}{
		{c4, "10.9.0.2", 1500},
		{c4, "10.9.1.2", 1300},
		{c4, "192.0.2.9", 0}, // no route
		{c4, "fd09::2", 0},   // the other family
		{c6, "fd09::2", 1500},
		{c6, "2001:db8::9", 0},
	} {
		if got := tc.c.PathMTU(netip.MustParseAddr(tc.dst), 0); got != tc.want {
			t.Errorf("PathMTU(%s) on IPv%d = %d, want %d", tc.dst, tc.c.family, got, tc.want)
		}
	}
	ns.Run(t, "ip", "route", "replace", "10.9.1.0/24", "dev", "d0", "mtu", "1280")
	dst := netip.MustParseAddr("10.9.1.2")
	if got := c4.PathMTU(dst, 0); got != 1300 {
		t.Errorf("PathMTU right after the change = %d, want the cached 1300", got)
	}
	time.Sleep(pmtuTTL + 50*time.Millisecond)
	if got := c4.PathMTU(dst, 0); got != 1280 {
		t.Errorf("PathMTU a second later = %d, want 1280", got)
	}
}

// TestPathMTUUsesTheRemotesInterface: the route vxlan_get_route and
// vxlan6_get_route look up has flowi_oif set to the remote's interface
// (remote_ifindex: the FDB entry's via, the link's dev), so its MTU is that
// interface's. Without a route out of it the kernel takes the destination
// as on-link there (ip_route_output_key_hash_rcu), and a link-local
// destination is scoped by it.
func TestPathMTUUsesTheRemotesInterface(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "pmtuoif")
	for _, d := range []struct{ name, mtu, v4, v6 string }{
		{"a0", "1400", "10.9.0.1/24", "fe80::1/64"},
		{"b0", "9000", "10.8.0.1/24", "fe80::1/64"},
	} {
		ns.Run(t, "ip", "link", "add", d.name, "mtu", d.mtu, "type", "veth", "peer", "name", d.name+"p", "mtu", d.mtu)
		ns.Run(t, "ip", "link", "set", d.name+"p", "up")
		ns.Run(t, "ip", "link", "set", d.name, "up")
		ns.Run(t, "ip", "addr", "add", d.v4, "dev", d.name)
		ns.Run(t, "ip", "addr", "add", d.v6, "dev", d.name, "nodad")
	}
	a0, b0 := linkIndex(t, ns, "a0"), linkIndex(t, ns, "b0")
	c4 := listen(t, ns, Options{Family: 4})
	c6 := listen(t, ns, Options{Family: 6})
	for _, tc := range []struct {
		c    *LinuxConn
		dst  string
		oif  int
		want int
	}{
		{c4, "10.9.0.2", 0, 1400},
		{c4, "10.9.0.2", a0, 1400},
		{c4, "10.9.0.2", b0, 9000}, // on-link out of b0
		{c4, "10.8.0.2", 0, 9000},
		{c4, "10.9.0.2", 0, 1400}, // unbound again
		{c6, "fe80::2", a0, 1400},
		{c6, "fe80::2", b0, 9000},
		{c6, "fe80::2", 0, 0}, // no scope: no route
	} {
		if got := tc.c.PathMTU(netip.MustParseAddr(tc.dst), tc.oif); got != tc.want {
			t.Errorf("PathMTU(%s, oif %d) on IPv%d = %d, want %d", tc.dst, tc.oif, tc.c.family, got, tc.want)
		}
	}
}
