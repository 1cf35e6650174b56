// Package mroute is the part of the kernel's multicast routing that vxlan
// links with "mcroute" use (VXLAN_F_MC_ROUTE): the multicast forwarding
// cache (`ip mroute`, the MFC a routing daemon such as smcrouted or pimd
// installs), which devices are multicast routing interfaces (vifs, mifs),
// and the output decision of ip_mr_output / ip6_mr_output for a packet
// the host sends to a group. It reads the kernel's netlink messages
// (RTM_NEWROUTE of families RTNL_FAMILY_IPMR and RTNL_FAMILY_IP6MR,
// RTM_NEWNETCONF) and does no I/O.
package mroute

import (
	"net/netip"
	"slices"
)

// OIF is an outgoing interface of a cache entry: its device and its TTL
// threshold (the entry's ttls[vif]); a packet goes out of it when its TTL
// (hop limit) is above the threshold.
type OIF struct {
	Ifindex int
	TTL     uint8
}

// Route is one multicast forwarding cache entry, as `ip mroute show` lists
// it.
type Route struct {
	Family uint8  // FamilyIPMR or FamilyIP6MR
	Table  uint32 // TableDefault (IPv6: Table6Main) unless the host has multicast rules
	// Source is the origin, unspecified for a (*, G) entry; Group is
	// unspecified too for a (*, *) entry.
	Source, Group netip.Addr
	// IIF is the device of the entry's parent vif (its incoming
	// interface), 0 if that vif has none.
	IIF int
	// OIFs are the outgoing interfaces, in vif order.
	OIFs []OIF
	// Unresolved: the kernel holds packets for this (S, G) while it waits
	// for the daemon; it is not a cache entry yet.
	Unresolved bool
}

// threshold returns the TTL threshold of ifindex in r, and false when it is
// not one of r's outgoing interfaces (ttls[vif] == 255).
func (r *Route) threshold(ifindex int) (uint8, bool) {
	for _, o := range r.OIFs {
		if o.Ifindex == ifindex && o.TTL < 255 {
			return o.TTL, true
		}
	}
	return 0, false
}

// Action is what multicast routing does with a packet the host sends.
type Action uint8

const (
	// Output: the packet is not multicast-routed; it goes out of the
	// device its route names, as without mcroute (ip_mc_output).
	Output Action = iota
	// Forward: a cache entry sends copies out of its outgoing interfaces
	// whose threshold is below the packet's TTL, each with the TTL less one
	// (ip_mr_output_finish, ipmr_prepare_xmit). There may be none.
	Forward
	// Unresolved: no cache entry and the device is a vif: the kernel
	// queues the packet and asks the routing daemon for a route
	// (ipmr_cache_unresolved, IGMPMSG_NOCACHE).
	Unresolved
)

func (a Action) String() string {
	switch a {
	case Output:
		return "output"
	case Forward:
		return "forward"
	case Unresolved:
		return "unresolved"
	}
	return "unknown"
}

// Table is an immutable snapshot of the default multicast routing table of
// both families and of the devices that are vifs. The zero Table and nil
// have no routes and no vifs.
type Table struct {
	routes map[key][]*Route
	vifs   map[vifKey]bool
	// hasVifs[1] is whether any IPv6 device is a mif, [0] any IPv4 vif.
	hasVifs [2]bool
}

type key struct{ src, grp netip.Addr }

type vifKey struct {
	v6      bool
	ifindex int
}

// AF_INET and AF_INET6, the families of netconf messages.
const (
	afInet  = 2
	afInet6 = 10
)

// New builds a Table from the routes of a dump and the netconf state of
// the devices. Only the default tables are used (the ones ipmr and ip6mr
// route with when the host has no multicast rules: 253 and 254); unresolved entries
// are not cache entries and are left out. A device is a vif of its family
// when its mc_forwarding is set (ipmr's vif_add and ip6mr's mif6_add set
// it on the device).
func New(routes []Route, devices []Netconf) *Table {
	t := &Table{routes: make(map[key][]*Route), vifs: make(map[vifKey]bool)}
	for i := range routes {
		r := &routes[i]
		if r.Table != defaultTable(r.Family) || r.Unresolved || !r.Group.IsValid() {
			continue
		}
		k := key{r.Source.Unmap(), r.Group.Unmap()}
		t.routes[k] = append(t.routes[k], r)
	}
	for _, d := range devices {
		if d.Ifindex > 0 && d.MCForwarding && (d.Family == afInet || d.Family == afInet6) {
			t.vifs[vifKey{d.Family == afInet6, d.Ifindex}] = true
			t.hasVifs[boolIndex(d.Family == afInet6)] = true
		}
	}
	return t
}

// Len returns the number of cache entries in t.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	n := 0
	for _, rs := range t.routes {
		n += len(rs)
	}
	return n
}

// Vif reports whether device ifindex is a multicast routing interface of
// the family of v6.
func (t *Table) Vif(v6 bool, ifindex int) bool {
	return t != nil && t.vifs[vifKey{v6, ifindex}]
}

// defaultTable is the table ipmr or ip6mr routes with when the host has no
// multicast rules.
func defaultTable(family uint8) uint32 {
	if family == FamilyIP6MR {
		return Table6Main
	}
	return TableDefault
}

