package vtep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// Link is one VXLAN device: a configuration snapshot, a forwarding
// database, an overlay port (tap.Device) and counters. It is created by
// Host.AddLink. Its methods are safe for concurrent use.
//
// The configuration is an immutable snapshot swapped atomically by Change,
// so the datapath reads it without locks.
type Link struct {
	host  *Host
	name  string
	dev   tap.Device
	ports []*port // dev's queues (dev itself unless it is a MultiQueue)
	meta  bool    // the ports carry frame metadata (tap.MetaDevice)
	fdb   *fdb.Table

	state atomic.Pointer[linkState]
	up    atomic.Bool
	gone  atomic.Bool

	socks atomic.Pointer[linkSockets] // opened by SetUp(true), released by SetUp(false)

	stats     Stats
	vniStats  VNIStats // the link's VNI (without vnifilter)
	vniFilter atomic.Pointer[vniFilter]
	misses    missHub

	defaultMark atomic.Uint32
	bridgePort  atomic.Bool // SetBridgePort

	mu      sync.Mutex // serialises Change, SetUp and VNI filter changes
	stopFDB context.CancelFunc

	fastKick chan struct{} // wakes routineFast (HostOptions.FastPath)
}

// linkState is the datapath's view of a configuration, derived once per
// change.
type linkState struct {
	cfg   config.Link
	flags config.Flags
	mac   header.MAC

	v6             bool
	vni            header.VNI
	port           uint16
	srcMin, srcMax uint16
	local          netip.Addr // valid, specified outer source, or zero

	learn, proxy, rsc, l2miss, l3miss bool
	external, gbp, gpe                bool
	remcsumRX, remcsumTX, localBypass bool
	udpCsum4, udpCsum6                bool
	udp6ZeroRX                        bool
	mcroute                           bool // packets to groups are multicast-routed

	ttl          uint8
	ttlInherit   bool
	tos          uint8 // config.TOSInherit means inherit
	df           config.DF
	label        uint32
	labelInherit bool

	rsvFlags, rsvVNI uint32 // reserved_bits, as two header words
	mtu              int    // the device MTU (a whole TCP packet longer is a GSO burst)

	group        netip.Addr // multicast default destination, or zero
	groupIfindex int

	// ifindex is the lower device's (`dev`, the kernel's remote_ifindex),
	// 0 for none. A linkLocal link (VXLAN_F_IPV6_LINKLOCAL) receives only
	// from it.
	ifindex   int
	linkLocal bool
}

func (h *Host) newLinkState(cfg config.Link) *linkState {
	fl := cfg.Flags()
	st := &linkState{
		cfg:          cfg,
		flags:        fl,
		mac:          cfg.Address,
		v6:           cfg.IsIPv6(),
		vni:          cfg.VNI,
		port:         cfg.Port(),
		learn:        fl&config.FlagLearn != 0,
		proxy:        cfg.Proxy,
		rsc:          cfg.RSC,
		l2miss:       cfg.L2Miss,
		l3miss:       cfg.L3Miss,
		external:     cfg.External,
		gbp:          cfg.GBP,
		gpe:          cfg.GPE,
		remcsumRX:    cfg.RemCsumRX,
		remcsumTX:    cfg.RemCsumTX,
		localBypass:  !cfg.NoLocalBypass,
		mcroute:      cfg.MCRoute,
		udpCsum4:     !cfg.NoUDPCsum,
		udpCsum6:     !cfg.UDP6ZeroCsumTX,
		udp6ZeroRX:   cfg.UDP6ZeroCsumRX,
		ttl:          cfg.TTL,
		ttlInherit:   cfg.TTLInherit,
		tos:          cfg.TOS,
		df:           cfg.DF,
		label:        cfg.FlowLabel & config.MaxFlowLabel,
		labelInherit: cfg.LabelPolicy == config.LabelInherit,
	}
	st.srcMin, st.srcMax = cfg.SourcePortRange()
	if st.mtu = cfg.MTU; st.mtu == 0 {
		st.mtu = config.DefaultMTU
	}
	if cfg.Local.IsValid() && !cfg.Local.IsUnspecified() {
		st.local = cfg.Local.Unmap()
	}
	rb := cfg.EffectiveReservedBits()
	st.rsvFlags, st.rsvVNI = uint32(rb>>32), uint32(rb)
	if h.ifindex != nil && cfg.Dev != "" {
		st.ifindex = h.ifindex(cfg.Dev)
	}
	st.linkLocal = fl&config.FlagIPv6LinkLocal != 0
	if cfg.IsGroup() {
		st.group = cfg.Remote.Unmap()
		st.groupIfindex = st.ifindex
	}
	return st
}

