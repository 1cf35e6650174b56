package checksum

import (
	"encoding/binary"
	"math/bits"
)

// sumLE returns a 64-bit one's-complement (end-around-carry) sum of b read as
// little-endian 64-bit words, with a short tail zero-padded. Folded to 16 bits
// and byte-swapped it is the RFC 1071 sum of b's big-endian 16-bit words.
//
// Why reading little-endian and swapping at the end is exact:
//
//   - One's-complement 16-bit addition is addition modulo 0xFFFF.
//   - A 64-bit word is four 16-bit lanes, w = l0 + l1·2^16 + l2·2^32 + l3·2^48,
//     and 2^16 ≡ 1 (mod 0xFFFF), so w ≡ l0+l1+l2+l3. The 64-bit end-around
//     carry is addition modulo 2^64-1, a multiple of 0xFFFF, so it preserves
//     that congruence too; Fold reduces the result to 16 bits.
//   - A little-endian load sees each big-endian word with its bytes swapped.
//     Swapping the bytes of a 16-bit value is multiplying it by 2^8 modulo
//     0xFFFF, and multiplication distributes over the sum, so the sum of the
//     swapped words is the swapped sum (RFC 1071 §2(B), "byte order
//     independence"). One swap of the folded result undoes it.
//
// Little-endian loads are plain MOVs on amd64 and arm64, and the carries of
// one bits.Add64 chain compile to ADC/ADCS, eight bytes per add.
func sumLE(b []byte) uint64 {
	var s, c uint64
	for len(b) >= 128 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[32:40]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[40:48]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[48:56]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[56:64]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[64:72]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[72:80]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[80:88]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[88:96]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[96:104]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[104:112]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[112:120]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[120:128]), c)
		b = b[128:]
	}
	if len(b) >= 64 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[32:40]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[40:48]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[48:56]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	if len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	if len(b) >= 16 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		b = b[16:]
	}
	if len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	// The last 0..7 bytes fill disjoint lanes of one word: bytes 0-3 in
	// bits 0-31, bytes 4-5 in bits 32-47, byte 6 in bits 48-55. Every piece
	// starts at an even offset, so each byte keeps its position within its
	// 16-bit word; a lone odd byte is the high byte of a big-endian word,
	// which a little-endian lane holds in its low half.
	var t uint64
	if len(b) >= 4 {
		t = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		t |= uint64(binary.LittleEndian.Uint16(b)) << 32
		b = b[2:]
	}
	if len(b) == 1 {
		t |= uint64(b[0]) << 48
	}
	s, c = bits.Add64(s, t, c)
	// Add the last carry back; this cannot wrap. The pair (s, c) starts at
	// (0, 0) and each step sets it to s + w + c, so (s, c) = (2^64-1, 1),
	// the only pair whose s + c wraps, would need s + w + c = 2^65-1, that
	// is, the pair (2^64-1, 1) already at the step before.
	return s + c
}
