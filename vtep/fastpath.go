package vtep

import (
	"context"
	"net/netip"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/fastpath"
)

// FastPath is a kernel transmit path for links (HostOptions.FastPath;
// fastpath.TX on Linux): a program on a link's overlay device that
// encapsulates the frames to the MAC addresses in its table and sends
// them itself, so that they never reach the transmit routines.
type FastPath interface {
	// AttachTX attaches a program with an empty table to the overlay
	// device of the link named name.
	AttachTX(name string) (FastTX, error)
	// Route returns the output interface and MTU of the route to dst;
	// ifindex 0 when there is none.
	Route(dst netip.Addr) (ifindex, mtu int)
}

// FastTX is one link's attached program and its table.
type FastTX interface {
	Set(mac header.MAC, d fastpath.Dest) error
	Delete(mac header.MAC) error
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

// routineFastTX keeps the link's kernel transmit path: attached while the
// link is up and eligible, its table holding the FDB entries the program
// can send to, rebuilt on every FDB change and every fastSyncInterval. Its
// counters are added to the link's.
func (l *Link) routineFastTX(ctx context.Context) {
	defer l.host.wg.Done()
	events, cancel := l.fdb.Subscribe(1024)
	defer cancel()
	tick := time.NewTicker(fastSyncInterval)
	defer tick.Stop()
	f := fastLink{l: l, set: map[header.MAC]fastpath.Dest{}, routes: map[netip.Addr][2]int{}}
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

// fastLink is routineFastTX's state.
type fastLink struct {
	l         *Link
	tx        FastTX
	set       map[header.MAC]fastpath.Dest // what the table holds
	routes    map[netip.Addr][2]int        // ifindex and MTU per remote, for one rebuild
	counted   fastpath.Stats               // the program's counters already added
	failed    bool                         // attaching failed (logged once)
	lastRetry time.Time
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
	}
	for mac := range f.set {
		if _, ok := want[mac]; !ok {
			if f.tx.Delete(mac) == nil {
				delete(f.set, mac)
			}
		}
	}
	for mac, d := range want {
		if old, ok := f.set[mac]; ok && old == d {
			continue
		}
		if f.tx.Set(mac, d) == nil {
			f.set[mac] = d
		}
	}
	f.count()
}

// count adds what the program sent since the last call to the link's
// counters.
func (f *fastLink) count() {
	s, err := f.tx.Stats()
	if err != nil {
		return
	}
	st := &f.l.stats
	dp, db := s.Packets-f.counted.Packets, s.Bytes-f.counted.Bytes
	st.TXPackets.Add(dp)
	st.TXBytes.Add(db)
	st.TXFastPackets.Add(dp)
	st.TXFastBytes.Add(db)
	f.l.vniStats.TXPackets.Add(dp)
	f.l.vniStats.TXBytes.Add(db)
	f.counted = s
}

// detach closes the program, counting what it sent last.
func (f *fastLink) detach() {
	if f.tx == nil {
		return
	}
	f.count()
	f.tx.Close()
	f.tx, f.counted = nil, fastpath.Stats{}
	clear(f.set)
	f.l.host.log.Info("kernel transmit path detached", "link", f.l.name)
}
