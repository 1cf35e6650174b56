package header

import (
	"fmt"
	"strconv"
	"strings"
)

// VNI is a 24-bit VXLAN Network Identifier (RFC 7348 §5). Values above
// MaxVNI are not VNIs; use ParseVNI or NewVNI to build one from untrusted input.
type VNI uint32

// MaxVNI is the largest VNI, 2^24-1. NumVNI (2^24) is one past it; the
// kernel uses it as an out-of-range marker (VXLAN_N_VID) in L3-miss events.
const (
	MaxVNI VNI    = 1<<24 - 1
	NumVNI uint32 = 1 << 24
)

// ErrVNIRange is returned for values that do not fit in 24 bits.
type ErrVNIRange struct{ Value uint64 }

func (e *ErrVNIRange) Error() string {
	return fmt.Sprintf("VNI %d out of range: VNI must be lower than %d", e.Value, NumVNI)
}

// NewVNI validates v and returns it as a VNI.
func NewVNI(v uint32) (VNI, error) {
	if v > uint32(MaxVNI) {
		return 0, &ErrVNIRange{Value: uint64(v)}
	}
	return VNI(v), nil
}

// ParseVNI parses a VNI as iproute2's get_u32 (strtoul with base 0) does:
// decimal, 0x-prefixed hexadecimal or 0-prefixed octal, and validates its range.
// Go-only forms such as "1_000", "0b101" and "0o17" are rejected.
func ParseVNI(s string) (VNI, error) {
	base, digits := 10, s
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err == nil && strings.ContainsRune(digits, '_') {
		err = strconv.ErrSyntax
	}
	if err != nil {
		return 0, fmt.Errorf("invalid VNI %q: not a number", s)
	}
	if v > uint64(MaxVNI) {
		return 0, &ErrVNIRange{Value: v}
	}
	return VNI(v), nil
}

// IsValid reports whether v fits in 24 bits.
func (v VNI) IsValid() bool { return v <= MaxVNI }

// AppendTo appends the decimal form of v to b.
func (v VNI) AppendTo(b []byte) []byte { return strconv.AppendUint(b, uint64(v), 10) }

// String returns the decimal form of v.
func (v VNI) String() string { return strconv.FormatUint(uint64(v), 10) }

// MarshalText implements encoding.TextMarshaler.
func (v VNI) MarshalText() ([]byte, error) { return v.AppendTo(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *VNI) UnmarshalText(b []byte) error {
	x, err := ParseVNI(string(b))
	if err != nil {
		return err
	}
	*v = x
	return nil
}
