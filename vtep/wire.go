package vtep

import (
	"encoding/binary"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/header"
)

// VXLAN header bits in the first and second 32-bit words (include/net/vxlan.h),
// named after the header package's constants.
const (
	vxFlagI   = header.VXLANFlagVNI             // VXLAN_HF_VNI
	vxFlagGBP = header.VXLANFlagGBP             // VXLAN_HF_GBP
	vxFlagRCO = header.VXLANFlagRCO             // VXLAN_HF_RCO
	vxGBPD    = header.VXLANGBPDontLearn        // GBP Don't Learn (byte 1, 0x40)
	vxGBPA    = header.VXLANGBPPolicyApplied    // GBP Policy Applied (byte 1, 0x08)
	vxGBPID   = header.VXLANGBPPolicyIDMask     // Group Policy ID
	vxGPEVer  = header.VXLANFlagGPEVersion      // VXLAN_HF_VER
	vxGPEP    = header.VXLANFlagGPENextProtocol // VXLAN_HF_NP
	vxGPEO    = header.VXLANFlagGPEOAM          // VXLAN_HF_OAM
	vxRCOUDP  = header.VXLANRCOUDP              // VXLAN_RCO_UDP (second word, low byte)
	vxRCOMask = header.VXLANRCOStartMask        // VXLAN_RCO_MASK

	// gbpMarkMask are the skb->mark bits that map to the GBP header:
	// VXLAN_GBP_DONT_LEARN | VXLAN_GBP_POLICY_APPLIED | VXLAN_GBP_ID_MASK.
	gbpMarkMask = vxGBPD | vxGBPA | vxGBPID
	// maxRemcsumStart is VXLAN_MAX_REMCSUM_START (0x7f << 1).
	maxRemcsumStart = header.VXLANRCOMaxStart
)

// Overhead of the outer headers in front of an inner frame.
const (
	vxlanHdrLen  = header.UDPSize + header.VXLANSize // VXLAN_HLEN
	outer4Len    = header.IPv4MinimumSize + vxlanHdrLen
	outer6Len    = header.IPv6FixedSize + vxlanHdrLen
	etherTypeNSH = 0x894F
	etherTypeMPL = 0x8847
)

// gpeToEtherType maps a VXLAN-GPE next protocol to an EtherType
// (tun_p_to_eth_p, include/net/tun_proto.h); 0 means unknown.
func gpeToEtherType(np uint8) uint16 {
	switch np {
	case 1:
		return header.EtherTypeIPv4
	case 2:
		return header.EtherTypeIPv6
	case 3:
		return header.EtherTypeTransparentEthernetBridging
	case 4:
		return etherTypeNSH
	case 5:
		return etherTypeMPL
	}
	return 0
}

// etherTypeToGPE is tun_p_from_eth_p; 0 means unsupported.
func etherTypeToGPE(et uint16) uint8 {
	switch et {
	case header.EtherTypeIPv4:
		return 1
	case header.EtherTypeIPv6:
		return 2
	case header.EtherTypeTransparentEthernetBridging:
		return 3
	case etherTypeNSH:
		return 4
	case etherTypeMPL:
		return 5
	}
	return 0
}

// networkOffset walks the VLAN tags of an Ethernet frame and returns the
// offset of the network header and its EtherType, as
// skb_vlan_inet_prepare/__vlan_get_protocol do. A truncated tag stack
// yields EtherType 0.
func networkOffset(frame []byte) (int, uint16) {
	off := header.EthernetSize
	et := binary.BigEndian.Uint16(frame[12:])
	for depth := 0; header.IsVLANEtherType(et); depth++ {
		if depth == 8 || len(frame) < off+header.VLANTagSize {
			return off, 0
		}
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += header.VLANTagSize
	}
	return off, et
}

// dsfield returns the TOS / traffic class of the IPv4 or IPv6 header at
// nh (ip_tunnel_get_dsfield), 0 for other protocols.
func dsfield(nh []byte, et uint16) uint8 {
	switch et {
	case header.EtherTypeIPv4:
		return nh[1]
	case header.EtherTypeIPv6:
		return uint8(binary.BigEndian.Uint16(nh[0:]) >> 4)
	}
	return 0
}

