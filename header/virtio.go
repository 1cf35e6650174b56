package header

import "encoding/binary"

const (
	virtioFlags      = 0
	virtioGSOType    = 1
	virtioHdrLen     = 2
	virtioGSOSize    = 4
	virtioCsumStart  = 6
	virtioCsumOffset = 8
	virtioNumBuffers = 10
)

// Sizes of the two virtio-net header forms.
const (
	// VirtioNetHdrSize is the length of the legacy struct virtio_net_hdr.
	VirtioNetHdrSize = 10
	// VirtioNetHdrMrgRxbufSize is the length of struct
	// virtio_net_hdr_mrg_rxbuf (and of struct virtio_net_hdr_v1), which
	// adds num_buffers. A TAP uses it after TUNSETVNETHDRSZ 12.
	VirtioNetHdrMrgRxbufSize = 12
)

// virtio_net_hdr flags (include/uapi/linux/virtio_net.h).
const (
	// VirtioNetHdrFlagNeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the checksum
	// at CsumStart+CsumOffset holds only the pseudo-header sum and must be
	// completed over the bytes from CsumStart to the end.
	VirtioNetHdrFlagNeedsCsum = 1
	// VirtioNetHdrFlagDataValid (VIRTIO_NET_HDR_F_DATA_VALID): the checksum
	// has been validated.
	VirtioNetHdrFlagDataValid = 2
)

// virtio_net_hdr gso_type values (include/uapi/linux/virtio_net.h).
const (
	VirtioNetHdrGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	VirtioNetHdrGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	VirtioNetHdrGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO, obsolete)
	VirtioNetHdrGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	VirtioNetHdrGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	VirtioNetHdrGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or'ed into the type
)

// VirtioNetHdr is a view of the virtio-net header that a TAP device with
// IFF_VNET_HDR puts in front of every frame (struct virtio_net_hdr, and
// struct virtio_net_hdr_mrg_rxbuf when the header size is 12):
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|     flags     |   gso_type    |            hdr_len            |
//	+---------------+---------------+-------------------------------+
//	|           gso_size            |          csum_start           |
//	+-------------------------------+-------------------------------+
//	|          csum_offset          |  num_buffers (12-byte form)   |
//	+-------------------------------+-------------------------------+
//
// The view is exactly the header: its length, 10 or 12, selects the form.
//
// Byte order: a TAP encodes these fields in the host's byte order unless
// TUNSETVNETLE or TUNSETVNETBE says otherwise (drivers/net/tun_vnet.h
// tun_vnet16_to_cpu; a "legacy" virtio device is native-endian). vtep
// supports little-endian hosts only (amd64, arm64), so this view reads and
// writes little-endian, which is also the byte order of virtio 1.0 and of
// TUNSETVNETLE.
//
// Offsets (hdr_len, csum_start) count from the start of the Ethernet frame
// that follows the header. Accessors are unchecked; call IsValid first.
type VirtioNetHdr []byte

// VirtioNetHdrFields describes a virtio-net header.
type VirtioNetHdrFields struct {
	// Flags is "flags" (VirtioNetHdrFlag*).
	Flags uint8
	// GSOType is "gso_type" (VirtioNetHdrGSO*).
	GSOType uint8
	// HdrLen is "hdr_len": the length of the headers before the payload
	// of each segment.
	HdrLen uint16
	// GSOSize is "gso_size": the payload size of each segment.
	GSOSize uint16
	// CsumStart is "csum_start": where checksumming starts.
	CsumStart uint16
	// CsumOffset is "csum_offset": where the checksum goes, relative to
	// CsumStart (16 for TCP, 6 for UDP).
	CsumOffset uint16
	// NumBuffers is "num_buffers"; only the 12-byte form carries it.
	NumBuffers uint16
}

// IsValid reports whether v is exactly 10 or 12 bytes long.
func (v VirtioNetHdr) IsValid() bool {
	return len(v) == VirtioNetHdrSize || len(v) == VirtioNetHdrMrgRxbufSize
}

