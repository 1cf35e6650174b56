// Package checksum implements the Internet checksum (RFC 1071), pseudo-header
// sums for IPv4 and IPv6, incremental update (RFC 1624) and checksum combining.
//
// Values are carried as folded 16-bit one's-complement sums ("sums") or as
// their complement ("checksums", the value written into a header field):
//
//   - [Sum] and [Pseudo] return sums; [Checksum] returns a checksum.
//   - [Combine] and [CombineAt] add sums of adjacent blocks.
//   - [Update], [Update32] and [UpdateBytes] patch a checksum field after the
//     data it covers changed; [Adjust] does the same for a sum, such as the
//     folded pseudo-header seed a CHECKSUM_PARTIAL packet carries.
//
// One's complement has two zeros, 0x0000 (+0) and 0xFFFF (-0). A sum computed
// from scratch is 0x0000 only when every input word is zero; otherwise it is
// in 0x0001..0xFFFF. The functions here keep that convention, so a checksum
// patched by [Update] equals the one recomputed from scratch (RFC 1624 §3),
// except when the covered data is entirely zero before or after the change. Callers writing a UDP
// checksum must still transmit a computed 0x0000 as 0xFFFF (RFC 768; RFC 8200
// §8.1 for IPv6), since 0x0000 there means "no checksum".
//
// [Sum] reads eight bytes at a time and needs no assembly; it allocates
// nothing, like everything else in this package.
package checksum

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum adds the 16-bit big-endian words of b to initial and returns the
// folded 16-bit one's-complement sum (not complemented). An odd trailing byte
// is padded with zero, as RFC 1071 §4.1 does.
//
// b is taken to start at an even offset of the data initial already covers;
// to continue a sum after an odd-length block use [CombineAt].
func Sum(b []byte, initial uint16) uint16 {
	return Combine(initial, bits.ReverseBytes16(Fold(sumLE(b))))
}

// Checksum returns the Internet checksum of b started from initial: the
// one's complement of Sum(b, initial).
func Checksum(b []byte, initial uint16) uint16 { return ^Sum(b, initial) }

// Fold folds a wide accumulator to 16 bits. The accumulator may be a plain
// integer sum of 16- or 32-bit big-endian values or a 64-bit end-around-carry
// sum: both are congruent to the 16-bit one's-complement sum modulo 0xFFFF,
// because 2^16 ≡ 1 (mod 0xFFFF). The result is 0 only if s is 0.
func Fold(s uint64) uint16 {
	// 64 → 32 bits with end-around carry. If the add carried, lo is at
	// most 0xFFFFFFFE, so adding the carry back cannot carry again.
	lo, c := bits.Add32(uint32(s), uint32(s>>32), 0)
	lo += c
	x := lo>>16 + lo&0xffff // ≤ 0x1FFFE
	x = x>>16 + x&0xffff    // ≤ 0xFFFF
	return uint16(x)
}

// Combine adds two folded one's-complement sums. It is the sum of the
// concatenation of two blocks only when the first has even length; use
// [CombineAt] otherwise.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// CombineAt adds sum b of a block (computed as if the block started the data,
// i.e. Sum(block, 0)) to sum a of the data in front of it, where the block
// starts offset bytes into that data. When offset is odd every byte of the
// block lands in the other half of its 16-bit word, which is the same as
// swapping the bytes of b (RFC 1071 §2(B)); the kernel does the same in
// csum_block_add (include/net/checksum.h).
func CombineAt(a, b uint16, offset int) uint16 {
	if offset&1 != 0 {
		b = bits.ReverseBytes16(b)
	}
	return Combine(a, b)
}

// Pseudo returns the folded sum of the TCP/UDP pseudo-header (RFC 768,
// RFC 793 for IPv4; RFC 8200 §8.1 for IPv6): source and destination
// addresses (4 or 16 bytes each), the protocol number and the upper-layer
// length.
func Pseudo(src, dst []byte, proto uint8, length uint32) uint16 {
	s := uint64(Sum(src, 0)) + uint64(Sum(dst, 0)) + uint64(proto) + uint64(length>>16) + uint64(length&0xffff)
	return Fold(s)
}

// PseudoAddr is [Pseudo] for netip addresses. Both addresses must be of the
// same family: IPv4 (4-byte form, as [netip.Addr.Is4] reports) or IPv6, where
// an IPv4-mapped address is summed in its 16-byte form. It panics if the
// families differ or an address is the zero Addr.
func PseudoAddr(src, dst netip.Addr, proto uint8, length uint32) uint16 {
	// A 32- or 64-bit big-endian word is congruent to the sum of its 16-bit
	// halves modulo 0xFFFF (2^16 ≡ 1), so whole words are added and folded
	// once: plainly for IPv4, with end-around carry for IPv6 (see sumLE).
	// AsSlice inlines and does not escape here; As16 measured 2.5x slower
	// (its array copies defeat store forwarding).
	a, b := src.AsSlice(), dst.AsSlice()
	if len(a) != len(b) {
		panic("checksum: PseudoAddr with addresses of different families")
	}
	s := uint64(proto) + uint64(length)
	if len(a) == 4 {
		s += uint64(binary.BigEndian.Uint32(a)) + uint64(binary.BigEndian.Uint32(b))
		return Fold(s)
	}
	var c uint64
	s, c = bits.Add64(s, binary.BigEndian.Uint64(a[0:8]), c)
	s, c = bits.Add64(s, binary.BigEndian.Uint64(a[8:16]), c)
	s, c = bits.Add64(s, binary.BigEndian.Uint64(b[0:8]), c)
	s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:16]), c)
	return Fold(s + c)
}
