package kernelnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/mroute"
)

// MulticastRoutes is the kernel's multicast routing state that links with
// mcroute need: the multicast forwarding cache of both families (`ip
// mroute show`, `ip -6 mroute show`) and the netconf state of every device
// (its mc_forwarding says whether it is a vif).
type MulticastRoutes struct {
	Routes  []mroute.Route
	Devices []mroute.Netconf
}

// DumpMulticastRoutes returns the multicast routing state of the calling
// thread's network namespace.
func DumpMulticastRoutes() (MulticastRoutes, error) {
	c, err := dialRoute()
	if err != nil {
		return MulticastRoutes{}, fmt.Errorf("kernelnet: dump multicast routes: %w", err)
	}
	defer c.close()
	m, err := c.mroutes(dumpTries)
	if err != nil {
		return MulticastRoutes{}, fmt.Errorf("kernelnet: dump multicast routes: %w", err)
	}
	return m, nil
}

// WatchMulticastRoutes calls fn with the multicast routing state of the
// calling thread's network namespace, and again with all of it each time
// it changes (RTNLGRP_IPV4_MROUTE, RTNLGRP_IPV6_MROUTE and the netconf
// groups notify the changes), from one goroutine, until ctx is done. It
// returns once the first call of fn has returned, or with the error that
// kept it from watching. Errors after that go to onError (may be nil) and
// the sockets are made again, as for [WatchNexthops].
func WatchMulticastRoutes(ctx context.Context, fn func(MulticastRoutes), onError func(error)) error {
	w := &dumpWatch[MulticastRoutes]{
		what: "multicast routes",
		groups: []uint32{mroute.RTNLGroupIPv4MRoute, mroute.RTNLGroupIPv6MRoute,
			mroute.RTNLGroupIPv4Netconf, mroute.RTNLGroupIPv6Netconf},
		dump: (*nlConn).mroutes,
	}
	return w.start(ctx, fn, onError)
}

// mroutes dumps the multicast routing state over c, trying up to tries
// times while a dump is interrupted.
func (c *nlConn) mroutes(tries int) (MulticastRoutes, error) {
	var m MulticastRoutes
	var err error
	for range tries {
		m, err = c.dumpMroutes()
		if !errors.Is(err, errDumpInterrupted) && !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	return m, err
}

// dumpMroutes makes one RTM_GETROUTE dump per multicast family and one
// RTM_GETNETCONF dump per address family. A kernel without multicast
// routing for a family answers the route dump with every route of every
// family (rtnl_dump_all), which ParseRoute tells apart.
func (c *nlConn) dumpMroutes() (MulticastRoutes, error) {
	var m MulticastRoutes
	for _, fam := range []byte{mroute.FamilyIPMR, mroute.FamilyIP6MR} {
		req := make([]byte, mroute.RouteMessageSize)
		req[0] = fam
		err := c.request(mroute.RTMGetRoute, req, func(typ uint16, p []byte) error {
			if typ != mroute.RTMNewRoute {
				return nil
			}
			r, err := mroute.ParseRoute(p)
			if errors.Is(err, mroute.ErrNotMulticast) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("RTM_NEWROUTE message % x: %w", p, err)
			}
			m.Routes = append(m.Routes, r)
			return nil
		})
		if err != nil {
			return MulticastRoutes{}, err
		}
	}
	for _, fam := range []byte{unix.AF_INET, unix.AF_INET6} {
		err := c.request(mroute.RTMGetNetconf, []byte{fam, 0, 0, 0}, func(typ uint16, p []byte) error {
			if typ != mroute.RTMNewNetconf {
				return nil
			}
			n, err := mroute.ParseNetconf(p)
			if err != nil {
				return fmt.Errorf("RTM_NEWNETCONF message % x: %w", p, err)
			}
			if n.Ifindex > 0 && n.MCForwarding {
				m.Devices = append(m.Devices, n)
			}
			return nil
		})
		if ne, ok := errors.AsType[*nlError](err); ok && ne.Errno == syscall.EOPNOTSUPP {
			continue // no IPv6
		}
		if err != nil {
			return MulticastRoutes{}, err
		}
	}
	slices.SortFunc(m.Devices, func(a, b mroute.Netconf) int {
		return cmp.Or(cmp.Compare(a.Family, b.Family), cmp.Compare(a.Ifindex, b.Ifindex))
	})
	return m, nil
}

// RouteDevice returns the output interface of the route the kernel takes to
// dst from src (`ip route get DST from SRC`): for a multicast destination
// and an IPv4 source, the device that has the source address.
func (h *Handle) RouteDevice(dst, src netip.Addr) (int, error) {
	opts := &netlink.RouteGetOptions{}
	if src.IsValid() && !src.IsUnspecified() {
		opts.SrcAddr = net.IP(src.AsSlice())
	}
	rs, err := h.nh.RouteGetWithOptions(net.IP(dst.AsSlice()), opts)
	if err != nil {
		return 0, fmt.Errorf("kernelnet: route to %v from %v: %w", dst, src, err)
	}
	if len(rs) == 0 {
		return 0, fmt.Errorf("kernelnet: no route to %v from %v", dst, src)
	}
	return rs[0].LinkIndex, nil
}
