package fdb

import (
	"iter"
	"net/netip"
	"strconv"
	"time"

	"github.com/vtepd/vtep/header"
)

// Entries returns an iterator over a snapshot of the table's entries,
// newest first (the kernel's fdb_list order, which `bridge fdb show`
// prints). The entries are live; see [Entry].
func (t *Table) Entries() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		t.mu.Lock()
		snap := make([]*Entry, 0, t.count.Load())
		for e := t.head; e != nil; e = e.next {
			snap = append(snap, e)
		}
		t.mu.Unlock()
		for _, e := range snap {
			if !yield(e) {
				return
			}
		}
	}
}

// Neigh is one message of an FDB dump or notification: an entry seen
// through one of its remotes, with the attributes vxlan_fdb_info puts in
// the RTM_NEWNEIGH/RTM_DELNEIGH.
type Neigh struct {
	Deleted bool // RTM_DELNEIGH
	MAC     header.MAC
	State   State
	// Flags are the NTF flags as dumped (8 bits: the added-by-user marker
	// does not fit).
	Flags Flags
	// Dst is NDA_DST, the remote's address (0.0.0.0 or :: for a
	// bridge-local remote; the kernel omits it only in miss notifications).
	Dst netip.Addr
	// Port is NDA_PORT, sent only when it differs from the device port;
	// 0 when absent.
	Port uint16
	// VNI is NDA_VNI, sent only when it differs from the device VNI.
	VNI    header.VNI
	HasVNI bool
	// SrcVNI is NDA_SRC_VNI, sent only in external mode for a non-zero key
	// VNI.
	SrcVNI    header.VNI
	HasSrcVNI bool
	// Ifindex is NDA_IFINDEX (`via`); 0 when absent.
	Ifindex int
	// NHID is NDA_NH_ID, the nexthop group of a nexthop entry; 0 when
	// absent. A nexthop entry's message has no Dst, Port, VNI or Ifindex.
	NHID uint32
	// Used and Updated are the NDA_CACHEINFO ages: time since the last
	// transmit lookup and since the last update.
	Used, Updated time.Duration
}

// neigh builds the message for remote r of e (vxlan_fdb_info), or for a
// nexthop entry when nhid is not 0: that message carries NDA_NH_ID instead
// of the remote's attributes.
func (t *Table) neigh(k Key, s State, f Flags, r Remote, nhid uint32) Neigh {
	n := Neigh{MAC: k.MAC, State: s, Flags: f & 0xff, NHID: nhid}
	if nhid == 0 {
		n.Dst, n.Ifindex = r.IP, r.Ifindex
		if r.Port != 0 && r.Port != t.port {
			n.Port = r.Port
		}
		if r.VNI != t.vni {
			n.VNI, n.HasVNI = r.VNI, true
		}
	}
	if t.external && k.SrcVNI != 0 {
		n.SrcVNI, n.HasSrcVNI = k.SrcVNI, true
	}
	return n
}

// Neighs returns an iterator over the dump `bridge fdb show` reads
// (vxlan_fdb_dump): one message per remote, entries newest first, remotes in
// list order.
func (t *Table) Neighs() iter.Seq[Neigh] {
	return func(yield func(Neigh) bool) {
		now := t.now()
		for e := range t.Entries() {
			s, f := e.State(), e.Flags()
			used := time.Duration(now - e.Used())
			updated := time.Duration(now - e.Updated())
			if nhid := e.NHID(); nhid != 0 {
				n := t.neigh(e.key, s, f, Remote{}, nhid)
				n.Used, n.Updated = used, updated
				if !yield(n) {
					return
				}
				continue
			}
			for _, r := range e.Remotes() {
				n := t.neigh(e.key, s, f, r, 0)
				n.Used, n.Updated = used, updated
				if !yield(n) {
					return
				}
			}
		}
	}
}

// EventNeigh returns the notification the kernel sends for ev (the ages are
// zero).
func (t *Table) EventNeigh(ev Event) Neigh {
	n := t.neigh(ev.Key, ev.State, ev.Flags, ev.Remote, ev.NHID)
	n.Deleted = ev.Type.Deleted()
	return n
}

// Format controls how a Neigh is printed.
type Format struct {
	// Dev is the link's name. Empty omits "dev NAME", as `bridge fdb show
	// dev NAME` does.
	Dev string
	// IfName names the `via` interface; nil prints "if<index>" (what
	// iproute2 prints for an unknown index).
	IfName func(ifindex int) string
	// Stats adds "used U/W" as `bridge -s fdb show` does.
	Stats bool
}

func (f *Format) ifName(i int) string {
	if f != nil && f.IfName != nil {
		return f.IfName(i)
	}
	return "if" + strconv.Itoa(i)
}

