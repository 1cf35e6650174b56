package header

import (
	"encoding/binary"
	"net/netip"
)

const (
	arpHardwareType   = 0
	arpProtocolType   = 2
	arpHardwareLength = 4
	arpProtocolLength = 5
	arpOp             = 6
	arpSenderHW       = 8
	arpSenderProto    = 14
	arpTargetHW       = 18
	arpTargetProto    = 24
)

// ARP opcodes (RFC 826 "ar$op").
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARPHardwareEthernet is the "ar$hrd" value for Ethernet (RFC 826: "Ethernet
// (10Mb) 1").
const ARPHardwareEthernet = 1

// ARP is a view of an ARP packet (RFC 826) for Ethernet hardware addresses
// and IPv4 protocol addresses, the only form vtep handles (proxy ARP,
// kernel vxlan_core.c arp_reduce):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|       ar$hrd (1)              |       ar$pro (0x0800)         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  ar$hln (6)   |  ar$pln (4)   |            ar$op              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|              ar$sha (sender hardware address, 6)              |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |  ar$spa (sender protocol ...  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   ... address, 4)             |  ar$tha (target hardware ...  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                   ... address, 6)                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|              ar$tpa (target protocol address, 4)              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Accessors are unchecked; call IsValid first.
type ARP []byte

// ARPFields describes an Ethernet/IPv4 ARP packet. Encode always writes
// hardware type 1, protocol type 0x0800 and lengths 6 and 4.
type ARPFields struct {
	// Op is "ar$op", ARPRequest or ARPReply.
	Op uint16
	// SenderHardwareAddress is "ar$sha".
	SenderHardwareAddress MAC
	// SenderProtocolAddress is "ar$spa"; it must be an IPv4 address.
	SenderProtocolAddress netip.Addr
	// TargetHardwareAddress is "ar$tha".
	TargetHardwareAddress MAC
	// TargetProtocolAddress is "ar$tpa"; it must be an IPv4 address.
	TargetProtocolAddress netip.Addr
}

// IsValid reports whether a is at least ARPSize bytes long and describes
// Ethernet (ar$hrd 1, ar$hln 6) and IPv4 (ar$pro 0x0800, ar$pln 4)
// addresses, the checks the kernel's arp_reduce makes before reading the
// addresses. It accepts any opcode.
func (a ARP) IsValid() bool {
	return len(a) >= ARPSize &&
		a.HardwareType() == ARPHardwareEthernet && a.ProtocolType() == EtherTypeIPv4 &&
		a[arpHardwareLength] == 6 && a[arpProtocolLength] == 4
}

// HardwareType returns the "ar$hrd" (hardware address space) field.
func (a ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(a[arpHardwareType:]) }

// ProtocolType returns the "ar$pro" (protocol address space) field, an EtherType.
func (a ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(a[arpProtocolType:]) }

// HardwareAddressLength returns the "ar$hln" field.
func (a ARP) HardwareAddressLength() uint8 { return a[arpHardwareLength] }

// ProtocolAddressLength returns the "ar$pln" field.
func (a ARP) ProtocolAddressLength() uint8 { return a[arpProtocolLength] }

// Op returns the "ar$op" (opcode) field.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SetOp sets the "ar$op" field.
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[arpOp:], op) }

// SenderHardwareAddress returns the "ar$sha" field.
func (a ARP) SenderHardwareAddress() MAC { return MAC(a[arpSenderHW : arpSenderHW+6]) }

// SetSenderHardwareAddress sets the "ar$sha" field.
func (a ARP) SetSenderHardwareAddress(m MAC) { copy(a[arpSenderHW:arpSenderHW+6], m[:]) }

// SenderProtocolAddress returns the "ar$spa" field.
func (a ARP) SenderProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(a[arpSenderProto : arpSenderProto+4]))
}

// SenderProtocolAddressSlice returns the "ar$spa" field in place.
func (a ARP) SenderProtocolAddressSlice() []byte { return a[arpSenderProto : arpSenderProto+4] }

// SetSenderProtocolAddress sets the "ar$spa" field. addr must be IPv4.
func (a ARP) SetSenderProtocolAddress(addr netip.Addr) {
	b := addr.As4()
	copy(a[arpSenderProto:arpSenderProto+4], b[:])
}

// TargetHardwareAddress returns the "ar$tha" field.
func (a ARP) TargetHardwareAddress() MAC { return MAC(a[arpTargetHW : arpTargetHW+6]) }

// SetTargetHardwareAddress sets the "ar$tha" field.
func (a ARP) SetTargetHardwareAddress(m MAC) { copy(a[arpTargetHW:arpTargetHW+6], m[:]) }

// TargetProtocolAddress returns the "ar$tpa" field.
func (a ARP) TargetProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(a[arpTargetProto : arpTargetProto+4]))
}

// TargetProtocolAddressSlice returns the "ar$tpa" field in place.
func (a ARP) TargetProtocolAddressSlice() []byte { return a[arpTargetProto : arpTargetProto+4] }

// SetTargetProtocolAddress sets the "ar$tpa" field. addr must be IPv4.
func (a ARP) SetTargetProtocolAddress(addr netip.Addr) {
	b := addr.As4()
	copy(a[arpTargetProto:arpTargetProto+4], b[:])
}

// Encode writes the ARPSize-byte packet described by f.
func (a ARP) Encode(f *ARPFields) {
	binary.BigEndian.PutUint16(a[arpHardwareType:], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(a[arpProtocolType:], EtherTypeIPv4)
	a[arpHardwareLength] = 6
	a[arpProtocolLength] = 4
	a.SetOp(f.Op)
	a.SetSenderHardwareAddress(f.SenderHardwareAddress)
	a.SetSenderProtocolAddress(f.SenderProtocolAddress)
	a.SetTargetHardwareAddress(f.TargetHardwareAddress)
	a.SetTargetProtocolAddress(f.TargetProtocolAddress)
}

// Fields returns the packet as an ARPFields.
func (a ARP) Fields() ARPFields {
	return ARPFields{
		Op:                    a.Op(),
		SenderHardwareAddress: a.SenderHardwareAddress(),
		SenderProtocolAddress: a.SenderProtocolAddress(),
		TargetHardwareAddress: a.TargetHardwareAddress(),
		TargetProtocolAddress: a.TargetProtocolAddress(),
	}
}
