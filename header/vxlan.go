package header

import "encoding/binary"

const (
	vxlanFlags    = 0
	vxlanGBPFlags = 1
	vxlanPolicyID = 2
	vxlanGPENext  = 3
	vxlanVNI      = 4
	vxlanLowByte  = 7
)

// IANA-assigned and Linux default UDP destination ports.
const (
	// VXLANPort is the IANA port for VXLAN (RFC 7348 §5: "IANA has assigned
	// the value 4789 for the VXLAN UDP port, and this value SHOULD be used
	// by default as the destination UDP port").
	VXLANPort = 4789
	// VXLANLinuxPort is the kernel's default when no dstport is given
	// (vxlan_core.c udp_port = 8472, "for compatibility with early
	// adopters").
	VXLANLinuxPort = 8472
	// VXLANGPEPort is the IANA port for VXLAN-GPE (IANA_VXLAN_GPE_UDP_PORT).
	VXLANGPEPort = 4790
)

// Bits of the first 32-bit word of a VXLAN header (VXLAN.Word0), with the
// values of the kernel's VXLAN_HF_* constants (include/net/vxlan.h).
const (
	// VXLANFlagVNI is the I flag (VXLAN_HF_VNI, byte 0 0x08).
	VXLANFlagVNI uint32 = 1 << 27
	// VXLANFlagGBP is the GBP G flag (VXLAN_HF_GBP, byte 0 0x80).
	VXLANFlagGBP uint32 = 1 << 31
	// VXLANFlagRCO is the remote checksum offload C flag (VXLAN_HF_RCO,
	// byte 1 0x20).
	VXLANFlagRCO uint32 = 1 << 21
	// VXLANFlagGPEVersion is the GPE Ver field (VXLAN_HF_VER, byte 0 0x30).
	VXLANFlagGPEVersion uint32 = 3 << 28
	// VXLANFlagGPENextProtocol is the GPE P flag (VXLAN_HF_NP, byte 0 0x04).
	VXLANFlagGPENextProtocol uint32 = 1 << 26
	// VXLANFlagGPEBUM is the B flag of draft-ietf-nvo3-vxlan-gpe-13
	// (byte 0 0x02). Linux does not claim it and drops packets that set it.
	VXLANFlagGPEBUM uint32 = 1 << 25
	// VXLANFlagGPEOAM is the GPE O flag (VXLAN_HF_OAM, byte 0 0x01).
	VXLANFlagGPEOAM uint32 = 1 << 24
	// VXLANGBPDontLearn is the GBP D bit (byte 1 0x40).
	VXLANGBPDontLearn uint32 = 1 << 22
	// VXLANGBPPolicyApplied is the GBP A bit (byte 1 0x08).
	VXLANGBPPolicyApplied uint32 = 1 << 19
	// VXLANGBPPolicyIDMask covers the GBP Group Policy ID (bytes 2-3).
	VXLANGBPPolicyIDMask uint32 = 0xffff
)

// Bits of the last byte of a VXLAN header under remote checksum offload
// (the kernel's VXLAN_RCO_*).
const (
	// VXLANRCOUDP is the O bit: the inner checksum field is UDP's
	// (VXLAN_RCO_UDP); clear means TCP.
	VXLANRCOUDP = 0x80
	// VXLANRCOStartMask covers the encoded checksum start, start>>1
	// (VXLAN_RCO_MASK).
	VXLANRCOStartMask = 0x7f
	// VXLANRCOMaxStart is the largest checksum start that can be encoded
	// (VXLAN_MAX_REMCSUM_START); starts must also be even.
	VXLANRCOMaxStart = 254
)

