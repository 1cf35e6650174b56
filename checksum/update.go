package checksum

// Incremental update, RFC 1624.
//
// With HC the checksum field, m the old and m' the new value of a covered
// 16-bit word, RFC 1624 §3 eqn. 3 gives
//
//	HC' = ~(~HC + ~m + m')
//
// The older RFC 1141 form HC' = HC + m + ~m' (eqn. 2) yields 0xFFFF (-0)
// where recomputing from scratch yields 0x0000 (RFC 1624 §4). Eqn. 3 cannot:
// the sum in parentheses is nonzero unless every term is, and a nonzero sum
// folds to 0x0001..0xFFFF, so HC' is in 0x0000..0xFFFE, exactly the range of a
// checksum recomputed over data that is not all zero. Here the sum is carried
// in a uint64 and folded once (RFC 1624 errata 5865), and ~ is applied to
// 16-bit (or 32-bit) values only. Done that way, an update that changes
// nothing leaves the checksum as it was, including HC = 0x0000 (the case
// reported in RFC 1624 errata 4782, which arises from 16-bit-at-a-time
// arithmetic). The one remaining difference from recomputation: when the
// covered data is all zero before or after the change, the result is the
// other representation of zero.
//
// Summing the complement of several words is the same as complementing
// their sum, so multi-word updates subtract Sum(old) once.

// Update returns the checksum field value after a 16-bit word covered by
// checksum csum changed from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func Update(csum, old, new uint16) uint16 {
	s := uint64(^csum) + uint64(^old) + uint64(new)
	return ^Fold(s)
}

// Update32 is [Update] for a 32-bit big-endian field at an even offset, such
// as an IPv4 address read with binary.BigEndian.Uint32. A 32-bit value is
// congruent to the sum of its two 16-bit halves modulo 0xFFFF, and so is its
// 32-bit complement, so the halves need not be split.
func Update32(csum uint16, old, new uint32) uint16 {
	s := uint64(^csum) + uint64(^old) + uint64(new)
	return ^Fold(s)
}

// UpdateBytes is [Update] for a run of bytes, for example a rewritten IPv4 or
// IPv6 address: it returns the checksum field value after the covered bytes
// old were replaced by new. old and new must have the same length and start
// at an even offset of the checksummed data; an odd length is fine, as the
// zero padding of the last byte cancels out. It panics if the lengths differ.
func UpdateBytes(csum uint16, old, new []byte) uint16 {
	if len(old) != len(new) {
		panic("checksum: UpdateBytes with slices of different lengths")
	}
	s := uint64(^csum) + uint64(^Sum(old, 0)) + uint64(Sum(new, 0))
	return ^Fold(s)
}

// Adjust is the counterpart of [UpdateBytes] for a sum rather than a
// checksum: it returns sum - Sum(old) + Sum(new) in one's complement. Use it
// to patch a non-complemented partial sum, such as the folded pseudo-header
// seed that a CHECKSUM_PARTIAL packet (virtio-net NEEDS_CSUM) carries in its
// L4 checksum field, after an address rewrite; the kernel does the same in
// inet_proto_csum_replace4 (net/core/utils.c). The same length and offset
// rules as for UpdateBytes apply. The result equals Sum recomputed over the
// changed data unless that data is now all zero, where Adjust returns 0xFFFF
// (the other zero) instead of 0x0000.
func Adjust(sum uint16, old, new []byte) uint16 {
	if len(old) != len(new) {
		panic("checksum: Adjust with slices of different lengths")
	}
	s := uint64(sum) + uint64(^Sum(old, 0)) + uint64(Sum(new, 0))
	return Fold(s)
}