// vniFilter is the VNI list of a vnifilter link (`bridge vni`): an
// immutable map swapped on change.
type vniFilter struct {
	stats  map[header.VNI]*VNIStats
	groups map[header.VNI]netip.Addr
}

func newLink(h *Host, cfg config.Link, dev tap.Device) (*Link, error) {
	fc := fdb.Config{
		VNI:        cfg.VNI,
		Port:       cfg.Port(),
		IPv6:       cfg.IsIPv6(),
		External:   cfg.External,
		Ageing:     cfg.AgeingTime(),
		MaxAddress: cfg.MaxAddress,
		Clock:      h.clock,
		Nexthops:   h.nexthops,
	}
	if cfg.HasRemote() {
		fc.Remote = cfg.Remote.Unmap()
		if h.ifindex != nil && cfg.Dev != "" {
			fc.RemoteIfindex = h.ifindex(cfg.Dev)
		}
	}
	t, err := fdb.New(fc)
	if err != nil {
		return nil, err
	}
	l := &Link{
		host:  h,
		name:  cfg.Name,
		dev:   dev,
		fdb:   t,
		ports: newPorts(dev),

		fastKick: make(chan struct{}, 1),
	}
	l.meta = l.ports[0].mdev != nil
	if h.inj != nil {
		for _, p := range l.ports {
			if w, ok := p.dev.(wholeSuperFrames); ok && p.mdev != nil {
				w.SetWholeSuperFrames(true)
			}
		}
	}
	l.state.Store(h.newLinkState(cfg))
	l.defaultMark.Store(cfg.GBPMark) // "gbpmark" (config.Link.GBPMark)
	l.vniFilter.Store(&vniFilter{})
	return l, nil
}

// Name returns the link's name.
func (l *Link) Name() string { return l.name }

// Config returns the link's current configuration.
func (l *Link) Config() config.Link { return l.state.Load().cfg }

// MAC returns the link's Ethernet address.
func (l *Link) MAC() header.MAC { return l.state.Load().mac }

// FDB returns the link's forwarding database, for `bridge fdb` requests.
func (l *Link) FDB() *fdb.Table { return l.fdb }

// Device returns the link's overlay port.
func (l *Link) Device() tap.Device { return l.dev }

// IsUp reports whether the link is administratively up.
func (l *Link) IsUp() bool { return l.up.Load() }

// SetBridgePort says whether the link's interface is a port of a bridge
// (or an Open vSwitch datapath): netif_is_any_bridge_port, which decides
// whether a frame too big for the path MTU is answered with an ICMP error
// instead of being sent (see doc.go, Path MTU).
func (l *Link) SetBridgePort(on bool) { l.bridgePort.Store(on) }

// BridgePort reports what SetBridgePort last set.
func (l *Link) BridgePort() bool { return l.bridgePort.Load() }

// Stats returns a snapshot of the link's counters.
func (l *Link) Stats() Snapshot { return l.stats.Snapshot() }

// Counters returns the link's live counters.
func (l *Link) Counters() *Stats { return &l.stats }

// VNIStats returns the per-VNI counters: the link's VNI, or each VNI of a
// vnifilter link.
func (l *Link) VNIStats() []VNISnapshot {
	st := l.state.Load()
	if !st.cfg.VNIFilter {
		return []VNISnapshot{l.vniStats.snapshot(st.vni)}
	}
	f := l.vniFilter.Load()
	out := make([]VNISnapshot, 0, len(f.stats))
	for v, s := range f.stats {
		out = append(out, s.snapshot(v))
	}
	return out
}

