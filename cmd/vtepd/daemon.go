package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/nexthop"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/vtep"
)

// daemon owns the links of one network namespace: for each, a vtep.Link
// in the datapath and the TAP interface that carries its name. It keeps
// both in step with what users do through the control API and, through
// the kernel's notifications, with what they do to the interface
// directly.
type daemon struct {
	log   *slog.Logger
	sys   system
	host  *vtep.Host
	neigh *kernelnet.NeighTable
	hub   *hub
	// mroutes is the kernel's multicast routing for links with mcroute.
	mroutes *mcRouter

	mu      sync.Mutex // guards following
	links   map[string]*dlink
	byIndex map[int]*dlink
	// ifnames are the names of every interface of the namespace, from the
	// link notifications.
	ifnames map[int]string
	// addrs are the addresses of every interface, from the address
	// notifications.
	addrs map[int][]netip.Prefix
	// applied is the configuration file applied last, nil if none.
	applied *config.File
	closed  bool
}

// dlink is one link of the daemon.
type dlink struct {
	name  string
	index int
	link  *vtep.Link
	// dev is the link's TAP, for the I/O layer's counters.
	dev tap.Device
	// mtu is the interface MTU the link's configuration has; a
	// notification with another MTU is a change made with ip.
	mtu int
	// stop ends the link's event forwarding.
	stop func()
}

// newDaemon returns a daemon with no links. workers is the number of
// underlay sockets per port (vtep.HostOptions.Workers); sys opens TAPs
// with as many queues.
// pinThread, portByQueue, inj and fast are vtep.HostOptions.PinThread,
// SourcePortByQueue, Injector and FastPath.
func newDaemon(sys system, log *slog.Logger, defaultTTL uint8, workers int, pinThread func(worker int) error, portByQueue bool, inj vtep.Injector, fast vtep.FastPath) (*daemon, error) {
	d := &daemon{
		log:     log,
		sys:     sys,
		neigh:   kernelnet.NewNeighTable(),
		hub:     newHub(),
		links:   map[string]*dlink{},
		byIndex: map[int]*dlink{},
		ifnames: map[int]string{},
		addrs:   map[int][]netip.Prefix{},
		mroutes: newMCRouter(sys.RouteDevice, sys.ReportMulticast, sys.SendMulticast),
	}
	h, err := vtep.NewHost(vtep.HostOptions{
		MulticastRouter:   d.mroutes,
		Opener:            sys.Opener(),
		Neighbors:         neighbors{d.neigh},
		Ifindex:           d.ifindexOf,
		L3Master:          d.l3masterOf,
		DefaultTTL:        defaultTTL,
		Workers:           workers,
		Logger:            log,
		PinThread:         pinThread,
		SourcePortByQueue: portByQueue,
		Injector:          inj,
		FastPath:          fast,
	})
	if err != nil {
		return nil, err
	}
	d.host = h
	return d, nil
}

// neighbors adapts the kernel neighbour table to the datapath.
type neighbors struct{ t *kernelnet.NeighTable }

func (n neighbors) LookupNeighbor(link string, ip netip.Addr) (vtep.Neighbor, bool) {
	e, ok := n.t.Lookup(link, ip)
	return vtep.Neighbor{MAC: e.MAC, State: vtep.NUDState(e.State), Router: e.Router}, ok
}

// ifindexOf resolves a lower device name for multicast joins.
func (d *daemon) ifindexOf(name string) int {
	l, err := d.sys.LinkByName(name)
	if err != nil {
		return 0
	}
	return l.Index
}

// l3masterOf returns the VRF that is interface ifindex or the first one
// above it in its chain of masters, 0 if none
// (l3mdev_master_upper_ifindex_by_index): the device a link's sockets are
// bound to.
func (d *daemon) l3masterOf(ifindex int) int {
	for range maxMasterDepth {
		l, err := d.sys.LinkByIndex(ifindex)
		if err != nil {
			return 0
		}
		if l.Kind == "vrf" {
			return l.Index
		}
		if l.MasterIndex == 0 {
			return 0
		}
		ifindex = l.MasterIndex
	}
	return 0
}

// maxMasterDepth bounds the walk up a chain of masters (a port of a bond
// in a bridge in a VRF is three steps).
const maxMasterDepth = 8

