package header

import "encoding/binary"

const (
	ethDestination = 0
	ethSource      = 6
	ethType        = 12
)

// Ethernet is a view of an Ethernet II frame, starting at the destination
// address and running to the end of the frame (no FCS). Zero, one or more
// 802.1Q (C-tag) or 802.1ad (S-tag) tags may sit between the source address
// and the EtherType of the payload:
//
//	+-------------+-------------+------+-----+------+-----+-----------+---------
//	| Destination |   Source    | TPID | TCI | TPID | TCI | EtherType | payload
//	|  6 bytes    |  6 bytes    |  2   |  2  |  2   |  2  |     2     |
//	+-------------+-------------+------+-----+------+-----+-----------+---------
//	                            <---- VLANTag 0 ----> ...
//
// Accessors are unchecked; call IsValid before using them. The VLAN walkers
// (PayloadOffset, NumVLANTags, VLANTagAt) check bounds themselves.
type Ethernet []byte

// VLANTagFields describes one 802.1Q/802.1ad tag.
type VLANTagFields struct {
	// TPID is the "Tag Protocol Identifier": EtherType8021Q or EtherType8021AD.
	TPID uint16
	// Priority is the 3-bit "Priority Code Point" (PCP).
	Priority uint8
	// DropEligible is the "Drop Eligible Indicator" (DEI) bit.
	DropEligible bool
	// ID is the 12-bit "VLAN Identifier" (VID).
	ID uint16
}

// EthernetFields describes an Ethernet header with its VLAN tags.
type EthernetFields struct {
	// Destination is the "Destination Address".
	Destination MAC
	// Source is the "Source Address".
	Source MAC
	// VLANTags are the tags in wire order, outermost first.
	VLANTags []VLANTagFields
	// Type is the EtherType of the payload, after the last tag.
	Type uint16
}

// IsVLANEtherType reports whether t is the TPID of a VLAN tag (802.1Q or
// 802.1ad), as the kernel's eth_type_vlan.
func IsVLANEtherType(t uint16) bool { return t == EtherType8021Q || t == EtherType8021AD }

// IsValid reports whether e is long enough for an untagged Ethernet header.
// It does not check the VLAN tags; PayloadOffset does.
func (e Ethernet) IsValid() bool { return len(e) >= EthernetSize }

// DestinationAddress returns the "Destination Address" field.
func (e Ethernet) DestinationAddress() MAC { return MAC(e[ethDestination : ethDestination+6]) }

// SetDestinationAddress sets the "Destination Address" field.
func (e Ethernet) SetDestinationAddress(m MAC) { copy(e[ethDestination:ethDestination+6], m[:]) }

// SourceAddress returns the "Source Address" field.
func (e Ethernet) SourceAddress() MAC { return MAC(e[ethSource : ethSource+6]) }

// SetSourceAddress sets the "Source Address" field.
func (e Ethernet) SetSourceAddress(m MAC) { copy(e[ethSource:ethSource+6], m[:]) }

// Type returns the "EtherType" field that follows the source address. For a
// tagged frame it is the TPID of the outermost tag; PayloadOffset returns
// the EtherType of the payload.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// SetType sets the "EtherType" field that follows the source address.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[ethType:], t) }

// IsTagged reports whether the frame carries at least one VLAN tag.
func (e Ethernet) IsTagged() bool { return IsVLANEtherType(e.Type()) }

// PayloadOffset walks the VLAN tags and returns the EtherType of the
// payload and the payload's offset from the start of the frame (14 for an
// untagged frame, 18 with one tag, 22 with two). It follows any number of
// tags, like the kernel's __vlan_get_protocol. ok is false when the frame
// ends inside the header or a tag.
func (e Ethernet) PayloadOffset() (etherType uint16, off int, ok bool) {
	off = ethType
	for {
		if off+2 > len(e) {
			return 0, 0, false
		}
		t := binary.BigEndian.Uint16(e[off:])
		off += 2
		if !IsVLANEtherType(t) {
			return t, off, true
		}
		off += 2 // TCI
	}
}

// NumVLANTags returns the number of VLAN tags before the payload, or
// ok=false when the frame is truncated.
func (e Ethernet) NumVLANTags() (n int, ok bool) {
	_, off, ok := e.PayloadOffset()
	if !ok {
		return 0, false
	}
	return (off - EthernetSize) / VLANTagSize, true
}