// HasVifs reports whether any device is a multicast routing interface of
// the family of v6: without one, nothing of that family is multicast-routed.
func (t *Table) HasVifs(v6 bool) bool {
	return t != nil && t.hasVifs[boolIndex(v6)]
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unspecified is 0.0.0.0 or :: for a route family.
func unspecified(family uint8) netip.Addr {
	if family == FamilyIP6MR {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// Output decides what multicast routing does with a packet the host sends
// from src to group with TTL (hop limit) ttl, whose route goes out of
// device dev, with IPSKB_MCROUTE / IP6SKB_MCROUTE set (ip_mr_output,
// ip6_mr_output). For Forward it appends to outs the devices to send a
// copy out of, in the kernel's order (the highest vif first), and returns
// the extended slice; it does not allocate when outs has room.
//
//   - IPv4 multicast-routes only through a device with mc_forwarding, and
//     never link-local groups (224.0.0.0/24): __mkroute_output gives those
//     routes ip_mc_output.
//   - The (S, G) entry comes first (ipmr_cache_find); then, when dev is a
//     vif, a (*, G) entry that has dev as an outgoing interface, or whose
//     parent is one of a (*, *) entry that has (mr_mfc_find_any), then a
//     (*, *) entry that has dev as an outgoing interface
//     (mr_mfc_find_any_parent).
//   - No entry: Unresolved if dev is a vif, else Output.
//   - An entry whose incoming interface is not dev: Output.
//   - A (*, *) entry sends back up its parent only, when the TTL is above
//     the parent's threshold.
func (t *Table) Output(outs []int, src, group netip.Addr, dev int, ttl uint8) (Action, []int) {
	src, group = src.Unmap(), group.Unmap()
	if t == nil || !group.IsMulticast() {
		return Output, outs
	}
	v6 := group.Is6()
	vif := t.Vif(v6, dev)
	if !v6 && (!vif || isLocalMulticast4(group)) {
		return Output, outs
	}
	c := t.first(key{src, group})
	if c == nil && vif {
		c = t.findAny(group, dev)
	}
	if c == nil {
		if vif {
			return Unresolved, outs
		}
		return Output, outs
	}
	if c.IIF != dev || c.IIF == 0 {
		return Output, outs
	}
	if c.Group.IsUnspecified() {
		if th, ok := c.threshold(c.IIF); ok && ttl > th {
			outs = append(outs, c.IIF)
		}
		return Forward, outs
	}
	for _, o := range slices.Backward(c.OIFs) {
		if o.TTL < 255 && ttl > o.TTL {
			outs = append(outs, o.Ifindex)
		}
	}
	return Forward, outs
}

// first returns the first entry with key k, or nil.
func (t *Table) first(k key) *Route {
	if rs := t.routes[k]; len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// findAny is mr_mfc_find_any for the vif of device dev.
func (t *Table) findAny(group netip.Addr, dev int) *Route {
	any := netip.IPv4Unspecified()
	if group.Is6() {
		any = netip.IPv6Unspecified()
	}
	for _, c := range t.routes[key{any, group}] {
		if _, ok := c.threshold(dev); ok {
			return c
		}
		// "It's ok if the vifi is part of the static tree."
		if p := t.findAnyParent(any, c.IIF); p != nil {
			if _, ok := p.threshold(dev); ok {
				return c
			}
		}
	}
	return t.findAnyParent(any, dev)
}

// findAnyParent is mr_mfc_find_any_parent: the first (*, *) entry with
// device dev as an outgoing interface.
func (t *Table) findAnyParent(any netip.Addr, dev int) *Route {
	for _, c := range t.routes[key{any, any}] {
		if _, ok := c.threshold(dev); ok {
			return c
		}
	}
	return nil
}

// isLocalMulticast4 is ipv4_is_local_multicast: 224.0.0.0/24.
func isLocalMulticast4(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 224 && b[1] == 0 && b[2] == 0
}

// Resolve decides what becomes of a packet that Output answered
// Unresolved for, and that the kernel would hold in its unresolved queue
// (ipmr_cache_unresolved, ip6mr_cache_unresolved), once the table has
// changed. src, group, dev and ttl are as given to Output.
//
//   - Unresolved while t has no entry with exactly the packet's source and
//     group: only such an entry resolves a held packet (ipmr_mfc_add and
//     ip6mr_mfc_add match the unresolved queue on origin and group). A
//     (*, G) or (*, *) entry added meanwhile does not, and the packet
//     waits until it expires.
//   - Forward with no interface, a drop, when no device of the family is a
//     vif any more: the daemon closed its socket, which flushes the queue
//     (mroute_clean_tables).
//   - Forward: the held packet is played through the input path's
//     forwarding (ipmr_cache_resolve → ip_mr_forward, ip6mr_cache_resolve
//     → ip6_mr_forward): one copy out of each outgoing interface whose
//     threshold is below ttl, highest vif first, when the entry's incoming
//     interface is dev; none when it is not (a packet of the host's own on
//     the wrong interface is dropped).
func (t *Table) Resolve(outs []int, src, group netip.Addr, dev int, ttl uint8) (Action, []int) {
	src, group = src.Unmap(), group.Unmap()
	if !t.HasVifs(group.Is6()) {
		return Forward, outs
	}
	c := t.first(key{src, group})
	if c == nil || src.IsUnspecified() {
		return Unresolved, outs
	}
	if c.IIF != dev || c.IIF == 0 {
		return Forward, outs
	}
	for _, o := range slices.Backward(c.OIFs) {
		if o.TTL < 255 && ttl > o.TTL {
			outs = append(outs, o.Ifindex)
		}
	}
	return Forward, outs
}