// close deletes every link (removing their interfaces) and stops the
// datapath.
func (d *daemon) close() {
	d.mu.Lock()
	d.closed = true
	for _, dl := range d.links {
		dl.stop()
	}
	d.links, d.byIndex = map[string]*dlink{}, map[int]*dlink{}
	d.mu.Unlock()
	d.host.Close()
	d.hub.close()
}

// randomMAC returns a random unicast, locally administered address, as
// eth_hw_addr_random does.
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&^0x01 | 0x02
	return m
}

// lowerMTU returns the MTU of cfg's lower device, 0 without one.
func (d *daemon) lowerMTU(cfg *config.Link) (int, error) {
	if cfg.Dev == "" {
		return 0, nil
	}
	l, err := d.sys.LinkByName(cfg.Dev)
	if err != nil {
		if errors.Is(err, kernelnet.ErrNotFound) {
			return 0, control.ErrNoDevice(cfg.Dev)
		}
		return 0, err
	}
	return l.MTU, nil
}

// vniInUseLocked is vxlan_vni_in_use against the daemon's links, so that
// a refused link add never creates an interface.
func (d *daemon) vniInUseLocked(cfg *config.Link, self string) error {
	mask := config.RcvFlags | config.FlagIPv6
	for name, dl := range d.links {
		if name == self {
			continue
		}
		o := dl.link.Config()
		if o.VNI == cfg.VNI && o.Port() == cfg.Port() && o.Flags()&mask == cfg.Flags()&mask && !o.VNIFilter {
			return control.ExtAck(syscall.EEXIST, "A VXLAN device with the specified VNI already exists")
		}
	}
	return nil
}

// hostError converts the datapath's errors into iproute2's words.
func hostError(err error) error {
	var vu *vtep.VNIInUseError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &vu):
		return control.ExtAck(syscall.EEXIST, "A VXLAN device with the specified VNI already exists")
	case errors.Is(err, vtep.ErrNotFound):
		return control.Rtnetlink(syscall.ENODEV)
	}
	return err
}

// addLinkLocked creates a link: `ip link add NAME type vxlan ...`. On
// error nothing is left behind.
func (d *daemon) addLinkLocked(cfg config.Link, up bool) (*dlink, error) {
	if d.closed {
		return nil, control.Rtnetlink(syscall.ESHUTDOWN)
	}
	if _, ok := d.links[cfg.Name]; ok {
		return nil, control.Rtnetlink(syscall.EEXIST)
	}
	if _, err := d.sys.LinkByName(cfg.Name); err == nil {
		return nil, control.Rtnetlink(syscall.EEXIST)
	} else if !errors.Is(err, kernelnet.ErrNotFound) {
		return nil, err
	}
	lower, err := d.lowerMTU(&cfg)
	if err != nil {
		return nil, err
	}
	// vxlan_config_apply: without an MTU the device gets the largest its
	// lower device allows; a larger MTU is clamped to it.
	if cfg.MTU == 0 {
		cfg.MTU = cfg.DeviceMTU(lower)
	}
	cfg.MTU = min(cfg.MTU, cfg.MaxMTU(lower))
	if cfg.Address.IsZero() {
		cfg.Address = randomMAC()
	}
	if err := d.vniInUseLocked(&cfg, ""); err != nil {
		return nil, err
	}
	dev, idx, err := d.sys.OpenTAP(cfg.Name, cfg.Address, cfg.MTU)
	if err != nil {
		return nil, err
	}
	l, err := d.host.AddLink(cfg, dev)
	if err != nil {
		dev.Close()
		return nil, hostError(err)
	}
	dl := &dlink{name: cfg.Name, index: idx, link: l, dev: dev, mtu: cfg.MTU}
	dl.stop = d.forwardEvents(dl)
	d.links[dl.name] = dl
	d.byIndex[idx] = dl
	d.ifnames[idx] = dl.name
	if up {
		if err := d.setUpLocked(dl, true); err != nil {
			d.removeLocked(dl)
			return nil, err
		}
	}
	d.log.Info("link created", "link", cfg.Name, "ifindex", idx, "mtu", cfg.MTU, "args", cfg.Args())
	return dl, nil
}