// Header bits that each feature claims, in the 64-bit layout of
// VXLAN.Uint64 (the 8 header bytes read big-endian). They match the
// kernel's used_bits (vxlan_core.c vxlan_nl2conf starts from VXLAN_HF_VNI
// and VXLAN_VNI_MASK and adds each enabled extension's bits); the default
// reserved_bits is their complement, and vxlan_rcv drops a packet that sets
// any reserved bit. IFLA_VXLAN_RESERVED_BITS replaces the mask with an
// explicit one.
const (
	// VXLANUsedBitsDefault is the I flag and the 24-bit VNI. Its complement,
	// 0xf7ffffff000000ff, is the kernel's default reserved_bits.
	VXLANUsedBitsDefault uint64 = uint64(VXLANFlagVNI)<<32 | 0xffffff00
	// VXLANUsedBitsGBP is what "gbp" adds (VXLAN_GBP_USED_BITS: G and the
	// low 24 bits of the first word).
	VXLANUsedBitsGBP uint64 = uint64(VXLANFlagGBP|0x00ffffff) << 32
	// VXLANUsedBitsGPE is what "gpe" adds (VXLAN_GPE_USED_BITS: Ver, P, O and
	// Next Protocol).
	VXLANUsedBitsGPE uint64 = uint64(VXLANFlagGPEVersion|VXLANFlagGPENextProtocol|VXLANFlagGPEOAM|0xff) << 32
	// VXLANUsedBitsRCO is what "remcsumrx" adds: C and the last byte.
	VXLANUsedBitsRCO uint64 = uint64(VXLANFlagRCO)<<32 | 0xff
)

// VXLAN is a view of a VXLAN header (RFC 7348 §5), optionally carrying the
// Group Based Policy extension (draft-smith-vxlan-group-policy) and remote
// checksum offload (draft-herbert-vxlan-rco). The plain header:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|R|R|R|I|R|R|R|            Reserved                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7348 §5: "Flags (8 bits): where the I flag MUST be set to 1 for a
// valid VXLAN Network ID (VNI). The other 7 bits (designated "R") are
// reserved fields and MUST be set to zero on transmission and ignored on
// receipt." and "Reserved fields (24 bits and 8 bits): MUST be set to zero
// on transmission and ignored on receipt." Linux instead drops packets with
// reserved bits set (vxlan_rcv: "This behavior diverges from VXLAN RFC
// (RFC7348) which stipulates that bits in reserved in reserved fields are to
// be ignored"); the datapath applies that rule with Uint64 and the
// VXLANUsedBits* masks.
//
// With GBP, the first word becomes:
//
//	|G|R|R|R|I|R|R|R|R|D|R|R|A|R|R|R|        Group Policy ID        |
//
// D (Don't Learn): "the egress VTEP MUST NOT learn the source address of
// the encapsulated frame" (the kernel parses it but never honours it). A
// (Policy Applied): "Policies MUST NOT be applied by devices when the A bit
// is set."
//
// With remote checksum offload:
//
//	|R|R|R|R|I|R|R|R|R|R|C|              Reserved                   |
//	|           VXLAN Network Identifier (VNI)      |O| Csum start  |
//
// C says the inner L4 checksum is left for the receiver; "Csum start" is
// start>>1, where start counts from the first byte after the VXLAN header;
// O selects the UDP checksum field (start+6) over TCP's (start+16).
//
// VXLAN-GPE reuses the same 8 bytes differently; see VXLANGPE. Accessors
// are unchecked; call IsValid first.
type VXLAN []byte

// VXLANFields describes a VXLAN header. The zero value plus a VNI is a
// plain RFC 7348 header with the I flag set.
type VXLANFields struct {
	// VNI is the "VXLAN Network Identifier"; only its low 24 bits are used.
	VNI VNI
	// OmitIFlag leaves the I flag clear. Such a header is invalid (the
	// kernel drops it); this exists to build test packets.
	OmitIFlag bool

	// GBP sets the G flag and the Group Based Policy fields below.
	GBP bool
	// GBPDontLearn is the D bit.
	GBPDontLearn bool
	// GBPPolicyApplied is the A bit.
	GBPPolicyApplied bool
	// GroupPolicyID is the 16-bit "Group Policy ID".
	GroupPolicyID uint16

	// RCO sets the C flag and the remote checksum offload fields below.
	RCO bool
	// RCOStart is the checksum start in bytes from the end of the VXLAN
	// header: even and at most VXLANRCOMaxStart.
	RCOStart int
	// RCOUDP is the O bit: the checksum field is UDP's, not TCP's.
	RCOUDP bool
}

