package config

import (
	"strconv"
	"time"
)

// Args returns the canonical argument list for l, the words after
// `type vxlan`: ParseArgs(l.Args()) returns l.Canonical() for every valid
// l. Options at their default are left out, except that dstport is always
// given (vtep's default port differs from the kernel's) and id is given
// unless the device is external. MTU and Address use vtep's "mtu" and
// "address" extensions; [Link.IPLinkArgs] puts them where iproute2 wants
// them instead. GBPMark is written as "gbpmark 0x…" right after "gbp".
func (l Link) Args() []string {
	c := l.Canonical()
	a := c.vxlanArgs(make([]string, 0, 16), true)
	if c.MTU != 0 {
		a = append(a, "mtu", strconv.Itoa(c.MTU))
	}
	if !c.Address.IsZero() {
		a = append(a, "address", c.Address.String())
	}
	return a
}

// IPLinkArgs returns the arguments of `ip link add` that create the
// device: NAME [mtu MTU] [address LLADDR] type vxlan ARGS. With no Name,
// the list starts with "type". GBPMark is left out: iproute2 and the
// kernel have no such option (a kernel device takes marks from
// netfilter).
func (l Link) IPLinkArgs() []string {
	c := l.Canonical()
	a := make([]string, 0, 24)
	if c.Name != "" {
		a = append(a, c.Name)
	}
	if c.MTU != 0 {
		a = append(a, "mtu", strconv.Itoa(c.MTU))
	}
	if !c.Address.IsZero() {
		a = append(a, "address", c.Address.String())
	}
	a = append(a, "type", "vxlan")
	return c.vxlanArgs(a, false)
}

// vxlanArgs appends the iproute2 words for the canonical link l, in the
// order of iproute2's usage text. external comes first so that a later
// "learning" can override the nolearning it implies. ext adds vtep's
// gbpmark extension.
func (l Link) vxlanArgs(a []string, ext bool) []string {
	if l.External {
		a = append(a, "external")
	} else {
		a = append(a, "id", l.VNI.String())
	}
	if l.Remote.IsValid() {
		if isMulticast(l.Remote) {
			a = append(a, "group", l.Remote.String())
		} else {
			a = append(a, "remote", l.Remote.String())
		}
	}
	if l.Local.IsValid() {
		a = append(a, "local", l.Local.String())
	}
	switch {
	case l.TTLInherit:
		a = append(a, "ttl", "inherit")
	case l.TTL != 0:
		a = append(a, "ttl", strconv.Itoa(int(l.TTL)))
	}
	switch l.TOS {
	case 0:
	case TOSInherit:
		a = append(a, "tos", "inherit")
	default:
		a = append(a, "tos", "0x"+strconv.FormatUint(uint64(l.TOS), 16))
	}
	if l.DF != DFUnset {
		a = append(a, "df", l.DF.String())
	}
	switch {
	case l.LabelPolicy == LabelInherit:
		a = append(a, "flowlabel", "inherit")
	case l.FlowLabel != 0:
		a = append(a, "flowlabel", "0x"+strconv.FormatUint(uint64(l.FlowLabel), 16))
	}
	if l.Dev != "" {
		a = append(a, "dev", l.Dev)
	}
	a = append(a, "dstport", strconv.Itoa(int(l.Port())))
	if l.SrcPortMin != 0 || l.SrcPortMax != 0 {
		a = append(a, "srcport", strconv.Itoa(int(l.SrcPortMin)), strconv.Itoa(int(l.SrcPortMax)))
	}
	if l.ReservedBitsSet {
		a = append(a, "reserved_bits", "0x"+strconv.FormatUint(l.ReservedBits, 16))
	}
	switch {
	case l.External && !l.NoLearning:
		a = append(a, "learning")
	case !l.External && l.NoLearning:
		a = append(a, "nolearning")
	}
	flags := [...]struct {
		on   bool
		word string
	}{
		{l.Proxy, "proxy"}, {l.RSC, "rsc"}, {l.L2Miss, "l2miss"}, {l.L3Miss, "l3miss"},
	}
	for _, f := range flags {
		if f.on {
			a = append(a, f.word)
		}
	}
	if l.Ageing != DefaultAgeing {
		a = append(a, "ageing", strconv.FormatInt(int64(l.Ageing/time.Second), 10))
	}
	if l.MaxAddress != 0 {
		a = append(a, "maxaddress", strconv.FormatUint(uint64(l.MaxAddress), 10))
	}
	more := [...]struct {
		on   bool
		word string
	}{
		{l.NoUDPCsum, "noudpcsum"},
		{l.UDP6ZeroCsumTX, "udp6zerocsumtx"}, {l.UDP6ZeroCsumRX, "udp6zerocsumrx"},
		{l.RemCsumTX, "remcsumtx"}, {l.RemCsumRX, "remcsumrx"},
		{l.NoLocalBypass, "nolocalbypass"},
		{l.GBP, "gbp"}, {l.GPE, "gpe"},
		{l.VNIFilter, "vnifilter"}, {l.MCRoute, "mcroute"},
	}
	for _, f := range more {
		if f.on {
			a = append(a, f.word)
		}
		if f.word == "gbp" && ext && l.GBPMark != 0 {
			a = append(a, "gbpmark", cHexShort(uint64(l.GBPMark)))
		}
	}
	return a
}