// innerTTL returns the TTL / hop limit (ip_tunnel_get_ttl), 0 for other
// protocols.
func innerTTL(nh []byte, et uint16) uint8 {
	switch et {
	case header.EtherTypeIPv4:
		return nh[8]
	case header.EtherTypeIPv6:
		return nh[7]
	}
	return 0
}

// ecnDecapsulate applies RFC 6040 decapsulation to the inner IPv4/IPv6
// header nh (IP_ECN_decapsulate / IP6_ECN_decapsulate with
// INET_ECN_decapsulate, include/net/inet_ecn.h). It returns false when the
// packet must be dropped: outer CE over a Not-ECT inner packet. Otherwise
// it raises the inner codepoint to CE when the outer one is CE, and turns
// an inner ECT(0) into ECT(1) when the outer one is ECT(1), fixing the
// IPv4 header checksum as the kernel does.
func ecnDecapsulate(outerTOS uint8, nh []byte, et uint16) bool {
	var inner uint8
	switch et {
	case header.EtherTypeIPv4:
		inner = nh[1]
	case header.EtherTypeIPv6:
		inner = uint8(binary.BigEndian.Uint16(nh[0:]) >> 4)
	default:
		return true
	}
	got, res := header.ECNDecapsulate(outerTOS, inner)
	switch {
	case res == header.ECNDecapDrop:
		return false
	case got&header.ECNMask == inner&header.ECNMask:
	case got&header.ECNMask == header.ECNCE:
		setCE(nh, et)
	default:
		setECT1(nh, et)
	}
	return true
}

// setCE is INET_ECN_set_ce: IP_ECN_set_ce or IP6_ECN_set_ce.
func setCE(nh []byte, et uint16) {
	if et == header.EtherTypeIPv4 {
		ecn := uint32(nh[1]+1) & header.ECNMask
		// ECT(1)->CE adds 2 to the TOS, ECT(0)->CE adds 1: the kernel
		// adds htons(0xFFFB + ecn) to the checksum.
		if ecn&2 == 0 {
			return
		}
		c := binary.BigEndian.Uint16(nh[10:])
		binary.BigEndian.PutUint16(nh[10:], checksum.Combine(c, uint16(0xFFFB+ecn)))
		nh[1] |= header.ECNCE
		return
	}
	if (nh[1]>>4)&header.ECNMask == header.ECNNotECT {
		return
	}
	nh[1] |= header.ECNCE << 4
}

// setECT1 is INET_ECN_set_ect1: ECT(0) becomes ECT(1).
func setECT1(nh []byte, et uint16) {
	if et == header.EtherTypeIPv4 {
		if nh[1]&header.ECNMask != header.ECNECT0 {
			return
		}
		c := binary.BigEndian.Uint16(nh[10:])
		binary.BigEndian.PutUint16(nh[10:], checksum.Combine(c, 1))
		nh[1] ^= header.ECNMask
		return
	}
	if (nh[1]>>4)&header.ECNMask != header.ECNECT0 {
		return
	}
	nh[1] ^= header.ECNMask << 4
}

// completeChecksum finishes a CHECKSUM_PARTIAL frame as skb_checksum_help
// does (gso.CompleteChecksum). It returns false if the offsets lie outside
// the frame, which the kernel never hands over.
func completeChecksum(frame []byte, start, off int) bool {
	return gso.CompleteChecksum(frame, start, off) == nil
}

// ipv4HeaderChecksum computes the checksum of a 20-byte IPv4 header whose
// checksum field is zero. It adds the header as five 32-bit words, which
// is the same one's-complement sum as ten 16-bit words.
func ipv4HeaderChecksum(h []byte) uint16 {
	_ = h[19]
	s := uint64(binary.BigEndian.Uint32(h[0:])) + uint64(binary.BigEndian.Uint32(h[4:])) +
		uint64(binary.BigEndian.Uint32(h[8:])) + uint64(binary.BigEndian.Uint32(h[12:])) +
		uint64(binary.BigEndian.Uint32(h[16:]))
	return ^checksum.Fold(s)
}

var (
	loopback4 = [4]byte{127, 0, 0, 1}
	loopback6 = [16]byte{15: 1}
)
