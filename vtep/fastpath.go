package vtep

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/fastpath"
)

// FastPath is a kernel data path for links (HostOptions.FastPath; package
// fastpath on Linux). Its transmit program on a link's overlay device
// encapsulates the frames to the MAC addresses in its table and sends them
// itself, so that they never reach the transmit routines. Its receive
// program on the underlay devices decapsulates the link's packets from
// the MAC addresses in its table into the overlay device's receive path,
// so that they never reach the sockets.
type FastPath interface {
	// AttachTX attaches a program with an empty table to the overlay
	// device of the link named name.
	AttachTX(name string) (FastTX, error)
	// LoadRX loads a receive program with an empty table for the link
	// named name, taking its packets to cfg.Local, cfg.Port, cfg.VNI
	// (cfg.Overlay is left to LoadRX). It is attached to no device yet.
	LoadRX(name string, cfg fastpath.RXConfig) (FastRX, error)
	// Route returns the output interface and MTU of the route to dst;
	// ifindex 0 when there is none.
	Route(dst netip.Addr) (ifindex, mtu int)
}

// FastTX is one link's attached program and its table.
type FastTX interface {
	Set(mac header.MAC, d fastpath.Dest) error
	Delete(mac header.MAC) error
	// Used returns the destinations the program sent frames to since
	// the last call.
	Used() ([]header.MAC, error)
	Stats() (fastpath.Stats, error)
	Close() error
}

// FastRX is one link's receive program and its table of sources.
type FastRX interface {
	// Attach and Detach attach the program to the ingress of an
	// underlay device, and take it off.
	Attach(ifindex int) error
	Detach(ifindex int) error
	// Set lets the program take frames from mac when they come from
	// remote, or from anywhere when remote is the zero Addr.
	Set(mac header.MAC, remote netip.Addr) error
	Delete(mac header.MAC) error
	// Seen returns the sources the program took frames from since the
	// last call.
	Seen() ([]header.MAC, error)
	Stats() (fastpath.Stats, error)
	Close() error
}

// fastSyncInterval is how often the table is rebuilt without an FDB
// change, for what no event reports: routes and their MTUs, the host's
// addresses.
const fastSyncInterval = time.Second

// fastEligible reports whether the program can send a link's unicast
// frames as xmit would: a plain VXLAN link with an IPv4 source address, and
// outer header fields that do not depend on the frame beyond its ECN bits.
// Proxy ARP/ND links are left out because neighbour solicitations go to
// unicast MAC addresses too.
//
// The program sends a zero outer UDP checksum whatever "udpcsum" says:
// it has no way to mark a GSO packet SKB_GSO_UDP_TUNNEL_CSUM. Zero is
// what RFC 7348 section 5 recommends, and what every IPv4 receiver takes
// as "no checksum".
func fastEligible(st *linkState) bool {
	return !st.external && !st.cfg.VNIFilter && !st.proxy && !st.gbp && !st.gpe &&
		!st.remcsumTX && !st.ttlInherit && st.tos != config.TOSInherit &&
		st.df != config.DFInherit && st.local.Is4()
}

// fastDest returns where the program is to send the frames to the MAC
// address of FDB entry e, and false when they must go through xmit: a
// router entry under route short-circuit, a nexthop group, more than one
// remote, a multicast or IPv6 remote, one of the host's own addresses
// (local bypass), or no route. routes holds the routes already asked for
// in this rebuild: many MAC addresses sit behind one remote.
func (l *Link) fastDest(st *linkState, e *fdb.Entry, routes map[netip.Addr][2]int) (fastpath.Dest, bool) {
	if e.NHID() != 0 || (st.rsc && e.IsRouter()) {
		return fastpath.Dest{}, false
	}
	rs := e.Remotes()
	if len(rs) != 1 || rs[0].BridgeLocal() {
		return fastpath.Dest{}, false
	}
	r := rs[0]
	dst := r.IP.Unmap()
	if !dst.Is4() || dst.IsMulticast() || dst.IsUnspecified() || (st.localBypass && l.host.isLocal(dst)) {
		return fastpath.Dest{}, false
	}
	rt, ok := routes[dst]
	if !ok {
		rt[0], rt[1] = l.host.fast.Route(dst)
		routes[dst] = rt
	}
	oif, mtu := rt[0], rt[1]
	if r.Ifindex != 0 {
		oif = r.Ifindex
	}
	if oif == 0 || mtu <= fastpath.HeaderLen {
		return fastpath.Dest{}, false
	}
	ttl := st.ttl
	if ttl == 0 {
		ttl = l.host.ttl
	}
	return fastpath.Dest{
		Src: st.local, Dst: dst,
		Port: r.TxPort(st.port), VNI: r.TxVNI(st.vni),
		TTL: ttl, TOS: st.tos, DF: st.df == config.DFSet,
		Ifindex: oif, MaxLen: mtu - fastpath.HeaderLen + header.EthernetSize,
		PortMin: st.srcMin, PortMax: st.srcMax,
	}, true
}

