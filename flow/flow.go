// Package flow classifies Ethernet frames into flows and hashes them.
//
// A [Key] is the packed, pointer-free identity of a flow: the inner IP
// addresses, the transport protocol and ports (or the IPv6 flow label), or,
// for frames that carry no IP packet, the Ethernet addresses and EtherType.
// [Hash] turns a key into a seeded 32-bit value that is the same for both
// directions of a connection, as the kernel's skb_get_hash is
// (net/core/flow_dissector.c: __flow_hash_consistentify). The hash picks the
// outer UDP source port of a VXLAN packet ([SourcePort], the kernel's
// udp_flow_src_port in include/net/udp.h) and the worker that handles a
// frame, so that one flow keeps its order.
//
// Classification follows the kernel's flow dissector where it matters for
// entropy: VLAN tags are skipped, IPv4 and IPv6 fragments are hashed on
// addresses only (no ports), an IPv6 packet with a non-zero flow label is
// hashed on addresses and label (FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL), and
// ports are read for TCP, UDP, UDP-Lite, DCCP and SCTP (the ESP and AH SPI
// take the place of ports). Nothing allocates.
package flow

import (
	"encoding/binary"
	"math/bits"

	"github.com/vtepd/vtep/header"
)

// Kind says which fields of a Key are meaningful.
type Kind uint8

const (
	// KindL2 keys carry the Ethernet destination and source addresses and
	// the EtherType (the kernel's fallback hash over the first 12 bytes of
	// the frame, seeded with the protocol).
	KindL2 Kind = iota
	// KindIPv4 keys carry IPv4 addresses in the first 4 bytes of Src/Dst.
	KindIPv4
	// KindIPv6 keys carry IPv6 addresses.
	KindIPv6
)

// Key identifies a flow. It is comparable and holds no pointers so that it
// can key maps and be copied freely (2026-07: packed like Tailscale's
// flowtrack.Tuple, so that a lookup costs one hash of 40 bytes).
type Key struct {
	// Src and Dst are the IP source and destination addresses (IPv4 in the
	// first 4 bytes). For KindL2 keys, Dst[:6] is the destination MAC and
	// Src[:6] the source MAC.
	Src, Dst [16]byte
	// SrcPort and DstPort are the transport ports, zero when the protocol
	// has none, the packet is a fragment, or an IPv6 flow label was used.
	SrcPort, DstPort uint16
	// Label is the IPv6 flow label (20 bits) when it was non-zero.
	Label uint32
	// Proto is the IP protocol number of the transport header, or zero.
	Proto uint8
	// Kind says how to read the other fields.
	Kind Kind
	// EtherType is the EtherType after any VLAN tags.
	EtherType uint16
}

// maxVLANDepth is how many VLAN tags Classify skips, as the kernel's
// VLAN_MAX_DEPTH.
const maxVLANDepth = 8

// Classify reads the flow key of an Ethernet frame (no FCS). It returns
// false only when the frame is shorter than an Ethernet header; any frame
// whose payload is not a parsable IPv4 or IPv6 packet gets a KindL2 key.
func Classify(frame []byte) (Key, bool) {
	var k Key
	ok := classify(&k, frame)
	return k, ok
}

