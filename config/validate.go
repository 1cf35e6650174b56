package config

import (
	"net/netip"
	"time"
)

// Validate reports whether the kernel (with iproute2 in front of it) would
// create a device with this configuration. It checks, in the order the
// refusals happen:
//
//   - names: Name and Dev as dev_valid_name accepts them;
//   - iproute2 vxlan_parse_opt: vnifilter needs external, external takes
//     no id, a group needs dev;
//   - vtep's gbpmark: needs gbp, and only the bits in GBPMarkMask;
//   - kernel vxlan_validate: Address is unicast, MTU is 68..65535, the VNI
//     fits 24 bits, srcport max >= min, DF is unset/set/inherit;
//   - kernel vxlan_nl2conf: flow label and policy values, ageing fits u32
//     seconds, ReservedBits does not overlap UsedBits;
//   - kernel vxlan_config_validate: GPE combinations, same family for
//     local and remote, no multicast local, IPv6 link-local scopes and
//     their need for dev, flow label and policy only for IPv6.
//
// The error is the first refusal; it matches [ErrInvalid] and one of the
// specific errors of this package. Validate does not check what depends on
// the running system: that Dev exists, that the VNI is unused.
func (l Link) Validate() error {
	if l.Name != "" && !validIfname(l.Name) {
		return &NameError{Field: "name", Name: l.Name}
	}
	if l.Dev != "" && !validIfname(l.Dev) {
		return &NameError{Field: "dev", Name: l.Dev}
	}
	if err := checkAddr(l.Remote, "remote"); err != nil {
		return err
	}
	if err := checkAddr(l.Local, "local"); err != nil {
		return err
	}

	// iproute2 vxlan_parse_opt, after its loop.
	if l.VNIFilter && !l.External {
		return ErrVNIFilterNeedsExternal
	}
	if l.External && l.VNI != 0 {
		return ErrExternalVNI
	}
	if l.IsGroup() && l.Dev == "" {
		return ErrGroupNeedsDev
	}

	// vtep's gbpmark extension.
	if l.GBPMark != 0 && !l.GBP {
		return ErrGBPMarkNeedsGBP
	}
	if l.GBPMark&^GBPMarkMask != 0 {
		return ErrGBPMarkBits
	}

	// vxlan_validate.
	if !l.Address.IsZero() && !l.Address.IsValidUnicast() {
		return ErrAddressNotUnicast
	}
	if l.MTU != 0 && (l.MTU < MinMTU || l.MTU > MaxMTU) {
		return ErrMTURange
	}
	if !l.VNI.IsValid() {
		return ErrVNIRange
	}
	if l.SrcPortMax < l.SrcPortMin {
		return ErrSrcPortRange
	}
	if l.DF > DFInherit {
		return ErrDF
	}

	// vxlan_nl2conf.
	if l.LabelPolicy > LabelInherit {
		return ErrLabelPolicy
	}
	if l.FlowLabel > MaxFlowLabel {
		return ErrFlowLabelRange
	}
	if l.Ageing < 0 || l.Ageing%time.Second != 0 || l.Ageing > maxAgeing {
		return ErrAgeingRange
	}
	if l.ReservedBitsSet && l.ReservedBits&l.UsedBits() != 0 {
		return &ReservedBitsError{Used: l.UsedBits(), Reserved: l.ReservedBits}
	}

	// vxlan_config_validate.
	if l.GPE && (l.Flags()&^AllowedGPEFlags != 0 || !l.External) {
		return ErrGPECombination
	}
	if l.Remote.IsValid() && l.Local.IsValid() && l.Remote.Is6() != l.Local.Is6() {
		return ErrFamilyMismatch
	}
	if l.Local.IsValid() && isMulticast(l.Local) {
		return ErrLocalMulticast
	}
	linkLocal := false
	if l.IsIPv6() && !l.External {
		switch {
		case isLinkLocalUnicast6(l.Local):
			r := l.Remote
			if r.IsValid() && !r.IsUnspecified() && !isLinkLocalUnicast6(r) && !isLinkLocalMulticast6(r) {
				return ErrAddressScopes
			}
			linkLocal = true
		case isLinkLocalUnicast6(l.Remote):
			return ErrAddressScopes
		}
	}
	if l.FlowLabel != 0 && !l.IsIPv6() {
		return ErrLabelNotIPv6
	}
	if l.LabelPolicy != LabelFixed && !l.IsIPv6() {
		return ErrLabelPolicyNotIPv6
	}
	if l.Dev == "" && linkLocal {
		return ErrLinkLocalNeedsDev
	}
	return nil
}

const maxAgeing = time.Duration(1<<32-1) * time.Second

// checkAddr refuses what iproute2's parser cannot produce: zones
// (inet_pton has none).
func checkAddr(a netip.Addr, what string) error {
	if a.IsValid() && a.Zone() != "" {
		return &ArgError{Arg: a.String(), Msg: "invalid " + what + " address"}
	}
	return nil
}

// validIfname reports whether the kernel's dev_valid_name accepts name:
// 1 to 15 bytes (IFNAMSIZ-1), not "." or "..", and no '/', ':', white
// space or NUL.
func validIfname(name string) bool {
	if name == "" || len(name) >= 16 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '/', ':', ' ', '\t', '\n', '\v', '\f', '\r', 0:
			return false
		}
	}
	return true
}

// The address predicates below look at the bytes as the kernel and
// iproute2 do (ipv4_is_multicast, ipv6_addr_type, IN6_IS_ADDR_MULTICAST).
// netip's predicates unmap ::ffff:a.b.c.d first, which the kernel does not.

func isMulticast(a netip.Addr) bool {
	if a.Is4() {
		return a.As4()[0]&0xf0 == 0xe0
	}
	return a.Is6() && a.As16()[0] == 0xff
}

func isLinkLocalUnicast6(a netip.Addr) bool {
	if !a.Is6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xfe && b[1]&0xc0 == 0x80
}

func isLinkLocalMulticast6(a netip.Addr) bool {
	if !a.Is6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xff && b[1]&0x0f == 0x02
}
