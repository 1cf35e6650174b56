// Package nexthop mirrors the kernel's nexthop objects (`ip nexthop`) that
// VXLAN FDB entries may point to (`bridge fdb add MAC dev vx0 nhid ID`), and
// picks a path through a nexthop group the way the kernel does for FDB
// nexthops (nexthop_path_fdb_result in include/net/nexthop.h).
//
// The kernel owns the nexthops: vtepd reads them from the network namespace
// it runs in, as the vxlan driver looks them up in its link's namespace
// (nexthop_find_by_id(vxlan->net, …)). This package has no I/O; it parses
// RTM_NEWNEXTHOP messages ([ParseMessage]) and keeps an immutable snapshot
// that the transmit path reads without locks ([Table]).
package nexthop

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
)

// Nexthop is one kernel nexthop object: either a single nexthop (a gateway,
// a device or a blackhole) or a group of other nexthops.
type Nexthop struct {
	// ID is NHA_ID.
	ID uint32
	// Gateway is NHA_GATEWAY; invalid for groups and device-only nexthops.
	Gateway netip.Addr
	// Oif is NHA_OIF, the output interface index, 0 if none.
	Oif int
	// Blackhole is NHA_BLACKHOLE.
	Blackhole bool
	// FDB is NHA_FDB: the nexthop may only be used by FDB entries.
	FDB bool
	// Group lists the members of a group (NHA_GROUP) in the kernel's
	// order; nil for a single nexthop.
	Group []Member
	// Resilient is NHA_GROUP_TYPE == NEXTHOP_GRP_TYPE_RES.
	Resilient bool
	// NumBuckets is a resilient group's bucket count
	// (NHA_RES_GROUP_BUCKETS), 0 otherwise.
	NumBuckets uint16
	// Buckets is a resilient group's bucket table: the member nexthop ID
	// of each bucket, by index, as RTM_GETNEXTHOPBUCKET dumps report it
	// ([AttachBuckets]); nil when not known.
	Buckets []uint32
	// Protocol is nh_protocol, the routing protocol that installed it.
	Protocol uint8
}

// IsGroup reports whether nh is a group.
func (nh *Nexthop) IsGroup() bool { return nh.Group != nil }

// Member is one entry of a group (struct nexthop_grp).
type Member struct {
	ID uint32
	// Weight is the member's weight, 1 to 65536 (the wire carries
	// weight-1 in weight and weight_high).
	Weight uint32
}

// Errors of [Table.CheckFDB], with the kernel's extended-ack texts
// (vxlan_fdb_nh_update).
var (
	ErrNotExist = errors.New("Nexthop id does not exist")
	ErrNotFDB   = errors.New("Nexthop is not a fdb nexthop")
	ErrNotGroup = errors.New("Nexthop is not a multipath group")
	// ErrFamily is the EAFNOSUPPORT case; the others are EINVAL.
	ErrFamily = errors.New("Nexthop group family not supported")
)

// path is one resolved member of a group: its gateway and the upper bound
// of the hash range it takes (nh_grp_entry.hthr.upper_bound).
type path struct {
	gw    netip.Addr
	upper uint32
}

// group is a resolved group.
type group struct {
	paths   []path
	buckets []netip.Addr // a resilient group's gateway per bucket, or nil
	hasV4   bool
	fdb     bool
}

// snapshot is one immutable view of the kernel's nexthops.
type snapshot struct {
	all    map[uint32]Nexthop
	groups map[uint32]*group
}

// Table holds the current nexthops. Readers ([Table.Select],
// [Table.CheckFDB]) never block; [Table.Set] publishes a new
// snapshot. The zero Table is empty and ready to use.
type Table struct {
	snap atomic.Pointer[snapshot]
}

// Set replaces every nexthop with nhs (a full dump) and returns the IDs that
// existed before and are gone now, in increasing order. The caller deletes
// the FDB entries that point to them, as vxlan_nexthop_event does on
// NEXTHOP_EVENT_DEL.
func (t *Table) Set(nhs []Nexthop) (removed []uint32) {
	s := &snapshot{all: make(map[uint32]Nexthop, len(nhs)), groups: map[uint32]*group{}}
	for _, nh := range nhs {
		if nh.ID != 0 {
			s.all[nh.ID] = nh
		}
	}
	for id, nh := range s.all {
		if nh.IsGroup() {
			s.groups[id] = resolve(s.all, &nh)
		}
	}
	if old := t.snap.Swap(s); old != nil {
		for id := range old.all {
			if _, ok := s.all[id]; !ok {
				removed = append(removed, id)
			}
		}
		slices.Sort(removed)
	}
	return removed
}

