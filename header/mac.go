package header

import (
	"errors"
	"fmt"
)

// MAC is an IEEE 802 MAC-48 address. It is a comparable value type: use it
// as a map key and compare it with ==.
type MAC [6]byte

// Well-known MAC addresses.
var (
	// ZeroMAC is 00:00:00:00:00:00. In a VXLAN FDB it names the default
	// destination entry (kernel vxlan_core.c all_zeros_mac).
	ZeroMAC MAC
	// BroadcastMAC is ff:ff:ff:ff:ff:ff.
	BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

var errMACSyntax = errors.New("invalid MAC address")

// ParseMAC parses a MAC-48 address written as six colon- or hyphen-separated
// hexadecimal octets ("02:00:00:00:00:01"). Each octet has one or two digits.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	i := 0
	for n := 0; n < 6; n++ {
		if n > 0 {
			if i >= len(s) || (s[i] != ':' && s[i] != '-') {
				return MAC{}, fmt.Errorf("ParseMAC(%q): %w", s, errMACSyntax)
			}
			i++
		}
		v, digits := 0, 0
		for i < len(s) && digits < 2 {
			d, ok := hexDigit(s[i])
			if !ok {
				break
			}
			v = v<<4 | int(d)
			i++
			digits++
		}
		if digits == 0 {
			return MAC{}, fmt.Errorf("ParseMAC(%q): %w", s, errMACSyntax)
		}
		m[n] = byte(v)
	}
	if i != len(s) {
		return MAC{}, fmt.Errorf("ParseMAC(%q): %w", s, errMACSyntax)
	}
	return m, nil
}

// MustParseMAC is like ParseMAC but panics on error. It is meant for literals and tests.
func MustParseMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsMulticast reports whether the group bit (I/G, the least significant bit
// of the first octet) is set. Broadcast is multicast.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsValidUnicast reports whether m is neither multicast nor all zeros, as the
// kernel's is_valid_ether_addr.
func (m MAC) IsValidUnicast() bool { return !m.IsMulticast() && !m.IsZero() }

// AppendTo appends the lower-case colon form of m to b.
func (m MAC) AppendTo(b []byte) []byte {
	const hexd = "0123456789abcdef"
	for i, o := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexd[o>>4], hexd[o&0xf])
	}
	return b
}

// String returns the lower-case colon form, "02:00:00:00:00:01".
func (m MAC) String() string { return string(m.AppendTo(make([]byte, 0, 17))) }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return m.AppendTo(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
