package underlay

import "encoding/binary"

// TunnelHdrLen is the length of the header in front of every packet written
// to an Injector: struct virtio_net_hdr_v1_hash_tunnel.
const TunnelHdrLen = 24

// Tunnel virtio_net_hdr values (include/uapi/linux/virtio_net.h).
const (
	TunnelGSOUDPTunnelIPv4 = 0x20 // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4
	TunnelGSOUDPTunnelIPv6 = 0x40 // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV6
	TunnelFlagUDPCsum      = 0x08 // VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM
)

// PutOifMAC writes the Ethernet header of an injected packet: the
// destination address carries the output interface oif for the redirect
// program (02:00 and oif in native byte order; unicast, as
// bpf_redirect_neigh requires), the source is zero and the EtherType is
// IPv4's or IPv6's.
func PutOifMAC(b []byte, oif int, v6 bool) {
	b[0], b[1] = 0x02, 0
	binary.NativeEndian.PutUint32(b[2:6], uint32(oif))
	clear(b[6:12])
	if v6 {
		b[12], b[13] = 0x86, 0xdd
	} else {
		b[12], b[13] = 0x08, 0x00
	}
}

// TunnelHdr describes an injected super-packet for PutTunnelHdr. Offsets
// count from the start of the outer Ethernet header.
type TunnelHdr struct {
	// GSOType is the inner GSO type (VIRTIO_NET_HDR_GSO_TCPV4 or TCPV6,
	// with the ECN bit) or'ed with TunnelGSOUDPTunnelIPv4 or IPv6.
	GSOType uint8
	// UDPCsum asks for the outer UDP checksum of every segment
	// (SKB_GSO_UDP_TUNNEL_CSUM); the UDP checksum field then holds the
	// pseudo-header sum.
	UDPCsum bool
	// GSOSize is the inner payload size of each segment.
	GSOSize uint16
	// HdrLen is the length of all headers through the inner TCP header.
	HdrLen uint16
	// CsumStart is the inner TCP header's offset; its checksum field
	// holds the pseudo-header sum (NEEDS_CSUM).
	CsumStart uint16
	// CsumOffset is the checksum field's offset in the inner TCP header.
	CsumOffset uint16
	// OuterTransport is the outer UDP header's offset.
	OuterTransport uint16
	// InnerNetwork is the inner IP header's offset.
	InnerNetwork uint16
}

// PutTunnelHdr writes h as a virtio_net_hdr_v1_hash_tunnel into
// b[:TunnelHdrLen] (little-endian, as virtio 1.0 is).
func PutTunnelHdr(b []byte, h *TunnelHdr) {
	b = b[:TunnelHdrLen]
	clear(b)
	b[0] = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	if h.UDPCsum {
		b[0] |= TunnelFlagUDPCsum
	}
	b[1] = h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
	binary.LittleEndian.PutUint16(b[20:], h.OuterTransport)
	binary.LittleEndian.PutUint16(b[22:], h.InnerNetwork)
}