// kickFast asks the link's fast path routine to bring its table up to
// date now (after a change of state or configuration).
func (l *Link) kickFast() {
	select {
	case l.fastKick <- struct{}{}:
	default:
	}
}

// routineFast keeps the link's kernel data path: attached while the link
// is up and eligible, the tables holding the FDB entries the programs can
// send to and take frames from, rebuilt on every FDB change and every
// fastSyncInterval. The programs' counters are added to the link's, the
// destinations the transmit program sent to have their "used" time
// refreshed, and the sources the receive program took frames from are
// learned again (vxlan_snoop's refresh of "updated"), so that ageing sees
// them.
func (l *Link) routineFast(ctx context.Context) {
	defer l.host.wg.Done()
	events, cancel := l.fdb.Subscribe(1024)
	defer cancel()
	tick := time.NewTicker(fastSyncInterval)
	defer tick.Stop()
	f := fastLink{
		l: l, set: map[header.MAC]fastpath.Dest{}, routes: map[netip.Addr][2]int{},
		rxSet: map[header.MAC]netip.Addr{}, rxIfs: map[int]bool{},
	}
	defer f.detach()
	for {
		f.sync()
		select {
		case <-ctx.Done():
			return
		case <-events:
			// Take the other pending events too: one rebuild covers them.
			for drained := false; !drained; {
				select {
				case <-events:
				default:
					drained = true
				}
			}
		case <-l.fastKick:
		case <-tick.C:
		}
	}
}

// fastLink is routineFast's state.
type fastLink struct {
	l         *Link
	tx        FastTX
	set       map[header.MAC]fastpath.Dest // what the table holds
	routes    map[netip.Addr][2]int        // ifindex and MTU per remote, for one rebuild
	counted   fastpath.Stats               // the program's counters already added
	failed    bool                         // attaching failed (logged once)
	lastRetry time.Time

	rx        FastRX
	rxCfg     fastpath.RXConfig
	rxSet     map[header.MAC]netip.Addr // what the source table holds
	rxIfs     map[int]bool              // underlay devices it is attached to
	rxCounted fastpath.Stats
	rxFailed  bool
	rxRetry   time.Time
}

// sync attaches or detaches the program and rebuilds its table.
func (f *fastLink) sync() {
	l := f.l
	st := l.state.Load()
	if !l.up.Load() || l.gone.Load() || !fastEligible(st) {
		f.detach()
		return
	}
	if f.tx == nil {
		if f.failed && time.Since(f.lastRetry) < 10*time.Second {
			return
		}
		tx, err := l.host.fast.AttachTX(l.name)
		if err != nil {
			if !f.failed {
				l.host.log.Warn("kernel transmit path not attached; every frame goes through vtepd", "link", l.name, "err", err)
			}
			f.failed, f.lastRetry = true, time.Now()
			return
		}
		f.tx, f.failed = tx, false
		l.host.log.Info("kernel transmit path attached", "link", l.name)
	}
	want := make(map[header.MAC]fastpath.Dest, len(f.set))
	wantRX := make(map[header.MAC]netip.Addr, len(f.rxSet))
	clear(f.routes)
	for e := range l.fdb.Entries() {
		k := e.Key()
		// Without external mode every key has the link's VNI.
		if k.MAC.IsMulticast() || k.MAC.IsZero() {
			continue
		}
		if d, ok := l.fastDest(st, e, f.routes); ok {
			want[k.MAC] = d
		}
		if r, ok := fastSource(st, e); ok {
			wantRX[k.MAC] = r
		}
	}
	// What the program sent refreshes its entries' "used" time, as a
	// lookup in xmit would (vxlan_find_mac_tx), here at most
	// fastSyncInterval late.
	if used, _ := f.tx.Used(); len(used) > 0 {
		l.fdb.Tick()
		for _, mac := range used {
			if _, ok := f.set[mac]; ok {
				l.fdb.Lookup(mac, st.vni)
			}
		}
	}
	reconcile(f.set, want, f.tx.Set, f.tx.Delete)
	f.count()
	f.syncRX(st, wantRX)
}

// reconcile brings a program's table to want: it deletes the entries of
// have (what the table holds) that want lacks and sets those that differ,
// recording in have each change that succeeded; a failed one is tried
// again at the next rebuild.
func reconcile[V comparable](have, want map[header.MAC]V, set func(header.MAC, V) error, del func(header.MAC) error) {
	for mac := range have {
		if _, ok := want[mac]; !ok && del(mac) == nil {
			delete(have, mac)
		}
	}
	for mac, v := range want {
		if old, ok := have[mac]; ok && old == v {
			continue
		}
		if set(mac, v) == nil {
			have[mac] = v
		}
	}
}