// resolve computes a group's hash thresholds from its members' weights as
// nh_hthr_group_rebalance does: member i takes hashes up to
// round(w_0+…+w_i << 31 / total) − 1.
func resolve(all map[uint32]Nexthop, nh *Nexthop) *group {
	g := &group{fdb: nh.FDB}
	var total uint64
	for _, m := range nh.Group {
		total += uint64(max(m.Weight, 1))
	}
	var w uint64
	for _, m := range nh.Group {
		w += uint64(max(m.Weight, 1))
		gw := all[m.ID].Gateway
		if gw.Is4() {
			g.hasV4 = true
		}
		// DIV_ROUND_CLOSEST_ULL(w << 31, total) - 1
		upper := uint32((w<<31+total/2)/total) - 1
		g.paths = append(g.paths, path{gw: gw, upper: upper})
	}
	if nh.Resilient && len(nh.Buckets) > 0 {
		g.buckets = make([]netip.Addr, len(nh.Buckets))
		for i, id := range nh.Buckets {
			g.buckets[i] = all[id].Gateway
		}
	}
	return g
}

func (t *Table) load() *snapshot {
	if s := t.snap.Load(); s != nil {
		return s
	}
	return &snapshot{}
}

// CheckFDB reports whether an FDB entry of a link with an IPv4 (ipv6 false)
// or IPv6 underlay may point to nexthop id, with the checks of
// vxlan_fdb_nh_update in their order: the ID must exist, be an FDB nexthop
// and be a group whose family is the link's. A group is IPv4 when any
// member has an IPv4 gateway (nexthop_has_v4).
func (t *Table) CheckFDB(id uint32, ipv6 bool) error {
	s := t.load()
	nh, ok := s.all[id]
	switch {
	case !ok:
		return ErrNotExist
	case !nh.FDB:
		return ErrNotFDB
	case !nh.IsGroup():
		return ErrNotGroup
	}
	if s.groups[id].hasV4 == ipv6 {
		return ErrFamily
	}
	return nil
}

// Select picks the gateway for a frame whose flow hash is hash
// (skb_get_hash), as vxlan_xmit_nh does with nexthop_path_fdb_result(nh,
// hash >> 1):
//   - a hash-threshold group takes the first member whose upper bound is at
//     least the 31-bit hash (nexthop_select_path_hthr);
//   - a resilient group takes the member of bucket hash % buckets
//     (nexthop_select_path_res) from the kernel's bucket table, or, while
//     that table is not known, selects by weight as above.
//
// It returns false when id is not an FDB group, or when the member chosen
// has no gateway; the caller drops the frame.
func (t *Table) Select(id uint32, hash uint32) (netip.Addr, bool) {
	g := t.load().groups[id]
	if g == nil || !g.fdb {
		return netip.Addr{}, false
	}
	h := hash >> 1
	if g.buckets != nil {
		gw := g.buckets[h%uint32(len(g.buckets))]
		return gw, gw.IsValid()
	}
	for i := range g.paths {
		if h <= g.paths[i].upper {
			gw := g.paths[i].gw
			return gw, gw.IsValid()
		}
	}
	return netip.Addr{}, false
}

// Bucket is one entry of a resilient group's bucket table, as an
// RTM_NEWNEXTHOPBUCKET message reports it.
type Bucket struct {
	// Group is the resilient group's ID (NHA_ID).
	Group uint32
	// Index is NHA_RES_BUCKET_INDEX.
	Index uint16
	// Nexthop is the member the bucket points to (NHA_RES_BUCKET_NH_ID).
	Nexthop uint32
}

// AttachBuckets sets the Buckets of the resilient groups in nhs from a dump
// of the kernel's bucket tables. A group gets a table only when bs has
// every one of its NumBuckets buckets and each points to one of its
// members; otherwise its Buckets stay nil, and [Table.Select] selects by
// weight.
func AttachBuckets(nhs []Nexthop, bs []Bucket) {
	byGroup := map[uint32][]Bucket{}
	for _, b := range bs {
		byGroup[b.Group] = append(byGroup[b.Group], b)
	}
	for i := range nhs {
		nh := &nhs[i]
		nh.Buckets = nil
		if !nh.Resilient || nh.NumBuckets == 0 {
			continue
		}
		table := make([]uint32, nh.NumBuckets)
		seen := 0
		for _, b := range byGroup[nh.ID] {
			member := slices.ContainsFunc(nh.Group, func(m Member) bool { return m.ID == b.Nexthop })
			if int(b.Index) >= len(table) || table[b.Index] != 0 || !member || b.Nexthop == 0 {
				seen = -1
				break
			}
			table[b.Index] = b.Nexthop
			seen++
		}
		if seen == len(table) {
			nh.Buckets = table
		}
	}
}