// AppendText appends the line `bridge fdb show` prints for n (bridge/fdb.c
// print_fdb), without the final newline:
//
//	MAC dev NAME dst IP port N vni N src_vni N via IF used U/W self router extern_learn offload master sticky STATE
//
// Each word is followed by a space, so a dynamic entry, whose state prints
// as nothing, ends with one, exactly like iproute2's output. f may be nil.
func (n *Neigh) AppendText(b []byte, f *Format) []byte {
	if n.Deleted {
		b = append(b, "Deleted "...)
	}
	b = n.MAC.AppendTo(b)
	b = append(b, ' ')
	if f != nil && f.Dev != "" {
		b = append(b, "dev "...)
		b = append(b, f.Dev...)
		b = append(b, ' ')
	}
	if n.Dst.IsValid() {
		b = append(b, "dst "...)
		b = n.Dst.AppendTo(b)
		b = append(b, ' ')
	}
	if n.Port != 0 {
		b = append(b, "port "...)
		b = strconv.AppendUint(b, uint64(n.Port), 10)
		b = append(b, ' ')
	}
	if n.HasVNI {
		b = append(b, "vni "...)
		b = n.VNI.AppendTo(b)
		b = append(b, ' ')
	}
	if n.HasSrcVNI {
		b = append(b, "src_vni "...)
		b = n.SrcVNI.AppendTo(b)
		b = append(b, ' ')
	}
	if n.Ifindex != 0 {
		b = append(b, "via "...)
		b = append(b, f.ifName(n.Ifindex)...)
		b = append(b, ' ')
	}
	if n.NHID != 0 {
		b = append(b, "nhid "...)
		b = strconv.AppendUint(b, uint64(n.NHID), 10)
		b = append(b, ' ')
	}
	if f != nil && f.Stats {
		b = append(b, "used "...)
		b = strconv.AppendInt(b, int64(n.Used/time.Second), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(n.Updated/time.Second), 10)
		b = append(b, ' ')
	}
	for _, fw := range flagWords {
		if n.Flags&fw.f != 0 {
			b = append(b, fw.w...)
			b = append(b, ' ')
		}
	}
	return append(b, n.State.String()...)
}

// String returns the text form without a device name.
func (n Neigh) String() string { return string(n.AppendText(nil, nil)) }

// AppendJSON appends the object `bridge -j fdb show` prints for n, e.g.
//
//	{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.0.0.2","flags":["self"],"state":"permanent"}
//
// with the same keys in the same order (mac, ifname, dst, port, vni,
// src_vni, viaIf, used, updated, flags, state). f may be nil.
func (n *Neigh) AppendJSON(b []byte, f *Format) []byte {
	b = append(b, '{')
	if n.Deleted {
		b = append(b, `"deleted":true,`...)
	}
	b = append(b, `"mac":"`...)
	b = n.MAC.AppendTo(b)
	b = append(b, '"')
	if f != nil && f.Dev != "" {
		b = append(b, `,"ifname":`...)
		b = appendJSONString(b, f.Dev)
	}
	if n.Dst.IsValid() {
		b = append(b, `,"dst":"`...)
		b = n.Dst.AppendTo(b)
		b = append(b, '"')
	}
	if n.Port != 0 {
		b = append(b, `,"port":`...)
		b = strconv.AppendUint(b, uint64(n.Port), 10)
	}
	if n.HasVNI {
		b = append(b, `,"vni":`...)
		b = n.VNI.AppendTo(b)
	}
	if n.HasSrcVNI {
		b = append(b, `,"src_vni":`...)
		b = n.SrcVNI.AppendTo(b)
	}
	if n.Ifindex != 0 {
		b = append(b, `,"viaIf":`...)
		b = appendJSONString(b, f.ifName(n.Ifindex))
	}
	if n.NHID != 0 {
		b = append(b, `,"nhid":`...)
		b = strconv.AppendUint(b, uint64(n.NHID), 10)
	}
	if f != nil && f.Stats {
		b = append(b, `,"used":`...)
		b = strconv.AppendInt(b, int64(n.Used/time.Second), 10)
		b = append(b, `,"updated":`...)
		b = strconv.AppendInt(b, int64(n.Updated/time.Second), 10)
	}
	b = append(b, `,"flags":[`...)
	first := true
	for _, fw := range flagWords {
		if n.Flags&fw.f != 0 {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, fw.w...)
			b = append(b, '"')
		}
	}
	b = append(b, `],"state":`...)
	s := n.State.String()
	if n.State&(StatePermanent|StateNoARP|StateStale|StateReachable) == 0 {
		s = "0x" + strconv.FormatUint(uint64(n.State), 16) // state_n2a in JSON context
	}
	b = appendJSONString(b, s)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