// VLANTagAt returns the view of the i-th tag (0 is the outermost). ok is
// false when the frame has fewer than i+1 complete tags.
func (e Ethernet) VLANTagAt(i int) (tag VLANTag, ok bool) {
	off := ethType
	for n := 0; ; n++ {
		if off+VLANTagSize > len(e) || !IsVLANEtherType(binary.BigEndian.Uint16(e[off:])) {
			return nil, false
		}
		if n == i {
			return VLANTag(e[off : off+VLANTagSize]), true
		}
		off += VLANTagSize
	}
}

// Payload returns the bytes after the VLAN tags and the payload EtherType,
// or nil when the frame is truncated.
func (e Ethernet) Payload() []byte {
	_, off, ok := e.PayloadOffset()
	if !ok {
		return nil
	}
	return e[off:]
}

// EncodedLen returns the header length Encode writes for f.
func (f *EthernetFields) EncodedLen() int { return EthernetSize + VLANTagSize*len(f.VLANTags) }

// Encode writes the header described by f, tags included, to the start of
// e. e must be at least f.EncodedLen() bytes long.
func (e Ethernet) Encode(f *EthernetFields) {
	e.SetDestinationAddress(f.Destination)
	e.SetSourceAddress(f.Source)
	off := ethType
	for i := range f.VLANTags {
		VLANTag(e[off : off+VLANTagSize]).Encode(&f.VLANTags[i])
		off += VLANTagSize
	}
	binary.BigEndian.PutUint16(e[off:], f.Type)
}

// Fields returns the header as an EthernetFields, with one entry in
// VLANTags per tag. It allocates when the frame is tagged. ok is false when
// the frame is truncated.
func (e Ethernet) Fields() (f EthernetFields, ok bool) {
	t, off, ok := e.PayloadOffset()
	if !ok {
		return EthernetFields{}, false
	}
	f.Destination = e.DestinationAddress()
	f.Source = e.SourceAddress()
	f.Type = t
	if n := (off - EthernetSize) / VLANTagSize; n > 0 {
		f.VLANTags = make([]VLANTagFields, n)
		for i := range f.VLANTags {
			f.VLANTags[i] = VLANTag(e[ethType+i*VLANTagSize:]).Fields()
		}
	}
	return f, true
}

const (
	vlanTPID = 0
	vlanTCI  = 2
)

// VLANTag is a view of one 4-byte IEEE 802.1Q tag: the "Tag Protocol
// Identifier" followed by the "Tag Control Information".
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     TPID (0x8100 / 0x88A8)    | PCP |D|         VID           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type VLANTag []byte

// TPID returns the "Tag Protocol Identifier".
func (v VLANTag) TPID() uint16 { return binary.BigEndian.Uint16(v[vlanTPID:]) }

// SetTPID sets the "Tag Protocol Identifier".
func (v VLANTag) SetTPID(t uint16) { binary.BigEndian.PutUint16(v[vlanTPID:], t) }

// TCI returns the 16-bit "Tag Control Information".
func (v VLANTag) TCI() uint16 { return binary.BigEndian.Uint16(v[vlanTCI:]) }

// SetTCI sets the "Tag Control Information".
func (v VLANTag) SetTCI(t uint16) { binary.BigEndian.PutUint16(v[vlanTCI:], t) }

// Priority returns the 3-bit "Priority Code Point".
func (v VLANTag) Priority() uint8 { return v[vlanTCI] >> 5 }

// DropEligible returns the "Drop Eligible Indicator" bit.
func (v VLANTag) DropEligible() bool { return v[vlanTCI]&0x10 != 0 }

// ID returns the 12-bit "VLAN Identifier".
func (v VLANTag) ID() uint16 { return v.TCI() & 0x0fff }

// SetID sets the "VLAN Identifier", keeping priority and DEI.
func (v VLANTag) SetID(id uint16) { v.SetTCI(v.TCI()&0xf000 | id&0x0fff) }

// Encode writes the tag described by f. Priority and ID are masked to
// their field widths.
func (v VLANTag) Encode(f *VLANTagFields) {
	v.SetTPID(f.TPID)
	tci := uint16(f.Priority&7)<<13 | f.ID&0x0fff
	if f.DropEligible {
		tci |= 0x1000
	}
	v.SetTCI(tci)
}

// Fields returns the tag as a VLANTagFields.
func (v VLANTag) Fields() VLANTagFields {
	return VLANTagFields{TPID: v.TPID(), Priority: v.Priority(), DropEligible: v.DropEligible(), ID: v.ID()}
}
