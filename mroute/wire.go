package mroute

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vtepd/vtep/internal/nlattr"
)

// Route families and table, message types and multicast groups
// (include/uapi/linux/rtnetlink.h, netconf.h).
const (
	FamilyIPMR   = 128 // RTNL_FAMILY_IPMR: IPv4 multicast routes
	FamilyIP6MR  = 129 // RTNL_FAMILY_IP6MR
	TableDefault = 253 // RT_TABLE_DEFAULT, the table ipmr uses without rules
	Table6Main   = 254 // RT6_TABLE_DFLT (RT_TABLE_MAIN), ip6mr's default table

	RTMNewRoute   = 24 // RTM_NEWROUTE
	RTMDelRoute   = 25 // RTM_DELROUTE
	RTMGetRoute   = 26 // RTM_GETROUTE
	RTMNewNetconf = 80 // RTM_NEWNETCONF
	RTMDelNetconf = 81 // RTM_DELNETCONF
	RTMGetNetconf = 82 // RTM_GETNETCONF

	RTNLGroupIPv4MRoute  = 6  // RTNLGRP_IPV4_MROUTE
	RTNLGroupIPv6MRoute  = 10 // RTNLGRP_IPV6_MROUTE
	RTNLGroupIPv4Netconf = 24 // RTNLGRP_IPV4_NETCONF
	RTNLGroupIPv6Netconf = 25 // RTNLGRP_IPV6_NETCONF
)

// RouteMessageSize is the size of struct rtmsg.
const RouteMessageSize = 12

// NetconfMessageSize is the size of struct netconfmsg, padded to NLMSG_ALIGN.
const NetconfMessageSize = 4

const (
	rtaDst       = 1  // RTA_DST
	rtaSrc       = 2  // RTA_SRC
	rtaIIF       = 3  // RTA_IIF: u32
	rtaMultipath = 9  // RTA_MULTIPATH: struct rtnexthop list
	rtaTable     = 15 // RTA_TABLE: u32

	rtnhFUnresolved = 32 // RTNH_F_UNRESOLVED, in rtm_flags
	rtnexthopSize   = 8  // struct rtnexthop

	netconfaIfindex      = 1 // NETCONFA_IFINDEX: s32
	netconfaMCForwarding = 4 // NETCONFA_MC_FORWARDING: s32
)

// ErrMalformed is returned for a message that cannot be read.
var ErrMalformed = errors.New("mroute: malformed message")

// ErrNotMulticast is returned by [ParseRoute] for a route of another family
// than FamilyIPMR and FamilyIP6MR.
var ErrNotMulticast = errors.New("mroute: not a multicast route")

// ParseRoute reads the payload of an RTM_NEWROUTE or RTM_DELROUTE message
// of family FamilyIPMR or FamilyIP6MR: struct rtmsg and RTA_* attributes,
// as ipmr_fill_mroute and ip6mr_fill_mroute write them. An unresolved entry
// (RTNH_F_UNRESOLVED: the kernel is waiting for the routing daemon) has
// Unresolved set and no interfaces.
func ParseRoute(b []byte) (Route, error) {
	var r Route
	if len(b) < RouteMessageSize {
		return r, ErrMalformed
	}
	r.Family = b[0]
	var alen int
	switch r.Family {
	case FamilyIPMR:
		alen = 4
	case FamilyIP6MR:
		alen = 16
	default:
		return r, ErrNotMulticast
	}
	r.Table = uint32(b[4])
	r.Unresolved = binary.NativeEndian.Uint32(b[8:12])&rtnhFUnresolved != 0
	addr := func(v []byte) (netip.Addr, error) {
		if len(v) != alen {
			return netip.Addr{}, ErrMalformed
		}
		a, _ := netip.AddrFromSlice(v)
		return a, nil
	}
	err := nlattr.Each(b[RouteMessageSize:], ErrMalformed, func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case rtaSrc:
			r.Source, err = addr(v)
		case rtaDst:
			r.Group, err = addr(v)
		case rtaIIF:
			if len(v) != 4 {
				return ErrMalformed
			}
			r.IIF = int(int32(binary.NativeEndian.Uint32(v)))
		case rtaTable:
			if len(v) != 4 {
				return ErrMalformed
			}
			r.Table = binary.NativeEndian.Uint32(v)
		case rtaMultipath:
			r.OIFs, err = parseOIFs(v)
		}
		return err
	})
	if err != nil {
		return Route{}, err
	}
	if !r.Group.IsValid() {
		return Route{}, ErrMalformed
	}
	if !r.Source.IsValid() {
		r.Source = unspecified(r.Family)
	}
	return r, nil
}