// IsValid reports whether v is at least VXLANSize bytes long. Whether the
// flags are acceptable is the receiver's policy: see IFlag, Uint64 and the
// VXLANUsedBits* masks.
func (v VXLAN) IsValid() bool { return len(v) >= VXLANSize }

// Flags returns the 8-bit "Flags" field (the first byte).
func (v VXLAN) Flags() uint8 { return v[vxlanFlags] }

// SetFlags sets the 8-bit "Flags" field.
func (v VXLAN) SetFlags(f uint8) { v[vxlanFlags] = f }

// Word0 returns the first 32 bits: flags, reserved/GBP bits and the Group
// Policy ID. Compare it with the VXLANFlag* constants.
func (v VXLAN) Word0() uint32 { return binary.BigEndian.Uint32(v[0:]) }

// SetWord0 sets the first 32 bits.
func (v VXLAN) SetWord0(w uint32) { binary.BigEndian.PutUint32(v[0:], w) }

// Word1 returns the second 32 bits: VNI<<8 and the last reserved byte.
func (v VXLAN) Word1() uint32 { return binary.BigEndian.Uint32(v[vxlanVNI:]) }

// SetWord1 sets the second 32 bits.
func (v VXLAN) SetWord1(w uint32) { binary.BigEndian.PutUint32(v[vxlanVNI:], w) }

// Uint64 returns the whole header read as a big-endian 64-bit number, the
// layout of the kernel's reserved_bits (IFLA_VXLAN_RESERVED_BITS): bit 63
// is the first bit on the wire. A receiver drops the packet when
// v.Uint64()&reserved != 0.
func (v VXLAN) Uint64() uint64 { return binary.BigEndian.Uint64(v) }

// SetUint64 writes the whole header from its 64-bit form.
func (v VXLAN) SetUint64(u uint64) { binary.BigEndian.PutUint64(v, u) }

// IFlag returns the I flag: "MUST be set to 1 for a valid VXLAN Network
// ID". The kernel's vxlan_rcv drops packets without it.
func (v VXLAN) IFlag() bool { return v[vxlanFlags]&0x08 != 0 }

// SetIFlag sets or clears the I flag.
func (v VXLAN) SetIFlag(on bool) { setBit(&v[vxlanFlags], 0x08, on) }

// VNI returns the 24-bit "VXLAN Network Identifier".
func (v VXLAN) VNI() VNI { return VNI(v.Word1() >> 8) }

// SetVNI sets the "VXLAN Network Identifier" to the low 24 bits of vni and
// keeps the last byte.
func (v VXLAN) SetVNI(vni VNI) {
	v[vxlanVNI] = byte(vni >> 16)
	v[vxlanVNI+1] = byte(vni >> 8)
	v[vxlanVNI+2] = byte(vni)
}

// GBP returns the G flag: the header carries a Group Based Policy.
func (v VXLAN) GBP() bool { return v[vxlanFlags]&0x80 != 0 }

// GBPDontLearn returns the GBP D (Don't Learn) bit.
func (v VXLAN) GBPDontLearn() bool { return v[vxlanGBPFlags]&0x40 != 0 }

// GBPPolicyApplied returns the GBP A (Policy Applied) bit.
func (v VXLAN) GBPPolicyApplied() bool { return v[vxlanGBPFlags]&0x08 != 0 }

// GroupPolicyID returns the 16-bit GBP "Group Policy ID".
func (v VXLAN) GroupPolicyID() uint16 { return binary.BigEndian.Uint16(v[vxlanPolicyID:]) }

// SetGBP sets the G flag, D and A bits and the Group Policy ID, and keeps
// every other bit (the I flag, the RCO C flag).
func (v VXLAN) SetGBP(dontLearn, applied bool, id uint16) {
	v[vxlanFlags] |= 0x80
	setBit(&v[vxlanGBPFlags], 0x40, dontLearn)
	setBit(&v[vxlanGBPFlags], 0x08, applied)
	binary.BigEndian.PutUint16(v[vxlanPolicyID:], id)
}