// removeLocked deletes a link from the datapath, which closes its TAP and
// so removes the interface.
func (d *daemon) removeLocked(dl *dlink) {
	delete(d.links, dl.name)
	delete(d.byIndex, dl.index)
	dl.stop()
	if err := d.host.DelLink(dl.name); err != nil {
		d.log.Warn("deleting link", "link", dl.name, "err", err)
	}
	d.neigh.DeleteLink(dl.name)
}

// setUpLocked brings a link up or down, datapath and interface together
// (`ip link set NAME up|down`). Down flushes the dynamic FDB entries as
// vxlan_stop does.
func (d *daemon) setUpLocked(dl *dlink, up bool) error {
	if up {
		if err := dl.link.SetUp(true); err != nil {
			return err
		}
		if err := d.sys.SetUp(dl.index, true); err != nil {
			dl.link.SetUp(false)
			return err
		}
		return nil
	}
	if err := d.sys.SetUp(dl.index, false); err != nil && !errors.Is(err, kernelnet.ErrNotFound) {
		return err
	}
	return dl.link.SetUp(false)
}

// changeLocked applies a new configuration (`ip link set NAME [mtu MTU]
// [address LLADDR] type vxlan ...`): first to the datapath, which refuses
// what the kernel refuses, then to the interface; a failure undoes what
// was done.
func (d *daemon) changeLocked(dl *dlink, cfg config.Link) error {
	old := dl.link.Config()
	cfg.Name = dl.name
	if cfg.Address.IsZero() {
		cfg.Address = old.Address
	}
	lower, err := d.lowerMTU(&cfg)
	if err != nil {
		return err
	}
	switch {
	case cfg.MTU == 0:
		cfg.MTU = old.MTU
	case cfg.MTU != old.MTU && cfg.MTU > cfg.MaxMTU(lower):
		// vxlan_change_mtu: -EINVAL, no extended ack.
		return control.Rtnetlink(syscall.EINVAL)
	}
	if cfg.Dev != old.Dev {
		// vxlan_config_apply with changelink: a new lower device may
		// lower the largest MTU.
		cfg.MTU = min(cfg.MTU, cfg.MaxMTU(lower))
	}
	if cfg == old {
		return nil
	}
	if err := dl.link.Change(cfg); err != nil {
		return err
	}
	undo := func() { dl.link.Change(old) }
	if cfg.MTU != old.MTU {
		if err := d.sys.SetMTU(dl.index, cfg.MTU); err != nil {
			undo()
			return err
		}
		dl.mtu = cfg.MTU
	}
	if cfg.Address != old.Address {
		if err := d.sys.SetMAC(dl.index, cfg.Address); err != nil {
			if cfg.MTU != old.MTU {
				d.sys.SetMTU(dl.index, old.MTU)
				dl.mtu = old.MTU
			}
			undo()
			return err
		}
	}
	return nil
}

