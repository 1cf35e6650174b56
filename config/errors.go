package config

import (
	"errors"
	"fmt"
)

// Error classes. Every error that ParseArgs, Change, CanChange and Validate
// return matches exactly one of these with [errors.Is], so a caller can
// tell a typing mistake from a configuration the kernel would refuse
// without comparing strings.
var (
	// ErrArgument is the class of a word that does not parse as the value
	// of its keyword (iproute2 invarg and get_addr failures).
	ErrArgument = errors.New("invalid argument")
	// ErrDuplicate is the class of a keyword given twice (iproute2
	// check_duparg). A [no]flag and its flag count as the same keyword.
	ErrDuplicate = errors.New("duplicate argument")
	// ErrIncomplete is returned when a keyword that takes a value is the
	// last word (iproute2 NEXT_ARG). Its text is iproute2's.
	ErrIncomplete = errors.New(`Command line is not complete. Try option "help"`)
	// ErrUnknownKeyword is the class of a word that is not a keyword.
	ErrUnknownKeyword = errors.New("unknown keyword")
	// ErrHelp is returned for the keyword "help". Its text is iproute2's
	// usage text for vxlan, see [Usage].
	ErrHelp = errors.New(Usage)
	// ErrInvalid is the class of configurations that iproute2 or the kernel
	// refuses when the device is created (EINVAL, ERANGE, EADDRNOTAVAIL).
	ErrInvalid = errors.New("invalid configuration")
	// ErrCannotChange is the class of changes that the kernel refuses on an
	// existing device (EOPNOTSUPP from vxlan_nl2conf with changelink set).
	ErrCannotChange = errors.New("cannot change")
)