// vniStatsFor returns the per-VNI counters for vni, or nil.
func (l *Link) vniStatsFor(st *linkState, vni header.VNI) *VNIStats {
	if !st.cfg.VNIFilter {
		return &l.vniStats
	}
	return l.vniFilter.Load().stats[vni]
}

// SubscribeMisses returns a channel of L2/L3-miss notifications, buffered
// to n. Notifications that do not fit are dropped and counted
// (misses_dropped); the datapath never blocks on a subscriber. cancel
// unsubscribes and closes the channel; deleting the link closes it too.
func (l *Link) SubscribeMisses(n int) (misses <-chan Miss, cancel func()) {
	return l.misses.subscribe(n)
}

// SetDefaultMark sets the mark given to frames read from an overlay port
// that cannot carry marks (a Linux TAP), so that a GBP link can tag all
// its traffic with one group policy (mark = D<<22 | A<<19 | policy ID).
// Frames from a tap.MetaDevice keep their own mark when it is non-zero.
// The kernel has no such setting: there, marks come from netfilter.
func (l *Link) SetDefaultMark(mark uint32) { l.defaultMark.Store(mark) }

// SetUp brings the link administratively up or down, as `ip link set
// NAME up|down`. Up opens the link's sockets, or shares those of other up
// links with the same port, family, receive flags and bound device, and
// joins the multicast group of a group link (vxlan_open → vxlan_sock_add,
// vxlan_multicast_join). Down leaves the groups, flushes the dynamic FDB
// entries and lets go of the sockets, closing those no other link uses
// (vxlan_stop → vxlan_sock_release). So a port held by another program,
// or by a link with other receive flags, is refused at up (EADDRINUSE),
// and a datagram to a port whose links are all down is answered by the
// host's ICMP port unreachable. Frames from the overlay port of a link
// that is down are dropped.
func (l *Link) SetUp(up bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone.Load() {
		return ErrClosed
	}
	if l.up.Load() == up {
		return nil
	}
	st := l.state.Load()
	if up {
		if err := l.openSockets(); err != nil {
			return err
		}
		if err := l.joinGroups(st); err != nil {
			l.closeSockets()
			return err
		}
		l.up.Store(true)
		l.rebuildVNITables()
		l.kickFast()
		return nil
	}
	// vxlan_stop → vxlan_sock_release → vxlan_vs_del_dev: a link that is
	// down is in no socket's VNI table, so its VNI is not found there and
	// local bypass to it fails at the sender.
	l.up.Store(false)
	l.kickFast()
	l.rebuildVNITables()
	l.leaveGroups(st)
	l.fdb.FlushDown()
	l.closeSockets()
	return nil
}

// groupsOf returns the multicast groups a link joins when up: its default
// group and the groups of its vnifilter entries.
func (l *Link) groupsOf(st *linkState) []netip.Addr {
	var gs []netip.Addr
	if st.group.IsValid() {
		gs = append(gs, st.group)
	}
	for _, g := range l.vniFilter.Load().groups {
		if g.IsValid() && g.IsMulticast() && g != st.group {
			gs = append(gs, g)
		}
	}
	return gs
}

// groupUsed reports whether another up link on the same socket uses the
// group on the same interface (vxlan_group_used).
func (l *Link) groupUsed(group netip.Addr, ifindex int) bool {
	h := l.host
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.links {
		if o == l || !o.up.Load() {
			continue
		}
		if !l.socks.Load().same(o.socks.Load()) {
			continue
		}
		ost := o.state.Load()
		if ost.groupIfindex != ifindex {
			continue
		}
		for _, g := range o.groupsOf(ost) {
			if g == group {
				return true
			}
		}
	}
	return false
}

func (l *Link) sockFor(v6 bool) *socket {
	ls := l.socks.Load()
	if v6 {
		return ls.s6
	}
	return ls.s4
}

// linkSockets are the sockets a link receives and sends on while it is
// up: its family's, or both in external mode, bound to device bind. A link
// that is down has none.
type linkSockets struct {
	s4, s6 *socket
	bind   int
}