// onLink handles a link notification: what a user did to an interface
// with ip.
func (d *daemon) onLink(ev kernelnet.LinkEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Resync {
		// Links deleted while the subscription was down are found now.
		for _, dl := range d.links {
			if _, err := d.sys.LinkByIndex(dl.index); errors.Is(err, kernelnet.ErrNotFound) {
				d.log.Info("link deleted with ip", "link", dl.name)
				d.removeLocked(dl)
			}
		}
		return
	}
	kl := ev.Link
	if ev.Deleted {
		delete(d.ifnames, kl.Index)
		delete(d.addrs, kl.Index)
		d.updateLocalAddrsLocked()
		if dl := d.byIndex[kl.Index]; dl != nil && !d.closed {
			d.log.Info("link deleted with ip", "link", dl.name)
			d.removeLocked(dl)
		}
		// The kernel deletes a vxlan device whose lower device goes away
		// (vxlan_handle_lowerdev_unregister).
		for _, dl := range d.links {
			if dl.link.Config().Dev == kl.Name {
				d.log.Info("lower device deleted, deleting link", "link", dl.name, "dev", kl.Name)
				d.removeLocked(dl)
			}
		}
		return
	}
	d.ifnames[kl.Index] = kl.Name
	dl := d.byIndex[kl.Index]
	if dl == nil || d.closed {
		return
	}
	// Act on the interface as it is now, not as this (possibly old)
	// notification saw it.
	fresh, err := d.sys.LinkByIndex(kl.Index)
	if err != nil {
		return // a deletion notification follows
	}
	kl = fresh
	// netif_is_any_bridge_port: a frame too big for the path MTU is then
	// answered with an ICMP error instead of being sent.
	bridgePort := false
	if kl.MasterIndex != 0 {
		if m, err := d.sys.LinkByIndex(kl.MasterIndex); err == nil {
			bridgePort = m.Kind == "bridge" || m.Kind == "openvswitch"
		}
	}
	if bridgePort != dl.link.BridgePort() {
		dl.link.SetBridgePort(bridgePort)
		d.log.Info("bridge port state changed", "link", dl.name, "bridge_port", bridgePort)
	}
	if kl.Name != dl.name {
		d.log.Warn("vtep links cannot be renamed; the link keeps its name in vtepd", "link", dl.name, "ifname", kl.Name)
	}
	if up := kl.IsUp(); up != dl.link.IsUp() {
		if err := dl.link.SetUp(up); err != nil {
			d.log.Warn("link set up with ip failed in the datapath, setting it down", "link", dl.name, "err", err)
			d.sys.SetUp(dl.index, false)
		} else {
			d.log.Info("link state changed with ip", "link", dl.name, "up", up)
		}
	}
	cfg := dl.link.Config()
	changed := false
	if kl.MTU != dl.mtu {
		lower, err := d.lowerMTU(&cfg)
		if err == nil {
			err = cfg.CheckMTU(kl.MTU, lower)
		}
		if err != nil {
			// The kernel would refuse this MTU (vxlan_change_mtu); a TAP
			// cannot, so it is set back.
			d.log.Warn("MTU above what the lower device allows, restoring", "link", dl.name, "mtu", kl.MTU, "restored", dl.mtu, "err", err)
			d.sys.SetMTU(dl.index, dl.mtu)
		} else {
			cfg.MTU, changed = kl.MTU, true
			dl.mtu = kl.MTU
		}
	}
	if !kl.MAC.IsZero() && kl.MAC != cfg.Address {
		cfg.Address, changed = kl.MAC, true
	}
	if changed {
		if err := dl.link.Change(cfg); err != nil {
			d.log.Warn("applying an interface change", "link", dl.name, "err", err)
		} else {
			d.log.Info("link changed with ip", "link", dl.name, "mtu", cfg.MTU, "address", cfg.Address.String())
		}
	}
}

// onNeigh handles a neighbour notification for one of the links'
// onNexthops takes a full dump of the kernel's nexthops (from the watch)
// and deletes the FDB entries of the ones that are gone.
func (d *daemon) onNexthops(nhs []nexthop.Nexthop) {
	if n := d.host.SetNexthops(nhs); n > 0 {
		d.log.Info("fdb entries of deleted nexthops deleted", "entries", n)
	}
}

// onMulticastRoutes takes a full dump of the kernel's multicast routing
// state (from the watch) for links with mcroute, and sends the packets
// held for the routes that came.
func (d *daemon) onMulticastRoutes(m kernelnet.MulticastRoutes) {
	d.mroutes.set(m)
	d.host.ResolveMulticast()
}

// refreshNexthops reads the kernel's nexthops now.
func (d *daemon) refreshNexthops() {
	nhs, err := d.sys.Nexthops()
	if err != nil {
		d.log.Warn("cannot read the kernel's nexthops", "err", err)
		return
	}
	d.onNexthops(nhs)
}

// interfaces: the table proxy ARP/ND and route short-circuit read.
func (d *daemon) onNeigh(ev kernelnet.NeighEvent) {
	if ev.Resync {
		d.neigh.Clear()
		return
	}
	d.mu.Lock()
	dl := d.byIndex[ev.Ifindex]
	d.mu.Unlock()
	if dl == nil {
		return
	}
	if ev.Deleted {
		d.neigh.Delete(dl.name, ev.IP)
		return
	}
	d.neigh.Set(dl.name, ev.IP, kernelnet.Neigh{MAC: ev.MAC, State: ev.State, Router: ev.Router})
}