// Validation errors. Their text is the message iproute2 prints or the
// kernel puts in the netlink extended ack (ip prints the latter as
// "Error: MSG."); each matches [ErrInvalid].
var (
	// ErrVNIRange: kernel vxlan_validate, ERANGE.
	ErrVNIRange = invalid("VXLAN ID must be lower than 16777216")
	// ErrMissingVNI: iproute2 vxlan_parse_opt; the id is required unless
	// the device is external.
	ErrMissingVNI = invalid("vxlan: missing virtual network identifier")
	// ErrExternalVNI: iproute2 vxlan_parse_opt refuses an id together with
	// external.
	ErrExternalVNI = invalid("vxlan: both 'external' and vni cannot be specified")
	// ErrVNIFilterNeedsExternal: iproute2 vxlan_parse_opt (the kernel's
	// vxlan_nl2conf says "vxlan vnifilter only valid in collect metadata
	// mode").
	ErrVNIFilterNeedsExternal = invalid("vxlan: vnifilter is valid only when 'external' is set")
	// ErrGroupAndRemote: iproute2 vxlan_parse_opt; group and remote are one
	// attribute (IFLA_VXLAN_GROUP), so only one may be given.
	ErrGroupAndRemote = invalid("vxlan: both group and remote cannot be specified")
	// ErrGroupNeedsDev: iproute2 vxlan_parse_opt (the kernel's
	// vxlan_config_validate says "Local interface required for multicast
	// remote destination").
	ErrGroupNeedsDev = invalid("vxlan: 'group' requires 'dev' to be specified")
	// ErrAddressNotUnicast: kernel vxlan_validate, EADDRNOTAVAIL.
	ErrAddressNotUnicast = invalid("Provided Ethernet address is not unicast")
	// ErrMTURange: kernel vxlan_validate.
	ErrMTURange = invalid("MTU must be between 68 and 65535")
	// ErrSrcPortRange: kernel vxlan_validate, high < low.
	ErrSrcPortRange = invalid("Invalid source port range")
	// ErrDF: kernel vxlan_validate, df > VXLAN_DF_MAX.
	ErrDF = invalid("Invalid DF attribute")
	// ErrReservedBitsOverlap: kernel vxlan_nl2conf. The error returned is a
	// *[ReservedBitsError], which matches this value.
	ErrReservedBitsOverlap = invalid("Used bits cannot overlap reserved bits")
	// ErrGPECombination: kernel vxlan_config_validate; GPE needs external
	// and allows only the flags in [AllowedGPEFlags] (learning is not one).
	ErrGPECombination = invalid("VXLAN GPE does not support this combination of attributes")
	// ErrFamilyMismatch: kernel vxlan_config_validate.
	ErrFamilyMismatch = invalid("Local and remote address must be from the same family")
	// ErrLocalMulticast: kernel vxlan_config_validate (iproute2 says
	// "invalid local address" while parsing).
	ErrLocalMulticast = invalid("Local address cannot be multicast")
	// ErrAddressScopes: kernel vxlan_config_validate; an IPv6 link-local
	// local address needs a link-local or unspecified remote, and a
	// link-local unicast remote needs a link-local local address.
	ErrAddressScopes = invalid("Invalid combination of local and remote address scopes")
	// ErrLinkLocalNeedsDev: kernel vxlan_config_validate.
	ErrLinkLocalNeedsDev = invalid("Local interface required for link-local local/remote addresses")
	// ErrLabelNotIPv6: kernel vxlan_config_validate.
	ErrLabelNotIPv6 = invalid("Label attribute only applies to IPv6 VXLAN devices")
	// ErrLabelPolicyNotIPv6: kernel vxlan_config_validate.
	ErrLabelPolicyNotIPv6 = invalid("Label policy only applies to IPv6 VXLAN devices")
	// ErrLabelPolicy: the policy is neither fixed nor inherit (kernel
	// NLA_POLICY_MAX on IFLA_VXLAN_LABEL_POLICY).
	ErrLabelPolicy = invalid("vxlan: invalid flowlabel policy")
	// ErrFlowLabelRange: the label does not fit in 20 bits (iproute2
	// refuses it with "invalid flowlabel"; the kernel would mask it).
	ErrFlowLabelRange = invalid("vxlan: flowlabel must be 0-1048575")
	// ErrAgeingRange: the ageing time is negative, not whole seconds, or
	// does not fit the kernel's u32 IFLA_VXLAN_AGEING.
	ErrAgeingRange = invalid("vxlan: ageing must be a whole number of seconds between 0 and 4294967295")
	// ErrGBPMarkNeedsGBP: vtep's gbpmark extension sets the Group Policy
	// of a GBP device; without gbp there is no header field to put it in.
	// Worded like iproute2's "'group' requires 'dev'".
	ErrGBPMarkNeedsGBP = invalid("vxlan: 'gbpmark' requires 'gbp' to be specified")
	// ErrGBPMarkBits: a gbpmark with bits that the GBP header cannot carry
	// (outside GBPMarkMask, 0x48ffff); vxlan_build_gbp_hdr would drop them.
	ErrGBPMarkBits = invalid("vxlan: gbpmark may only use the GBP bits 0x48ffff (D<<22 | A<<19 | policy ID)")
	// ErrInvalidName: the device or lower device name is not one the
	// kernel accepts (dev_valid_name: 1-15 bytes, not "." or "..", no
	// '/', ':' or white space). The error returned is a *[NameError].
	ErrInvalidName = invalid("not a valid ifname")
)

// Change errors. Their text is the kernel's extended ack message; each
// matches [ErrCannotChange].
var (
	ErrChangeVNI          = cannotChange("Cannot change VNI")
	ErrChangeGroupFamily  = cannotChange("New group address family does not match old group")
	ErrChangeLocalFamily  = cannotChange("New local address family does not match old")
	ErrChangeLimit        = cannotChange("Cannot change limit")
	ErrChangePortRange    = cannotChange("Cannot change port range")
	ErrChangePort         = cannotChange("Cannot change port")
	ErrChangeUDPCsum      = cannotChange("Cannot change UDP_CSUM flag")
	ErrChangeReservedBits = cannotChange("Cannot change reserved_bits")
)

// ruleError is a fixed message that belongs to a class.
type ruleError struct {
	msg   string
	class error
}

func invalid(msg string) error      { return &ruleError{msg, ErrInvalid} }
func cannotChange(msg string) error { return &ruleError{msg, ErrCannotChange} }