// Flags returns the "flags" field.
func (v VirtioNetHdr) Flags() uint8 { return v[virtioFlags] }

// SetFlags sets the "flags" field.
func (v VirtioNetHdr) SetFlags(f uint8) { v[virtioFlags] = f }

// GSOType returns the "gso_type" field.
func (v VirtioNetHdr) GSOType() uint8 { return v[virtioGSOType] }

// SetGSOType sets the "gso_type" field.
func (v VirtioNetHdr) SetGSOType(t uint8) { v[virtioGSOType] = t }

// HdrLen returns the "hdr_len" field.
func (v VirtioNetHdr) HdrLen() uint16 { return binary.LittleEndian.Uint16(v[virtioHdrLen:]) }

// SetHdrLen sets the "hdr_len" field.
func (v VirtioNetHdr) SetHdrLen(l uint16) { binary.LittleEndian.PutUint16(v[virtioHdrLen:], l) }

// GSOSize returns the "gso_size" field.
func (v VirtioNetHdr) GSOSize() uint16 { return binary.LittleEndian.Uint16(v[virtioGSOSize:]) }

// SetGSOSize sets the "gso_size" field.
func (v VirtioNetHdr) SetGSOSize(s uint16) { binary.LittleEndian.PutUint16(v[virtioGSOSize:], s) }

// CsumStart returns the "csum_start" field.
func (v VirtioNetHdr) CsumStart() uint16 { return binary.LittleEndian.Uint16(v[virtioCsumStart:]) }

// SetCsumStart sets the "csum_start" field.
func (v VirtioNetHdr) SetCsumStart(s uint16) {
	binary.LittleEndian.PutUint16(v[virtioCsumStart:], s)
}

// CsumOffset returns the "csum_offset" field.
func (v VirtioNetHdr) CsumOffset() uint16 { return binary.LittleEndian.Uint16(v[virtioCsumOffset:]) }

// SetCsumOffset sets the "csum_offset" field.
func (v VirtioNetHdr) SetCsumOffset(o uint16) {
	binary.LittleEndian.PutUint16(v[virtioCsumOffset:], o)
}

// NumBuffers returns the "num_buffers" field of the 12-byte form. It
// panics on a 10-byte view.
func (v VirtioNetHdr) NumBuffers() uint16 { return binary.LittleEndian.Uint16(v[virtioNumBuffers:]) }

// SetNumBuffers sets the "num_buffers" field of the 12-byte form.
func (v VirtioNetHdr) SetNumBuffers(n uint16) {
	binary.LittleEndian.PutUint16(v[virtioNumBuffers:], n)
}

// Encode writes the header described by f; NumBuffers is written only when
// len(v) is 12.
func (v VirtioNetHdr) Encode(f *VirtioNetHdrFields) {
	v.SetFlags(f.Flags)
	v.SetGSOType(f.GSOType)
	v.SetHdrLen(f.HdrLen)
	v.SetGSOSize(f.GSOSize)
	v.SetCsumStart(f.CsumStart)
	v.SetCsumOffset(f.CsumOffset)
	if len(v) >= VirtioNetHdrMrgRxbufSize {
		v.SetNumBuffers(f.NumBuffers)
	}
}

// Fields returns the header as a VirtioNetHdrFields; NumBuffers is zero for
// the 10-byte form.
func (v VirtioNetHdr) Fields() VirtioNetHdrFields {
	f := VirtioNetHdrFields{
		Flags:      v.Flags(),
		GSOType:    v.GSOType(),
		HdrLen:     v.HdrLen(),
		GSOSize:    v.GSOSize(),
		CsumStart:  v.CsumStart(),
		CsumOffset: v.CsumOffset(),
	}
	if len(v) >= VirtioNetHdrMrgRxbufSize {
		f.NumBuffers = v.NumBuffers()
	}
	return f
}