func (ls *linkSockets) uses(s *socket) bool { return s != nil && (ls.s4 == s || ls.s6 == s) }

func (ls *linkSockets) same(o *linkSockets) bool { return ls.s4 == o.s4 && ls.s6 == o.s6 }

// rebuildLocked recomputes the VNI tables of the sockets. The host lock is
// held.
func (ls *linkSockets) rebuildLocked() {
	for _, s := range []*socket{ls.s4, ls.s6} {
		if s != nil {
			s.rebuildLocked()
		}
	}
}

// releaseLocked lets go of the sockets, closing those no other link uses.
// The host lock is held.
func (ls *linkSockets) releaseLocked(h *Host) {
	for _, s := range []*socket{ls.s4, ls.s6} {
		if s != nil {
			h.releaseSocketLocked(s)
		}
	}
}

// openSockets opens (or shares) the sockets of the link, which is down,
// bound to the L3 master device its lower device has now: as the kernel
// finds or opens a device's sockets each time it comes up (vxlan_open →
// vxlan_sock_add), a lower device moved into or out of a VRF takes
// effect on the next `ip link set up`.
func (l *Link) openSockets() error {
	h := l.host
	cfg := l.state.Load().cfg
	bind := h.bindOf(&cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	ls, err := h.acquireSocketsLocked(socketKeys(&cfg, bind))
	if err != nil {
		return err
	}
	l.socks.Store(ls)
	return nil
}

// closeSockets lets go of the link's sockets, closing those no other link
// uses (vxlan_sock_release).
func (l *Link) closeSockets() {
	h := l.host
	h.mu.Lock()
	defer h.mu.Unlock()
	old := l.socks.Load()
	l.socks.Store(&linkSockets{})
	old.releaseLocked(h)
}

func (l *Link) joinGroups(st *linkState) error {
	var joined []netip.Addr
	for _, g := range l.groupsOf(st) {
		s := l.sockFor(g.Is6())
		if s == nil || l.groupUsed(g, st.groupIfindex) {
			continue
		}
		if err := s.joinGroup(g, st.groupIfindex); err != nil {
			for _, j := range joined {
				l.sockFor(j.Is6()).leaveGroup(j, st.groupIfindex)
			}
			return fmt.Errorf("vtep: %s: join %v: %w", l.name, g, err)
		}
		joined = append(joined, g)
	}
	return nil
}

func (l *Link) leaveGroups(st *linkState) {
	for _, g := range l.groupsOf(st) {
		s := l.sockFor(g.Is6())
		if s == nil || l.groupUsed(g, st.groupIfindex) {
			continue
		}
		s.leaveGroup(g, st.groupIfindex)
	}
}

// Change applies a new configuration to the link, as `ip link set NAME
// type vxlan ...` (vxlan_changelink). Only what the kernel lets change may
// differ from the current configuration (remote/group of the same family,
// local, dev, ttl, tos, df, flowlabel and its policy, learning, ageing,
// localbypass, mcroute, and the MTU); anything else fails with an error
// matching config.ErrCannotChange. A new remote replaces the default FDB
// entry's remote (keeping appended ones); a new group is joined and the
// old one left.
func (l *Link) Change(cfg config.Link) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone.Load() {
		return ErrClosed
	}
	old := l.state.Load()
	if cfg.Name == "" {
		cfg.Name = l.name
	}
	if cfg.Name != l.name {
		return fmt.Errorf("vtep: %s: renaming is not supported: %w", l.name, config.ErrCannotChange)
	}
	if cfg.Address.IsZero() {
		cfg.Address = old.mac
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.Canonical()
	if err := checkChange(&old.cfg, &cfg); err != nil {
		return err
	}
	st := l.host.newLinkState(cfg)
	// A link that becomes or stops being link-local, or changes its lower
	// device, receives its VNI from other interfaces (vxlan_vs_find_vni):
	// check that no other link receives it there (vxlan_config_validate's
	// vxlan_vni_in_use on change) and rebuild the VNI tables.
	rebuild := old.linkLocal != st.linkLocal || (st.linkLocal && old.ifindex != st.ifindex)
	if rebuild && !cfg.VNIFilter {
		l.host.mu.Lock()
		err := l.host.vniInUseLocked(l, &cfg, cfg.VNI)
		l.host.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if old.cfg.Remote != cfg.Remote || old.cfg.Dev != cfg.Dev {
		ifx := 0
		if l.host.ifindex != nil && cfg.Dev != "" {
			ifx = l.host.ifindex(cfg.Dev)
		}
		var r netip.Addr
		if cfg.HasRemote() {
			r = cfg.Remote.Unmap()
		}
		if err := l.fdb.SetDefaultRemote(r, ifx); err != nil {
			return err
		}
	}
	if old.cfg.AgeingTime() != cfg.AgeingTime() {
		l.fdb.SetAgeing(cfg.AgeingTime())
	}
	groupChanged := old.group != st.group || old.groupIfindex != st.groupIfindex
	if groupChanged && l.up.Load() {
		l.leaveGroups(old)
	}
	if cfg.GBPMark != old.cfg.GBPMark {
		l.defaultMark.Store(cfg.GBPMark) // SetDefaultMark's value survives other changes
	}
	l.state.Store(st)
	l.kickFast()
	if rebuild {
		l.rebuildVNITables()
	}
	if groupChanged && l.up.Load() {
		if err := l.joinGroups(st); err != nil {
			return err
		}
	}
	return nil
}

// errCannotChange is a change the kernel refuses.
type changeError struct{ what string }

func (e *changeError) Error() string { return "Cannot change " + e.what }

func (e *changeError) Is(target error) bool { return target == config.ErrCannotChange }

// checkChange refuses what vxlan_nl2conf refuses with changelink set.
func checkChange(o, n *config.Link) error {
	switch {
	case o.VNI != n.VNI:
		return &changeError{"VNI"}
	case o.Port() != n.Port():
		return &changeError{"port"}
	case o.SrcPortMin != n.SrcPortMin || o.SrcPortMax != n.SrcPortMax:
		return &changeError{"port range"}
	case o.Remote.IsValid() && n.Remote.IsValid() && o.Remote.Is6() != n.Remote.Is6(),
		o.Local.IsValid() && n.Local.IsValid() && o.Local.Is6() != n.Local.Is6(),
		o.IsIPv6() != n.IsIPv6():
		return &changeError{"address family"}
	case o.TTLInherit != n.TTLInherit:
		return &changeError{"ttl inherit"}
	case o.Proxy != n.Proxy:
		return &changeError{"proxy flag"}
	case o.RSC != n.RSC:
		return &changeError{"rsc flag"}
	case o.L2Miss != n.L2Miss:
		return &changeError{"l2miss flag"}
	case o.L3Miss != n.L3Miss:
		return &changeError{"l3miss flag"}
	case o.MaxAddress != n.MaxAddress:
		return &changeError{"limit"}
	case o.NoUDPCsum != n.NoUDPCsum:
		return &changeError{"udp_csum flag"}
	case o.UDP6ZeroCsumTX != n.UDP6ZeroCsumTX:
		return &changeError{"udp_zero_csum6_tx flag"}
	case o.UDP6ZeroCsumRX != n.UDP6ZeroCsumRX:
		return &changeError{"udp_zero_csum6_rx flag"}
	case o.RemCsumTX != n.RemCsumTX:
		return &changeError{"remcsum_tx flag"}
	case o.RemCsumRX != n.RemCsumRX:
		return &changeError{"remcsum_rx flag"}
	case o.GBP != n.GBP:
		return &changeError{"gbp flag"}
	case o.GPE != n.GPE:
		return &changeError{"gpe flag"}
	case o.External != n.External:
		return &changeError{"metadata flag"}
	case o.VNIFilter != n.VNIFilter:
		return &changeError{"vnifilter flag"}
	case o.ReservedBitsSet != n.ReservedBitsSet || o.ReservedBits != n.ReservedBits:
		return &changeError{"reserved_bits"}
	}
	return nil
}

// routineFDB keeps the FDB's timers (ageing) until the link is deleted.
func (l *Link) routineFDB(ctx context.Context) {
	defer l.host.wg.Done()
	l.fdb.Run(ctx)
}

// destroy brings the link down and releases it; called by DelLink after
// the link left the host's tables.
func (l *Link) destroy() {
	l.SetUp(false)
	l.mu.Lock()
	l.gone.Store(true)
	l.mu.Unlock()
	l.dev.Close()
	l.stopFDB()
	l.misses.closeAll()
}

// AddVNI adds vni to the VNI filter of a vnifilter link (`bridge vni add
// vni VNI [group|remote IP]`), with an optional per-VNI default
// destination: a remote creates the all-zeros FDB entry for that source
// VNI, a group is also joined while the link is up.
func (l *Link) AddVNI(vni header.VNI, remote netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state.Load()
	if !st.cfg.VNIFilter {
		return fmt.Errorf("vtep: %s: vnifilter not enabled: %w", l.name, config.ErrInvalid)
	}
	if !vni.IsValid() {
		return config.ErrVNIRange
	}
	h := l.host
	h.mu.Lock()
	err := h.vniInUseLocked(l, &st.cfg, vni)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	old := l.vniFilter.Load()
	remote = remote.Unmap()
	prev, had := old.groups[vni]
	if _, in := old.stats[vni]; in && prev == remote {
		return nil // vxlan_vni_update: nothing changes
	}
	nf := &vniFilter{stats: make(map[header.VNI]*VNIStats, len(old.stats)+1), groups: make(map[header.VNI]netip.Addr)}
	for k, v := range old.stats {
		nf.stats[k] = v
	}
	for k, v := range old.groups {
		if k != vni {
			nf.groups[k] = v
		}
	}
	if nf.stats[vni] == nil {
		nf.stats[vni] = new(VNIStats)
	}
	if remote.IsValid() {
		if remote.Is6() != st.v6 {
			return fmt.Errorf("vtep: %s: remote %v: %w", l.name, remote, fdb.ErrFamily)
		}
		nf.groups[vni] = remote
		if err := l.fdb.Append(fdb.Request{
			MAC: header.ZeroMAC, State: fdb.StatePermanent | fdb.StateReachable, Flags: fdb.FlagSelf,
			Dst: remote, VNI: vni, HasVNI: true, SrcVNI: vni, HasSrcVNI: true,
		}); err != nil {
			return err
		}
		if remote.IsMulticast() && l.up.Load() && !old.uses(remote) {
			if s := l.sockFor(remote.Is6()); s != nil && !l.groupUsed(remote, st.groupIfindex) {
				if err := s.joinGroup(remote, st.groupIfindex); err != nil {
					return err
				}
			}
		}
	}
	l.vniFilter.Store(nf)
	if had {
		// vxlan_vni_update_group: the VNI's old default destination goes.
		l.fdb.Delete(fdb.Request{MAC: header.ZeroMAC, Dst: prev, VNI: vni, HasVNI: true, SrcVNI: vni, HasSrcVNI: true})
		l.leaveIfUnused(nf, prev, st)
	}
	l.rebuildVNITables()
	return nil
}

// leaveIfUnused leaves group g, a VNI's former group, unless the link is
// down or g is still in use, by another VNI of filter f or by another
// link on the same socket (vxlan_vni_delete_group, vxlan_group_used).
func (l *Link) leaveIfUnused(f *vniFilter, g netip.Addr, st *linkState) {
	if !g.IsMulticast() || !l.up.Load() || f.uses(g) {
		return
	}
	if s := l.sockFor(g.Is6()); s != nil && !l.groupUsed(g, st.groupIfindex) {
		s.leaveGroup(g, st.groupIfindex)
	}
}

// uses reports whether a VNI of f has group g.
func (f *vniFilter) uses(g netip.Addr) bool {
	for _, o := range f.groups {
		if o == g {
			return true
		}
	}
	return false
}

// VNIDest returns the group or remote of vni in the link's VNI filter
// (the zero Addr for none), and whether vni is in the filter.
func (l *Link) VNIDest(vni header.VNI) (netip.Addr, bool) {
	f := l.vniFilter.Load()
	if _, ok := f.stats[vni]; !ok {
		return netip.Addr{}, false
	}
	return f.groups[vni], true
}

// DelVNI removes vni from the VNI filter (`bridge vni del`).
func (l *Link) DelVNI(vni header.VNI) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.vniFilter.Load()
	if _, ok := old.stats[vni]; !ok {
		return fmt.Errorf("vtep: %s: vni %d: %w", l.name, uint32(vni), ErrNotFound)
	}
	nf := &vniFilter{stats: make(map[header.VNI]*VNIStats, len(old.stats)), groups: make(map[header.VNI]netip.Addr)}
	for k, v := range old.stats {
		if k != vni {
			nf.stats[k] = v
		}
	}
	for k, v := range old.groups {
		if k != vni {
			nf.groups[k] = v
		}
	}
	l.vniFilter.Store(nf)
	st := l.state.Load()
	if g := old.groups[vni]; g.IsValid() {
		l.fdb.Delete(fdb.Request{MAC: header.ZeroMAC, SrcVNI: vni, HasSrcVNI: true})
		l.leaveIfUnused(nf, g, st)
	}
	l.rebuildVNITables()
	return nil
}

// MultiQueue is an optional interface of an overlay port with several
// queues, such as a multi-queue TAP (IFF_MULTI_QUEUE, one file descriptor
// per queue). The link runs one transmit routine per queue, and the
// receive routine of underlay worker w writes to queue w modulo the
// number of queues. Every queue must be of the same kind (all
// tap.MetaDevice or none); the port itself is only closed.
//
// Frames of one flow keep their order as long as one flow sticks to one
// queue on transmit (the kernel's TAP queue selection by flow hash,
// tun_select_queue) and to one worker on receive (SO_REUSEPORT hashing of
// the outer addresses and ports, where the outer source port is a hash of
// the inner flow).
type MultiQueue interface {
	tap.Device
	// Queues returns the queues, at least one. It is called once, when
	// the link is added.
	Queues() []tap.Device
}

// port is one queue of a link's overlay port.
type port struct {
	dev  tap.Device
	mdev tap.MetaDevice // dev, if it carries frame metadata
	// mu serialises writes: the receive workers and the transmit routines
	// (proxy replies, local bypass) may write to the same queue.
	mu sync.Mutex
}

func newPorts(dev tap.Device) []*port {
	devs := []tap.Device{dev}
	if mq, ok := dev.(MultiQueue); ok {
		if qs := mq.Queues(); len(qs) > 0 {
			devs = qs
		}
	}
	ps := make([]*port, len(devs))
	for i, d := range devs {
		ps[i] = &port{dev: d}
		if md, ok := d.(tap.MetaDevice); ok {
			ps[i].mdev = md
		}
	}
	return ps
}

// NumQueues returns the number of queues of the link's overlay port, and
// so of its transmit routines.
func (l *Link) NumQueues() int { return len(l.ports) }

// write sends frames to overlay queue q (modulo the number of queues) and
// returns how many were accepted. metas may be nil.
func (l *Link) write(q int, bufs [][]byte, metas []tap.Meta, offset int) int {
	p := l.ports[q%len(l.ports)]
	p.mu.Lock()
	var n int
	var err error
	if p.mdev != nil {
		n, err = p.mdev.WriteMeta(bufs, metas, offset)
	} else {
		n, err = p.dev.Write(bufs, offset)
	}
	p.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) && n == 0 {
		l.host.log.Debug("overlay write failed", "link", l.name, "err", err)
	}
	return n
}

// rebuildVNITables recomputes the VNI tables of the link's sockets after a
// change of what it receives.
func (l *Link) rebuildVNITables() {
	l.host.mu.Lock()
	defer l.host.mu.Unlock()
	l.socks.Load().rebuildLocked()
}

// SocketKeys returns the keys of the sockets the link uses now.
func (l *Link) SocketKeys() []SocketKey {
	ls := l.socks.Load()
	var ks []SocketKey
	for _, s := range []*socket{ls.s4, ls.s6} {
		if s != nil {
			ks = append(ks, s.key)
		}
	}
	return ks
}
