package main

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/mroute"
)

// mcRouter is the datapath's vtep.MulticastRouter: the kernel's multicast
// forwarding cache as the watch last dumped it, and the device a packet
// without an output interface would leave by, asked of the kernel's
// routes and kept for routeDevTTL. It is also its vtep.MulticastReporter:
// report shows packets to the kernel's multicast routing
// (underlay.MulticastReporter.Report), and send sends the packets the
// datapath held once their route is in.
type mcRouter struct {
	table    atomic.Pointer[mroute.Table]
	routeDev func(dst, src netip.Addr) (int, error)
	report   func(pkt []byte, oif int) error
	send     func(pkt []byte, oif int) error
	now      func() time.Time

	mu   sync.Mutex // guards devs
	devs map[[2]netip.Addr]routeDev
}

// routeDev is a cached answer of routeDev.
type routeDev struct {
	ifindex int
	expires time.Time
}

// routeDevTTL is how long the device of a route is kept: a route change
// shows within it, as the path MTU's does.
const routeDevTTL = time.Second

func newMCRouter(routeDevice func(dst, src netip.Addr) (int, error), report, send func(pkt []byte, oif int) error) *mcRouter {
	return &mcRouter{routeDev: routeDevice, report: report, send: send, now: time.Now,
		devs: make(map[[2]netip.Addr]routeDev)}
}

// Report implements vtep.MulticastReporter. A failure is the kernel's
// count missing one packet, or its daemon not asked yet: the packet
// itself is sent or held all the same, and the next one asks again.
func (r *mcRouter) Report(src, group netip.Addr, oif int, pkt []byte) {
	r.report(pkt, oif)
}

// ResolveHeld implements vtep.MulticastReporter.
func (r *mcRouter) ResolveHeld(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	return r.table.Load().Resolve(outs, src, group, r.outDevice(oif, group, src), ttl)
}

// SendResolved implements vtep.MulticastReporter.
func (r *mcRouter) SendResolved(pkt []byte, oif int) error { return r.send(pkt, oif) }

// set replaces the multicast routing state.
func (r *mcRouter) set(m kernelnet.MulticastRoutes) {
	r.table.Store(mroute.New(m.Routes, m.Devices))
}

// RouteMulticast implements vtep.MulticastRouter. Without any vif of the
// group's family nothing is multicast-routed, and no route is looked up.
func (r *mcRouter) RouteMulticast(outs []int, src, group netip.Addr, oif int, ttl uint8) (mroute.Action, []int) {
	t := r.table.Load()
	if !t.HasVifs(group.Is6()) {
		return mroute.Output, outs
	}
	return t.Output(outs, src, group, r.outDevice(oif, group, src), ttl)
}

// outDevice is the device a packet to group from src leaves by: oif, or
// its route's when oif is 0 (skb->dev = rt->dst.dev in ip_mr_output).
func (r *mcRouter) outDevice(oif int, group, src netip.Addr) int {
	if oif != 0 {
		return oif
	}
	return r.device(group, src)
}

// device returns the output device of the route to dst from src, 0 when
// there is none.
func (r *mcRouter) device(dst, src netip.Addr) int {
	k := [2]netip.Addr{dst, src}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.devs[k]; ok && now.Before(e.expires) {
		return e.ifindex
	}
	i, err := r.routeDev(dst, src)
	if err != nil {
		i = 0
	}
	if len(r.devs) > 1024 {
		clear(r.devs)
	}
	r.devs[k] = routeDev{i, now.Add(routeDevTTL)}
	return i
}