// GBPMark returns the GBP fields packed as the kernel packs them into
// skb->mark (vxlan_parse_gbp_hdr): D<<22 | A<<19 | Group Policy ID. The
// value is meaningful only when GBP is set.
func (v VXLAN) GBPMark() uint32 {
	return v.Word0() & (VXLANGBPDontLearn | VXLANGBPPolicyApplied | VXLANGBPPolicyIDMask)
}

// RCO returns the C flag: remote checksum offload is in use.
func (v VXLAN) RCO() bool { return v[vxlanGBPFlags]&0x20 != 0 }

// RCOStart returns the checksum start in bytes, measured from the first
// byte after the VXLAN header (the inner Ethernet header).
func (v VXLAN) RCOStart() int { return int(v[vxlanLowByte]&VXLANRCOStartMask) << 1 }

// RCOUDP returns the O bit: the checksum field is UDP's.
func (v VXLAN) RCOUDP() bool { return v[vxlanLowByte]&VXLANRCOUDP != 0 }

// RCOChecksumOffset returns the offset of the inner checksum field from the
// first byte after the VXLAN header: start+6 for UDP, start+16 for TCP
// (vxlan_remcsum: offsetof(struct udphdr, check) or
// offsetof(struct tcphdr, check)).
func (v VXLAN) RCOChecksumOffset() int {
	if v.RCOUDP() {
		return v.RCOStart() + 6
	}
	return v.RCOStart() + 16
}

// SetRCO sets the C flag and encodes start (bytes from the end of the VXLAN
// header; even, at most VXLANRCOMaxStart) and the O bit into the last
// byte.
func (v VXLAN) SetRCO(start int, udp bool) {
	v[vxlanGBPFlags] |= 0x20
	b := uint8(start>>1) & VXLANRCOStartMask
	if udp {
		b |= VXLANRCOUDP
	}
	v[vxlanLowByte] = b
}

// Encode writes the header described by f. Bits that f does not describe
// are zero, as RFC 7348 requires on transmission.
func (v VXLAN) Encode(f *VXLANFields) {
	clear(v[:VXLANSize])
	v.SetIFlag(!f.OmitIFlag)
	v.SetVNI(f.VNI)
	if f.GBP {
		v.SetGBP(f.GBPDontLearn, f.GBPPolicyApplied, f.GroupPolicyID)
	}
	if f.RCO {
		v.SetRCO(f.RCOStart, f.RCOUDP)
	}
}

// Fields returns the header as a VXLANFields. GBP and RCO fields are filled
// only when the G or C flag is set; reserved bits are not represented.
func (v VXLAN) Fields() VXLANFields {
	f := VXLANFields{VNI: v.VNI(), OmitIFlag: !v.IFlag()}
	if v.GBP() {
		f.GBP = true
		f.GBPDontLearn = v.GBPDontLearn()
		f.GBPPolicyApplied = v.GBPPolicyApplied()
		f.GroupPolicyID = v.GroupPolicyID()
	}
	if v.RCO() {
		f.RCO = true
		f.RCOStart = v.RCOStart()
		f.RCOUDP = v.RCOUDP()
	}
	return f
}

func setBit(b *byte, mask byte, on bool) {
	if on {
		*b |= mask
	} else {
		*b &^= mask
	}
}

// VXLAN-GPE Next Protocol values (include/net/tun_proto.h TUN_P_*).
const (
	VXLANGPENextProtocolIPv4     = 0x01
	VXLANGPENextProtocolIPv6     = 0x02
	VXLANGPENextProtocolEthernet = 0x03
	VXLANGPENextProtocolNSH      = 0x04
	VXLANGPENextProtocolMPLS     = 0x05
)

// VXLANGPE is a view of a VXLAN Generic Protocol Extension header
// (draft-ietf-nvo3-vxlan-gpe; no RFC number is assigned), the layout the
// kernel implements from draft -01 plus the B bit of draft -13:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|R|Ver|I|P|B|O|       Reserved                |Next Protocol  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The kernel's vxlan_parse_gpe_proto requires P=1, drops Ver != 0 ("If a
// receiver does not support the version indicated it MUST drop the
// packet"), drops O=1 (no OAM processing) and drops unknown Next Protocol
// values; B is not claimed, so B=1 is dropped as a reserved bit. Accessors
// are unchecked; call IsValid first.
type VXLANGPE []byte