// onAddr handles an address notification: the host's local addresses
// decide local bypass and the default outer source.
func (d *daemon) onAddr(ev kernelnet.AddrEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Resync {
		clear(d.addrs)
		return
	}
	ps := d.addrs[ev.Ifindex]
	ps = slices.DeleteFunc(ps, func(p netip.Prefix) bool { return p == ev.Prefix })
	if !ev.Deleted {
		ps = append(ps, ev.Prefix)
	}
	if len(ps) == 0 {
		delete(d.addrs, ev.Ifindex)
	} else {
		d.addrs[ev.Ifindex] = ps
	}
	d.updateLocalAddrsLocked()
}

// updateLocalAddrsLocked gives the datapath the host's addresses, ordered
// so that the first of each family is a good outer source: addresses of
// interfaces other than the links' own first, global before link-local,
// loopback last; then by interface index.
func (d *daemon) updateLocalAddrsLocked() {
	type ia struct {
		rank, index int
		addr        netip.Addr
	}
	var all []ia
	for idx, ps := range d.addrs {
		for _, p := range ps {
			a := p.Addr()
			rank := 0
			switch {
			case a.IsLoopback():
				rank = 3
			case d.byIndex[idx] != nil:
				rank = 2
			case a.IsLinkLocalUnicast():
				rank = 1
			}
			all = append(all, ia{rank, idx, a})
		}
	}
	slices.SortFunc(all, func(x, y ia) int {
		if x.rank != y.rank {
			return x.rank - y.rank
		}
		if x.index != y.index {
			return x.index - y.index
		}
		return x.addr.Compare(y.addr)
	})
	out := make([]netip.Addr, len(all))
	for i, x := range all {
		out[i] = x.addr
	}
	d.host.SetLocalAddrs(out)
}

// ifname returns the name of interface i, or "".
func (d *daemon) ifnameLocked(i int) string {
	if i == 0 {
		return ""
	}
	if n, ok := d.ifnames[i]; ok {
		return n
	}
	if l, err := d.sys.LinkByIndex(i); err == nil {
		return l.Name
	}
	return ""
}

// fdbRequest builds the request a bridge fdb line of the configuration
// file sends.
func fdbRequestOf(e *config.FDBSpec, via int) fdb.Request {
	r := fdb.Request{
		MAC: e.MAC, Flags: fdb.FlagSelf, Dst: e.Dst, Port: e.Port,
		VNI: e.VNI, HasVNI: true, SrcVNI: e.SrcVNI, HasSrcVNI: true, Ifindex: via,
	}
	if e.NHID != 0 {
		// A nexthop entry: no remote of its own (vxlan_fdb_parse).
		r.Port, r.VNI, r.HasVNI, r.NHID = 0, 0, false, e.NHID
	}
	switch e.State {
	case config.FDBPermanent:
		r.State = fdb.StateNoARP | fdb.StatePermanent
	case config.FDBStatic:
		r.State = fdb.StateNoARP | fdb.StateReachable
	default:
		r.State = fdb.StateReachable
	}
	if e.Router {
		r.Flags |= fdb.FlagRouter
	}
	if e.ExternLearn {
		r.Flags |= fdb.FlagExtLearned
	}
	return r
}

// viaIndex resolves a `via DEV` name.
func (d *daemon) viaIndex(via string) (int, error) {
	if via == "" {
		return 0, nil
	}
	l, err := d.sys.LinkByName(via)
	if err != nil {
		if errors.Is(err, kernelnet.ErrNotFound) {
			return 0, control.ErrNoDevice(via)
		}
		return 0, err
	}
	return l.Index, nil
}

// updateFDBLocked performs one bridge fdb request on a link.
func (d *daemon) updateFDBLocked(dl *dlink, op control.FDBOp, req fdb.Request) error {
	t := dl.link.FDB()
	if req.NHID != 0 && errors.Is(d.host.Nexthops().CheckFDB(req.NHID, t.IPv6()), nexthop.ErrNotExist) {
		// `ip nexthop add` may have just run: read the kernel's
		// nexthops now rather than wait for the notification.
		d.refreshNexthops()
	}
	switch op {
	case control.FDBAdd:
		return t.Add(req)
	case control.FDBAppend:
		return t.Append(req)
	case control.FDBReplace:
		return t.Replace(req)
	case control.FDBDel:
		return t.Delete(req)
	}
	return fmt.Errorf("vtepd: unknown fdb operation %q", op)
}
