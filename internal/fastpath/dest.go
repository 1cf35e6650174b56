package fastpath

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vtepd/vtep/header"
)

// HeaderLen is what the program puts in front of a frame's Ethernet
// header: outer IPv4 (20), UDP (8) and VXLAN (8) headers.
const HeaderLen = 36

// Dest is where the frames to one MAC address go, and how: the outer
// headers vxlan_xmit_one builds for the FDB entry's remote.
type Dest struct {
	Src, Dst netip.Addr // IPv4 outer addresses
	Port     uint16     // UDP destination port
	VNI      header.VNI
	TTL, TOS uint8 // TOS without its ECN bits; they come from the frame (RFC 6040)
	DF       bool
	// Ifindex is the output interface of the route to Dst.
	Ifindex int
	// MaxLen is the longest frame, Ethernet header on, that goes out
	// whole (the path MTU less HeaderLen, plus the Ethernet header);
	// a GSO super-frame is held to it by its segment size. Longer frames
	// pass to vtepd, which fragments them or answers with ICMP.
	MaxLen int
	// PortMin and PortMax bound the UDP source port, which is chosen from
	// the frame's flow hash as udp_flow_src_port chooses it.
	PortMin, PortMax uint16
}

// Stats are the program's counters, summed over CPUs.
type Stats struct {
	Packets uint64 // frames encapsulated (a GSO super-frame counts once)
	Bytes   uint64 // their length, Ethernet header on
}

// value layout (destValueLen bytes), read by the program.
const (
	valIfindex    = 36 // u32, host order
	valMaxLen     = 40 // u32, host order
	valPortMin    = 44 // u16, host order
	valPortSpan   = 46 // u16, host order: PortMax - PortMin
	destValueLen  = 48
	destKeyLen    = 8 // the MAC address, two bytes of zero
	statsValueLen = 16
)

// encode returns d as a table value.
func (d *Dest) encode() ([destValueLen]byte, error) {
	var v [destValueLen]byte
	if !d.Src.Is4() || !d.Dst.Is4() {
		return v, fmt.Errorf("fastpath: %v → %v: only IPv4 outer addresses", d.Src, d.Dst)
	}
	if d.PortMax < d.PortMin {
		return v, fmt.Errorf("fastpath: source port range %d-%d", d.PortMin, d.PortMax)
	}
	ip := v[0:20]
	ip[0] = 0x45
	ip[1] = d.TOS &^ 3
	if d.DF {
		ip[6] = 0x40
	}
	ip[8] = d.TTL
	ip[9] = header.UDPProtocolNumber
	s, t := d.Src.As4(), d.Dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], t[:])
	binary.BigEndian.PutUint16(v[22:], d.Port)
	v[28] = 0x08 // the I flag
	binary.BigEndian.PutUint32(v[32:], uint32(d.VNI)<<8)
	binary.NativeEndian.PutUint32(v[valIfindex:], uint32(d.Ifindex))
	binary.NativeEndian.PutUint32(v[valMaxLen:], uint32(d.MaxLen))
	binary.NativeEndian.PutUint16(v[valPortMin:], d.PortMin)
	binary.NativeEndian.PutUint16(v[valPortSpan:], d.PortMax-d.PortMin)
	return v, nil
}

func key(mac header.MAC) [destKeyLen]byte {
	var k [destKeyLen]byte
	copy(k[:], mac[:])
	return k
}