// classify is Classify writing into *k, which must be zero.
func classify(k *Key, frame []byte) bool {
	if len(frame) < header.EthernetSize {
		return false
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for depth := 0; header.IsVLANEtherType(et); depth++ {
		if depth == maxVLANDepth || len(frame) < off+header.VLANTagSize+2 {
			break
		}
		off += header.VLANTagSize
		et = binary.BigEndian.Uint16(frame[off:])
	}
	off += 2
	if classifyL3(k, et, frame[off:]) {
		return true
	}
	*k = Key{Kind: KindL2, EtherType: binary.BigEndian.Uint16(frame[12:])}
	// Whole-word stores: Hash reads the addresses as 64-bit words, and a
	// narrower store in front of a wider load stalls store forwarding.
	binary.LittleEndian.PutUint64(k.Dst[0:], uint64(binary.LittleEndian.Uint32(frame[0:]))|uint64(binary.LittleEndian.Uint16(frame[4:]))<<32)
	binary.LittleEndian.PutUint64(k.Src[0:], uint64(binary.LittleEndian.Uint16(frame[6:]))|uint64(binary.LittleEndian.Uint32(frame[8:]))<<16)
	return true
}

// ClassifyL3 reads the flow key of a bare IP packet whose EtherType is et
// (the payload of a VXLAN-GPE packet, or of a frame after its Ethernet
// header). It returns false when pkt is not a parsable IPv4 or IPv6 packet.
func ClassifyL3(et uint16, pkt []byte) (Key, bool) {
	var k Key
	ok := classifyL3(&k, et, pkt)
	return k, ok
}

func classifyL3(k *Key, et uint16, p []byte) bool {
	switch et {
	case header.EtherTypeIPv4:
		if len(p) < header.IPv4MinimumSize || p[0]>>4 != 4 {
			return false
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < header.IPv4MinimumSize || len(p) < ihl {
			return false
		}
		k.Kind = KindIPv4
		k.EtherType = et
		binary.LittleEndian.PutUint64(k.Src[0:], uint64(binary.LittleEndian.Uint32(p[12:])))
		binary.LittleEndian.PutUint64(k.Dst[0:], uint64(binary.LittleEndian.Uint32(p[16:])))
		k.Proto = p[9]
		// ip_is_fragment: MF set or a non-zero offset. Without
		// FLOW_DISSECTOR_F_PARSE_1ST_FRAG the dissector stops here.
		if binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
			return true
		}
		readPorts(k, p[ihl:])
		return true
	case header.EtherTypeIPv6:
		if len(p) < header.IPv6FixedSize || p[0]>>4 != 6 {
			return false
		}
		k.Kind = KindIPv6
		k.EtherType = et
		binary.LittleEndian.PutUint64(k.Src[0:], binary.LittleEndian.Uint64(p[8:]))
		binary.LittleEndian.PutUint64(k.Src[8:], binary.LittleEndian.Uint64(p[16:]))
		binary.LittleEndian.PutUint64(k.Dst[0:], binary.LittleEndian.Uint64(p[24:]))
		binary.LittleEndian.PutUint64(k.Dst[8:], binary.LittleEndian.Uint64(p[32:]))
		if label := binary.BigEndian.Uint32(p[0:]) & 0xfffff; label != 0 {
			// FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL: addresses and
			// label identify the flow; the transport is not read.
			k.Label = label
			k.Proto = p[6]
			return true
		}
		next := p[6]
		rest := p[header.IPv6FixedSize:]
	walk:
		for range 8 {
			switch next {
			case header.IPv6HopByHopProtocolNumber, header.IPv6RoutingProtocolNumber,
				header.IPv6DestinationOptionsProtocolNumber:
				if len(rest) < 8 {
					k.Proto = next
					return true
				}
				n := (int(rest[1]) + 1) * 8
				if len(rest) < n {
					k.Proto = next
					return true
				}
				next, rest = rest[0], rest[n:]
				continue
			case header.IPv6FragmentProtocolNumber:
				// Fragments are hashed on addresses only.
				if len(rest) >= 8 {
					k.Proto = rest[0]
				} else {
					k.Proto = next
				}
				return true
			default:
				break walk
			}
		}
		k.Proto = next
		readPorts(k, rest)
		return true
	}
	return false
}

// readPorts fills the ports of protocols that have them (the kernel's
// proto_ports_offset).
func readPorts(k *Key, l4 []byte) {
	off := 0
	switch k.Proto {
	case header.TCPProtocolNumber, header.UDPProtocolNumber, 33 /* DCCP */, 132 /* SCTP */, 136 /* UDP-Lite */, header.ESPProtocolNumber:
	case header.AHProtocolNumber:
		off = 4
	default:
		return
	}
	if len(l4) < off+4 {
		return
	}
	k.SrcPort = binary.BigEndian.Uint16(l4[off:])
	k.DstPort = binary.BigEndian.Uint16(l4[off+2:])
}

// Hash returns the seeded hash of k. For IP keys it is symmetric: swapping
// source and destination (addresses and ports) gives the same value, as
// the kernel's __flow_hash_consistentify arranges. The result is never
// zero, as the kernel's flow_hash_from_keys.
func Hash(k *Key, seed uint64) uint32 {
	return hashWords(binary.LittleEndian.Uint64(k.Src[0:]), binary.LittleEndian.Uint64(k.Src[8:]),
		binary.LittleEndian.Uint64(k.Dst[0:]), binary.LittleEndian.Uint64(k.Dst[8:]),
		k.SrcPort, k.DstPort, k.Label, k.Proto, k.EtherType, k.Kind, seed)
}

// hashWords is Hash of a key given as its address words (little-endian
// loads of Src and Dst) and other fields.
func hashWords(s0, s1, d0, d1 uint64, sp, dp uint16, label uint32, proto uint8, et uint16, kind Kind, seed uint64) uint32 {
	if kind != KindL2 {
		if d0 < s0 || (d0 == s0 && d1 < s1) {
			s0, s1, d0, d1 = d0, d1, s0, s1
		}
		if dp < sp {
			sp, dp = dp, sp
		}
	}
	tail := uint64(sp)<<48 | uint64(dp)<<32 | uint64(label)<<8 | uint64(proto)
	misc := uint64(et)<<8 | uint64(kind)
	h := mum(s0^seed^0xa0761d6478bd642f, s1^0xe7037ed1a0b428db)
	h ^= mum(d0^0x8ebc6af09c88c6e3, d1^seed)
	h ^= mum(tail^0x589965cc75374cc3, misc^0x1d8e4e27c47d124f^seed)
	h = mum(h^seed, 0x9e3779b97f4a7c15)
	r := uint32(h) ^ uint32(h>>32)
	if r == 0 {
		r = 1
	}
	return r
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// HashFrame classifies frame and hashes its key; frames too short for an
// Ethernet header hash to 1.
func HashFrame(frame []byte, seed uint64) uint32 {
	// Fast path, the common case: an untagged IPv4 TCP or UDP packet that
	// is not a fragment, hashed straight from the frame. It gives what
	// the general path gives (FuzzClassify checks).
	if len(frame) >= header.EthernetSize+header.IPv4MinimumSize+4 &&
		binary.BigEndian.Uint16(frame[12:]) == header.EtherTypeIPv4 {
		p := frame[header.EthernetSize:]
		ihl := int(p[0]&0x0f) * 4
		if p[0]>>4 == 4 && ihl >= header.IPv4MinimumSize && len(p) >= ihl+4 &&
			(p[9] == header.TCPProtocolNumber || p[9] == header.UDPProtocolNumber) &&
			binary.BigEndian.Uint16(p[6:])&0x3fff == 0 {
			return hashWords(uint64(binary.LittleEndian.Uint32(p[12:])), 0,
				uint64(binary.LittleEndian.Uint32(p[16:])), 0,
				binary.BigEndian.Uint16(p[ihl:]), binary.BigEndian.Uint16(p[ihl+2:]),
				0, p[9], header.EtherTypeIPv4, KindIPv4, seed)
		}
	}
	var k Key
	if !classify(&k, frame) {
		return 1
	}
	return Hash(&k, seed)
}

// Default source port range, net.ipv4.ip_local_port_range's default
// "32768 60999", used when a link's srcport range is empty.
const (
	DefaultPortMin = 32768
	DefaultPortMax = 60999
)

// SourcePort maps a flow hash into the UDP source port range [min, max)
// exactly as the kernel's udp_flow_src_port: the hash is folded with
// hash ^= hash<<16, and the port is (hash*(max-min))>>32 + min. When
// min >= max (including 0 0) the range is the default local port range,
// 32768..60999 with 60999 exclusive.
func SourcePort(hash uint32, min, max uint16) uint16 {
	lo, hi := uint32(min), uint32(max)
	if lo >= hi {
		lo, hi = DefaultPortMin, DefaultPortMax
	}
	hash ^= hash << 16
	return uint16((uint64(hash)*uint64(hi-lo))>>32 + uint64(lo))
}

// SourcePortIn is SourcePort moved to the nearest port of the range that
// is congruent to class modulo n: the port a peer whose SO_REUSEPORT
// group hands datagrams to socket (source port mod n) delivers to its
// socket class. It is SourcePort itself when n < 2 or the range holds
// fewer than n ports.
func SourcePortIn(hash uint32, min, max uint16, class, n int) uint16 {
	p := SourcePort(hash, min, max)
	lo, hi := int(min), int(max)
	if lo >= hi {
		lo, hi = DefaultPortMin, DefaultPortMax
	}
	if n < 2 || hi-lo < n || class < 0 || class >= n {
		return p
	}
	// The nearest port of the class at or below p, or, if that is below
	// the range, the lowest of the class in it: p-class mod n (masked
	// when n is a power of two, as it is with a CPU count of 2, 4 or 8:
	// no division on the transmit path) steps down at most n-1 ports,
	// one step of n comes back above lo, and hi-lo >= n keeps it below hi.
	d := int(p) - class
	var r int
	if n&(n-1) == 0 {
		r = d & (n - 1)
	} else {
		r = (d%n + n) % n
	}
	q := int(p) - r
	if q < lo {
		q += n
	}
	return uint16(q)
}
