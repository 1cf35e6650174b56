// Package checksum implements the Internet checksum (RFC 1071), pseudo-header
// sums for IPv4 and IPv6, incremental update (RFC 1624) and checksum combining.
//
// Sums are carried as uint32 partial sums or folded uint16 values; Checksum
// returns the one's complement ready to be written into a header.
package checksum

import "encoding/binary"

// Sum adds the 16-bit big-endian words of b to initial and returns the
// folded 16-bit one's-complement sum (not complemented). An odd trailing byte
// is padded with zero, as RFC 1071 §4.1 does.
func Sum(b []byte, initial uint16) uint16 {
	s := uint64(initial)
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return Fold(s)
}

// Fold folds a wide one's-complement accumulator to 16 bits.
func Fold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// Checksum returns the Internet checksum of b started from initial: the
// one's complement of Sum(b, initial).
func Checksum(b []byte, initial uint16) uint16 { return ^Sum(b, initial) }

// Combine adds two folded one's-complement sums.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// Pseudo returns the folded sum of the TCP/UDP pseudo-header (RFC 768,
// RFC 793 for IPv4; RFC 8200 §8.1 for IPv6): source and destination
// addresses (4 or 16 bytes each), the protocol number and the upper-layer
// length.
func Pseudo(src, dst []byte, proto uint8, length uint32) uint16 {
	s := uint64(Sum(src, 0)) + uint64(Sum(dst, 0)) + uint64(proto) + uint64(length>>16) + uint64(length&0xffff)
	return Fold(s)
}

// Update returns the checksum field value after a 16-bit word covered by
// checksum csum changed from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func Update(csum, old, new uint16) uint16 {
	s := uint64(^csum) + uint64(^old) + uint64(new)
	return ^Fold(s)
}
