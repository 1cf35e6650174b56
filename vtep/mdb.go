package vtep

import (
	"encoding/binary"
	"net/netip"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
)

// mdbXmit is the MDB step of vxlan_xmit (vxlan_mdb_entry_skb_get, then
// vxlan_mdb_xmit), taken when the link's MDB has entries: an untagged
// IPv4/IPv6 frame to a multicast, non-broadcast MAC whose (S, G), (*, G)
// or catch-all entry exists goes to that entry's remotes instead of the
// FDB's. It reports whether the MDB took the frame. vni is the frame's
// source VNI (0 unless the link is external).
func (l *Link) mdbXmit(b *txBatch, st *linkState, buf []byte, size int, m *tap.Meta, vni header.VNI) bool {
	frame := buf[tap.Headroom : tap.Headroom+size]
	if dst := header.MAC(frame[0:6]); !dst.IsMulticast() || dst.IsBroadcast() {
		return false
	}
	var group, source netip.Addr
	nh := frame[header.EthernetSize:]
	// skb->protocol is the outer EtherType: a VLAN-tagged frame is not
	// looked up.
	switch binary.BigEndian.Uint16(frame[12:]) {
	case header.EtherTypeIPv4:
		if len(nh) < header.IPv4MinimumSize {
			return false
		}
		source, group = netip.AddrFrom4([4]byte(nh[12:16])), netip.AddrFrom4([4]byte(nh[16:20]))
	case header.EtherTypeIPv6:
		if len(nh) < header.IPv6FixedSize {
			return false
		}
		source, group = netip.AddrFrom16([16]byte(nh[8:24])), netip.AddrFrom16([16]byte(nh[24:40]))
	default:
		return false
	}
	// Outside external mode the entries are keyed by the link's VNI.
	if !st.external {
		vni = st.vni
	}
	rs, found := l.fdb.MDBLookup(group, source, vni)
	if !found {
		return false
	}
	if len(rs) == 0 {
		// Every remote is blocked or INCLUDE (VXLAN_NO_REMOTE).
		l.drop(DropMDBNoRemote, l.vniStatsFor(st, vni))
		return true
	}
	l.replicate(b, st, buf, size, m, vni, rs, false)
	return true
}
