// Package nlattr walks netlink attributes (struct nlattr), for the packages
// that parse rtnetlink messages with the standard library only.
package nlattr

import "encoding/binary"

// typeMask clears NLA_F_NESTED and NLA_F_NET_BYTEORDER from a type.
const typeMask = 0x3fff

// Each calls fn with the type and value of every attribute in a, in order,
// and stops at fn's first error, which it returns. A truncated attribute, or
// one whose length is below its header or past the end of a, makes it
// return malformed.
func Each(a []byte, malformed error, fn func(typ uint16, v []byte) error) error {
	for len(a) > 0 {
		if len(a) < 4 {
			return malformed
		}
		alen := int(binary.NativeEndian.Uint16(a[0:2]))
		typ := binary.NativeEndian.Uint16(a[2:4]) & typeMask
		if alen < 4 || alen > len(a) {
			return malformed
		}
		if err := fn(typ, a[4:alen]); err != nil {
			return err
		}
		a = a[min(Align(alen), len(a)):]
	}
	return nil
}

// Align rounds n up to NLA_ALIGNTO (4).
func Align(n int) int { return (n + 3) &^ 3 }

// Append appends an attribute of type typ with value v, padded to 4 bytes.
func Append(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