// parseOIFs reads RTA_MULTIPATH: one struct rtnexthop per outgoing
// interface, its TTL threshold in rtnh_hops.
func parseOIFs(v []byte) ([]OIF, error) {
	var oifs []OIF
	for len(v) > 0 {
		if len(v) < rtnexthopSize {
			return nil, ErrMalformed
		}
		n := int(binary.NativeEndian.Uint16(v[0:2]))
		if n < rtnexthopSize || n > len(v) {
			return nil, ErrMalformed
		}
		oifs = append(oifs, OIF{Ifindex: int(int32(binary.NativeEndian.Uint32(v[4:8]))), TTL: v[3]})
		v = v[min(nlattr.Align(n), len(v)):]
	}
	return oifs, nil
}

// AppendRoute appends r as the payload of an RTM_NEWROUTE message, as the
// kernel writes it; it is ParseRoute's inverse, for tests.
func AppendRoute(b []byte, r *Route) []byte {
	var flags uint32
	if r.Unresolved {
		flags = rtnhFUnresolved
	}
	alen := byte(32)
	if r.Family == FamilyIP6MR {
		alen = 128
	}
	table := byte(r.Table)
	if r.Table > 255 {
		table = 252 // RT_TABLE_COMPAT
	}
	b = append(b, r.Family, alen, alen, 0, table, 0, 0, 5 /* RTN_MULTICAST */)
	b = binary.NativeEndian.AppendUint32(b, flags)
	b = nlattr.Append(b, rtaTable, binary.NativeEndian.AppendUint32(nil, r.Table))
	b = nlattr.Append(b, rtaSrc, r.Source.AsSlice())
	b = nlattr.Append(b, rtaDst, r.Group.AsSlice())
	if r.Unresolved {
		return b
	}
	if r.IIF != 0 {
		b = nlattr.Append(b, rtaIIF, binary.NativeEndian.AppendUint32(nil, uint32(r.IIF)))
	}
	if len(r.OIFs) > 0 {
		var mp []byte
		for _, o := range r.OIFs {
			mp = binary.NativeEndian.AppendUint16(mp, rtnexthopSize)
			mp = append(mp, 0, o.TTL)
			mp = binary.NativeEndian.AppendUint32(mp, uint32(o.Ifindex))
		}
		b = nlattr.Append(b, rtaMultipath, mp)
	}
	return b
}

// Netconf is what vtep reads of an RTM_NEWNETCONF message: whether a device
// is a multicast routing interface (a vif or mif) of its family.
type Netconf struct {
	Family  uint8 // AF_INET or AF_INET6
	Ifindex int   // NETCONFA_IFINDEX; negative for "all" and "default"
	// MCForwarding is NETCONFA_MC_FORWARDING; HasMCForwarding is whether
	// the message had it.
	MCForwarding    bool
	HasMCForwarding bool
}

// ParseNetconf reads the payload of an RTM_NEWNETCONF message: struct
// netconfmsg and NETCONFA_* attributes. It returns ErrMalformed without
// NETCONFA_IFINDEX.
func ParseNetconf(b []byte) (Netconf, error) {
	var n Netconf
	if len(b) < 1 {
		return n, ErrMalformed
	}
	n.Family = b[0]
	hasIndex := false
	err := nlattr.Each(b[min(NetconfMessageSize, len(b)):], ErrMalformed, func(typ uint16, v []byte) error {
		switch typ {
		case netconfaIfindex, netconfaMCForwarding:
			if len(v) != 4 {
				return ErrMalformed
			}
			x := int32(binary.NativeEndian.Uint32(v))
			if typ == netconfaIfindex {
				n.Ifindex, hasIndex = int(x), true
			} else {
				n.MCForwarding, n.HasMCForwarding = x != 0, true
			}
		}
		return nil
	})
	if err != nil {
		return Netconf{}, err
	}
	if !hasIndex {
		return Netconf{}, ErrMalformed
	}
	return n, nil
}

// AppendNetconf appends n as the payload of an RTM_NEWNETCONF message; it
// is ParseNetconf's inverse, for tests.
func AppendNetconf(b []byte, n *Netconf) []byte {
	b = append(b, n.Family, 0, 0, 0)
	b = nlattr.Append(b, netconfaIfindex, binary.NativeEndian.AppendUint32(nil, uint32(int32(n.Ifindex))))
	if n.HasMCForwarding {
		v := uint32(0)
		if n.MCForwarding {
			v = 1
		}
		b = nlattr.Append(b, netconfaMCForwarding, binary.NativeEndian.AppendUint32(nil, v))
	}
	return b
}