// fastSource returns what the receive program's table holds for the MAC
// address of FDB entry e: with learning, the address of its first remote,
// the one vxlan_snoop compares the outer source with, and false when that
// is no unicast IPv4 address or names an interface; without, the zero
// Addr: any source. The link's own address is never in it (vxlan_set_mac
// drops those frames).
func fastSource(st *linkState, e *fdb.Entry) (netip.Addr, bool) {
	if e.Key().MAC == st.mac {
		return netip.Addr{}, false
	}
	if !st.learn {
		return netip.Addr{}, true
	}
	rs := e.Remotes()
	if len(rs) == 0 || rs[0].BridgeLocal() || rs[0].Ifindex != 0 {
		// A remote "via" an interface: learning compares the
		// interface too (0 for IPv4), and would move or drop.
		return netip.Addr{}, false
	}
	ip := rs[0].IP.Unmap()
	if !ip.Is4() || ip.IsMulticast() || ip.IsUnspecified() {
		return netip.Addr{}, false
	}
	return ip, true
}

// syncRX loads the receive program for the link's configuration, learns
// the sources it took frames from, brings its table to want and attaches
// it to the devices of the routes to the remotes.
func (f *fastLink) syncRX(st *linkState, want map[header.MAC]netip.Addr) {
	l := f.l
	cfg := fastpath.RXConfig{Local: st.local, Port: st.port, VNI: st.vni}
	if f.rx != nil && f.rxCfg != cfg {
		f.detachRX()
	}
	if f.rx == nil {
		if f.rxFailed && time.Since(f.rxRetry) < 10*time.Second {
			return
		}
		rx, err := l.host.fast.LoadRX(l.name, cfg)
		if err != nil {
			if !f.rxFailed {
				l.host.log.Warn("kernel receive path not loaded; every packet goes through vtepd", "link", l.name, "err", err)
			}
			f.rxFailed, f.rxRetry = true, time.Now()
			return
		}
		f.rx, f.rxCfg, f.rxFailed = rx, cfg, false
	}
	if seen, _ := f.rx.Seen(); st.learn {
		for _, mac := range seen {
			// Not if the FDB has moved it meanwhile: that frame
			// came before the move.
			if ip, ok := f.rxSet[mac]; ok && ip.IsValid() && want[mac] == ip {
				l.snoop(mac, st.vni, ip, 0)
			}
		}
	}
	reconcile(f.rxSet, want, f.rx.Set, f.rx.Delete)
	ifs := map[int]bool{}
	for _, rt := range f.routes {
		if rt[0] != 0 {
			ifs[rt[0]] = true
		}
	}
	for i := range f.rxIfs {
		if !ifs[i] && f.rx.Detach(i) == nil {
			delete(f.rxIfs, i)
		}
	}
	for i := range ifs {
		if f.rxIfs[i] {
			continue
		}
		if err := f.rx.Attach(i); err != nil {
			l.host.log.Warn("kernel receive path not attached", "link", l.name, "ifindex", i, "err", err)
			continue
		}
		f.rxIfs[i] = true
		l.host.log.Info("kernel receive path attached", "link", l.name, "ifindex", i)
	}
	f.countRX()
}

// count adds what the transmit program sent since the last call to the
// link's counters.
func (f *fastLink) count() {
	st, vs := &f.l.stats, &f.l.vniStats
	addFast(f.tx, &f.counted, &st.TXPackets, &st.TXBytes, &st.TXFastPackets, &st.TXFastBytes, &vs.TXPackets, &vs.TXBytes)
}

// countRX adds what the receive program delivered since the last call to
// the link's counters.
func (f *fastLink) countRX() {
	st, vs := &f.l.stats, &f.l.vniStats
	addFast(f.rx, &f.rxCounted, &st.RXPackets, &st.RXBytes, &st.RXFastPackets, &st.RXFastBytes, &vs.RXPackets, &vs.RXBytes)
}

// statser is either program: its counters.
type statser interface {
	Stats() (fastpath.Stats, error)
}

// addFast adds a program's counters, less what counted holds, to each
// packets and bytes pair, and sets counted to them.
func addFast(p statser, counted *fastpath.Stats, pairs ...*atomic.Uint64) {
	s, err := p.Stats()
	if err != nil {
		return
	}
	dp, db := s.Packets-counted.Packets, s.Bytes-counted.Bytes
	for i := 0; i+1 < len(pairs); i += 2 {
		pairs[i].Add(dp)
		pairs[i+1].Add(db)
	}
	*counted = s
}

// detachRX closes the receive program, counting what it delivered last.
func (f *fastLink) detachRX() {
	if f.rx == nil {
		return
	}
	f.countRX()
	f.rx.Close()
	f.rx, f.rxCounted = nil, fastpath.Stats{}
	clear(f.rxSet)
	clear(f.rxIfs)
	f.l.host.log.Info("kernel receive path detached", "link", f.l.name)
}

// detach closes the programs, counting what they sent and delivered last.
func (f *fastLink) detach() {
	f.detachRX()
	if f.tx == nil {
		return
	}
	f.count()
	f.tx.Close()
	f.tx, f.counted = nil, fastpath.Stats{}
	clear(f.set)
	f.l.host.log.Info("kernel transmit path detached", "link", f.l.name)
}