func (e *ruleError) Error() string        { return e.msg }
func (e *ruleError) Is(target error) bool { return target == e.class }

// ArgError reports a value that does not parse (iproute2 invarg). Its text
// is iproute2's: `Error: argument "ARG" is wrong: MSG`.
type ArgError struct {
	Arg string // the offending word
	Msg string // iproute2's explanation, e.g. "invalid id"
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("Error: argument %q is wrong: %s", e.Arg, e.Msg)
}

// Is reports whether target is [ErrArgument].
func (e *ArgError) Is(target error) bool { return target == ErrArgument }

// AddrError reports a word that is not an address of the expected family
// (iproute2 get_addr): `Error: inet address is expected rather than "ARG".`
type AddrError struct {
	Family string // "any valid", "inet" or "inet6"
	Arg    string
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("Error: %s address is expected rather than %q.", e.Family, e.Arg)
}

// Is reports whether target is [ErrArgument].
func (e *AddrError) Is(target error) bool { return target == ErrArgument }

// DuplicateError reports a keyword given twice (iproute2 duparg2):
// `Error: either "KEY" is duplicate, or "ARG" is garbage.`
type DuplicateError struct {
	Key string
	Arg string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("Error: either %q is duplicate, or %q is garbage.", e.Key, e.Arg)
}

// Is reports whether target is [ErrDuplicate].
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// UnknownError reports a word that is no keyword: `vxlan: unknown command "WORD"?`
type UnknownError struct {
	Word string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("vxlan: unknown command %q?", e.Word)
}

// Is reports whether target is [ErrUnknownKeyword].
func (e *UnknownError) Is(target error) bool { return target == ErrUnknownKeyword }

// ReservedBitsError reports reserved_bits that overlap the header bits the
// device uses (kernel vxlan_nl2conf). Values are the 64-bit big-endian
// reading of the VXLAN header, as iproute2 prints them.
type ReservedBitsError struct {
	Used     uint64
	Reserved uint64
}

func (e *ReservedBitsError) Error() string {
	return "Used bits " + cHex(e.Used, 18) + " cannot overlap reserved bits " + cHex(e.Reserved, 18)
}

// Is reports whether target is [ErrReservedBitsOverlap] or [ErrInvalid].
func (e *ReservedBitsError) Is(target error) bool {
	return target == ErrReservedBitsOverlap || target == ErrInvalid
}

// NameError reports an interface name the kernel would refuse.
type NameError struct {
	Field string // "name", "dev" or "via"
	Name  string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%q is not a valid ifname (%s)", e.Name, e.Field)
}

// Is reports whether target is [ErrInvalidName] or [ErrInvalid].
func (e *NameError) Is(target error) bool { return target == ErrInvalidName || target == ErrInvalid }

// FlagChangeError reports a flag the kernel refuses to change on an
// existing device (vxlan_flag_attr_error): `vxlan: cannot change PROXY flag`.
// Flag is the kernel's attribute suffix (TTL_INHERIT, PROXY, ...), or empty
// for flags the kernel has no name for (VNIFILTER), which read
// `vxlan: cannot change flag`.
type FlagChangeError struct {
	Flag string
}

func (e *FlagChangeError) Error() string {
	if e.Flag == "" {
		return "vxlan: cannot change flag"
	}
	return "vxlan: cannot change " + e.Flag + " flag"
}

// Is reports whether target is [ErrCannotChange].
func (e *FlagChangeError) Is(target error) bool { return target == ErrCannotChange }

// cHex formats v as C's printf("%#0*llx", width, v) does: "0x" and zero
// padding to width characters in total, and no prefix for zero.
func cHex(v uint64, width int) string {
	if v == 0 {
		b := make([]byte, width)
		for i := range b {
			b[i] = '0'
		}
		return string(b)
	}
	s := fmt.Sprintf("%x", v)
	for len(s) < width-2 {
		s = "0" + s
	}
	return "0x" + s
}

// cHexShort formats v as C's printf("%#llx", v): "0" for zero, else "0x…".
func cHexShort(v uint64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}