// VXLANGPEFields describes a VXLAN-GPE header. The zero value plus a VNI
// and NextProtocol has I and P set and Ver 0.
type VXLANGPEFields struct {
	// Version is the 2-bit "Ver" field.
	Version uint8
	// OmitIFlag leaves the I flag clear (an invalid header, for tests).
	OmitIFlag bool
	// OmitPFlag leaves the P flag clear (the Next Protocol field is then
	// not present; the kernel drops such packets).
	OmitPFlag bool
	// BUM is the B bit: "ingress-replicated BUM Traffic".
	BUM bool
	// OAM is the O bit.
	OAM bool
	// NextProtocol is the "Next Protocol" (VXLANGPENextProtocol*).
	NextProtocol uint8
	// VNI is the "VXLAN Network Identifier".
	VNI VNI
}

// IsValid reports whether v is at least VXLANSize bytes long.
func (v VXLANGPE) IsValid() bool { return len(v) >= VXLANSize }

// Flags returns the first byte: Ver, I, P, B and O.
func (v VXLANGPE) Flags() uint8 { return v[vxlanFlags] }

// Version returns the 2-bit "Ver" field.
func (v VXLANGPE) Version() uint8 { return v[vxlanFlags] >> 4 & 3 }

// IFlag returns the I flag (VNI present).
func (v VXLANGPE) IFlag() bool { return v[vxlanFlags]&0x08 != 0 }

// PFlag returns the P flag: the Next Protocol field is present.
func (v VXLANGPE) PFlag() bool { return v[vxlanFlags]&0x04 != 0 }

// BUM returns the B bit.
func (v VXLANGPE) BUM() bool { return v[vxlanFlags]&0x02 != 0 }

// OAM returns the O bit.
func (v VXLANGPE) OAM() bool { return v[vxlanFlags]&0x01 != 0 }

// NextProtocol returns the 8-bit "Next Protocol" field.
func (v VXLANGPE) NextProtocol() uint8 { return v[vxlanGPENext] }

// SetNextProtocol sets the "Next Protocol" field.
func (v VXLANGPE) SetNextProtocol(p uint8) { v[vxlanGPENext] = p }

// VNI returns the 24-bit "VXLAN Network Identifier".
func (v VXLANGPE) VNI() VNI { return VXLAN(v).VNI() }

// SetVNI sets the "VXLAN Network Identifier" to the low 24 bits of vni.
func (v VXLANGPE) SetVNI(vni VNI) { VXLAN(v).SetVNI(vni) }

// Uint64 returns the whole header as a big-endian 64-bit number, as
// VXLAN.Uint64.
func (v VXLANGPE) Uint64() uint64 { return binary.BigEndian.Uint64(v) }

// Encode writes the header described by f; reserved bits are zero.
func (v VXLANGPE) Encode(f *VXLANGPEFields) {
	clear(v[:VXLANSize])
	b := (f.Version & 3) << 4
	if !f.OmitIFlag {
		b |= 0x08
	}
	if !f.OmitPFlag {
		b |= 0x04
	}
	if f.BUM {
		b |= 0x02
	}
	if f.OAM {
		b |= 0x01
	}
	v[vxlanFlags] = b
	v[vxlanGPENext] = f.NextProtocol
	v.SetVNI(f.VNI)
}

// Fields returns the header as a VXLANGPEFields; reserved bits are not
// represented.
func (v VXLANGPE) Fields() VXLANGPEFields {
	return VXLANGPEFields{
		Version:      v.Version(),
		OmitIFlag:    !v.IFlag(),
		OmitPFlag:    !v.PFlag(),
		BUM:          v.BUM(),
		OAM:          v.OAM(),
		NextProtocol: v.NextProtocol(),
		VNI:          v.VNI(),
	}
}
