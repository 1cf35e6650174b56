package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vtepd/vtep/header"
)

// MDBOp is how an MDB entry is installed (bridge mdb add, replace).
type MDBOp uint8

const (
	// MDBAdd adds the remote to the entry; it fails if the entry has a
	// remote with that dst.
	MDBAdd MDBOp = iota
	// MDBReplace adds the remote, or rewrites the one with that dst.
	MDBReplace
)

func (o MDBOp) String() string {
	switch o {
	case MDBAdd:
		return "add"
	case MDBReplace:
		return "replace"
	}
	return fmt.Sprintf("MDBOp(%d)", uint8(o))
}

// MDBSpec is one entry of mdb: `bridge mdb OP dev DEV port DEV grp GROUP
// [src SOURCE] permanent [filter_mode MODE] [source_list LIST] [proto
// PROTO] dst DST [dst_port PORT] [vni VNI] [src_vni VNI] [via DEV]`. A
// vxlan device's entries are all permanent and their port is the device
// itself, so neither is written. Nil VNI, SrcVNI and zero Port mean the
// kernel's defaults (the device's).
type MDBSpec struct {
	Dev string
	// Group is a multicast group, or 0.0.0.0 / :: for the catch-all
	// entry of the family.
	Group  netip.Addr
	Source netip.Addr // invalid for a (*, G) entry
	// FilterMode is "", "include" or "exclude"; SourceList needs it.
	FilterMode string
	SourceList []netip.Addr
	Proto      uint8 // RTPROT_*; 0 means static
	Dst        netip.Addr
	Port       uint16
	VNI        *uint32
	SrcVNI     *uint32
	Via        string
	Op         MDBOp
	Line       int
}

// Equal reports whether s and o install the same thing (lines aside).
func (s MDBSpec) Equal(o MDBSpec) bool {
	eqVNI := func(a, b *uint32) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return slices.Equal(s.SourceList, o.SourceList) &&
		s.Dev == o.Dev && s.Group == o.Group && s.Source == o.Source && s.FilterMode == o.FilterMode &&
		s.Proto == o.Proto && s.Dst == o.Dst && s.Port == o.Port && eqVNI(s.VNI, o.VNI) &&
		eqVNI(s.SrcVNI, o.SrcVNI) && s.Via == o.Via && s.Op == o.Op
}

// RtprotNames are iproute2's built-in routing protocol names
// (lib/rt_names.c rtnl_rtprot_tab), as `proto` takes and prints them.
var RtprotNames = map[uint8]string{
	0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt",
	11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 17: "mrouted",
	18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp",
}

// ParseRtprot is rtnl_rtprot_a2n: a name of RtprotNames or a number below
// 256.
func ParseRtprot(s string) (uint8, bool) {
	for p, n := range RtprotNames {
		if n == s {
			return p, true
		}
	}
	n, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, false
	}
	return uint8(n), true
}

type rawMDB struct {
	Dev        string   `yaml:"dev"`
	Group      string   `yaml:"grp"`
	Source     string   `yaml:"src"`
	FilterMode string   `yaml:"filter_mode"`
	SourceList []string `yaml:"source_list"`
	Proto      string   `yaml:"proto"`
	Dst        string   `yaml:"dst"`
	Port       uint16   `yaml:"dst_port"`
	VNI        *uint32  `yaml:"vni"`
	SrcVNI     *uint32  `yaml:"src_vni"`
	Via        string   `yaml:"via"`
	Op         string   `yaml:"op"`
}

// mdbKey identifies an MDB remote: the entry (group, source, source VNI)
// and the remote's address.
type mdbKey struct {
	dev        string
	group, src netip.Addr
	srcVNI     uint32
	dst        netip.Addr
}

// mdb checks the entries that need no MDB to judge; the kernel's own rules
// (multicast groups, filter modes on (S, G) entries, the protocol floor,
// source entries that exist) are applied by the daemon, which reports the
// kernel's messages.
func (v *validator) mdb(raws []rawMDB, lines []int) {
	seen := map[mdbKey]int{}
	for i, r := range raws {
		line := lineOf(lines, i)
		item := fmt.Sprintf("mdb[%d]", i)
		bad := func(format string, args ...any) { v.fail(line, item, fileErr(format, args...)) }
		ls, ok := v.entryLink(bad, r.Dev, "grp", r.Group, "dst", r.Dst)
		if !ok {
			continue
		}
		l := ls.Link
		e := MDBSpec{Dev: r.Dev, Port: r.Port, VNI: r.VNI, SrcVNI: r.SrcVNI, Line: line}
		addr := func(field, s string) (netip.Addr, bool) {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				bad("invalid %s %q", field, s)
				return a, false
			}
			if a.Is6() != l.IsIPv6() && field == "dst" {
				bad("dst %s: Address family not supported by protocol (%s is %s)", a, l.Name, familyName(l.IsIPv6()))
				return a, false
			}
			return a, true
		}
		var ok1, ok2 bool
		if e.Group, ok1 = addr("grp", r.Group); !ok1 {
			continue
		}
		if e.Dst, ok2 = addr("dst", r.Dst); !ok2 {
			continue
		}
		if r.Source != "" {
			s, ok := addr("src", r.Source)
			if !ok {
				continue
			}
			e.Source = s
		}
		switch r.FilterMode {
		case "", "include", "exclude":
			e.FilterMode = r.FilterMode
		default:
			bad("filter_mode %q is not include or exclude", r.FilterMode)
			continue
		}
		if len(r.SourceList) > 0 && r.FilterMode == "" {
			bad("source_list needs a filter_mode")
			continue
		}
		okList := true
		for _, s := range r.SourceList {
			a, ok := addr("source_list entry", s)
			if !ok {
				okList = false
				break
			}
			e.SourceList = append(e.SourceList, a)
		}
		if !okList {
			continue
		}
		if r.Proto != "" {
			p, ok := ParseRtprot(r.Proto)
			if !ok {
				bad("invalid proto %q", r.Proto)
				continue
			}
			e.Proto = p
		}
		if r.VNI != nil && *r.VNI > uint32(header.MaxVNI) {
			bad("invalid VNI %d", *r.VNI)
			continue
		}
		if r.SrcVNI != nil {
			if *r.SrcVNI > uint32(header.MaxVNI) {
				bad("invalid src_vni %d", *r.SrcVNI)
				continue
			}
			if !l.External {
				bad("src_vni is only used on external links; %s is not external", l.Name)
				continue
			}
		}
		if r.Via != "" && !validIfname(r.Via) {
			v.fail(line, item, &NameError{Field: "via", Name: r.Via})
			continue
		}
		e.Via = r.Via
		switch r.Op {
		case "", "add":
			e.Op = MDBAdd
		case "replace":
			e.Op = MDBReplace
		default:
			bad(`op %q is not add or replace`, r.Op)
			continue
		}
		k := mdbKey{dev: e.Dev, group: e.Group, src: e.Source, dst: e.Dst}
		if e.SrcVNI != nil {
			k.srcVNI = *e.SrcVNI
		} else {
			k.srcVNI = uint32(l.VNI)
		}
		if j, dup := seen[k]; dup && e.Op == MDBAdd {
			bad("File exists: mdb[%d] (line %d) already adds remote %s to this entry; use op: replace", j, lineOf(lines, j), e.Dst)
			continue
		}
		seen[k] = i
		v.f.MDB = append(v.f.MDB, e)
	}
}
