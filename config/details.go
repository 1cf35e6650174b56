package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// Style selects the iproute2 release whose `ip -d link show` output
// [Link.DetailsStyle] reproduces. iproute2 6.4 reordered the vxlan options
// and changed how flags print (commit "vxlan: make option printing more
// consistent").
type Style uint8

const (
	// StyleLegacy is iproute2 up to 6.3, including the 6.1 of Debian 12:
	// flags among the options, "udpcsum noudp6zerocsumtx
	// noudp6zerocsumrx" always shown, no localbypass or reserved_bits.
	StyleLegacy Style = iota
	// StyleCurrent is iproute2 6.4 and later with `ip -d`: flags at the
	// end, under their JSON names (udp_csum, remcsum_tx, ...), and only
	// those that differ from their default; reserved_bits shown.
	StyleCurrent
	// StyleCurrentAll is iproute2 6.4 and later with `ip -d -d`: as
	// StyleCurrent, but every flag the kernel reports is shown.
	StyleCurrentAll
)

// Details returns the vxlan part of `ip -d link show` for the device,
// from "vxlan" to the last option, as iproute2 6.1 (Debian 12) prints it
// for a kernel device with this configuration, e.g.
//
//	vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 srcport 0 0 dstport 4789 ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx
//
// It is DetailsStyle(StyleLegacy).
func (l Link) Details() string { return l.DetailsStyle(StyleLegacy) }

// DetailsStyle returns the vxlan part of `ip -d link show` as the given
// iproute2 release prints it (ip/iplink_vxlan.c vxlan_print_opt), from
// the attributes the kernel reports (vxlan_fill_info): the VNI (0 for an
// external device), the effective dstport, ageing and reserved bits, and
// the configured srcport ("0 0" for the default range).
//
// What iproute2 cannot show is added where it fits, so that nothing is
// hidden: "flowlabel inherit" for LabelInherit, and in StyleLegacy a
// trailing "reserved_bits", "nolocalbypass" and "mcroute" when they are
// not the default; in StyleCurrent "mcroute" when set (the kernel does not
// report it). iproute2 6.1's missing space after "vnifilter" is kept.
// vtep's gbpmark extension is shown right after "gbp" in every style, as
// "gbpmark 0x800ff", when it is set.
func (l Link) DetailsStyle(style Style) string {
	c := l.Canonical()
	var b strings.Builder
	b.WriteString("vxlan ")
	w := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteByte(' ')
	}
	legacy := style == StyleLegacy

	if legacy {
		if c.External {
			w("external")
		}
		if c.VNIFilter {
			b.WriteString("vnifilter") // sic: no space in iproute2 6.1
		}
	}
	w("id ", c.VNI.String())
	if c.HasRemote() {
		if isMulticast(c.Remote) {
			w("group ", formatAddr(c.Remote))
		} else {
			w("remote ", formatAddr(c.Remote))
		}
	}
	if c.Local.IsValid() && !c.Local.IsUnspecified() {
		w("local ", formatAddr(c.Local))
	}
	if c.Dev != "" {
		w("dev ", c.Dev)
	}
	w("srcport ", strconv.Itoa(int(c.SrcPortMin)), " ", strconv.Itoa(int(c.SrcPortMax)))
	w("dstport ", strconv.Itoa(int(c.Port())))
	if legacy {
		if c.NoLearning {
			w("nolearning")
		}
		for _, f := range [...]struct {
			on   bool
			word string
		}{{c.Proxy, "proxy"}, {c.RSC, "rsc"}, {c.L2Miss, "l2miss"}, {c.L3Miss, "l3miss"}} {
			if f.on {
				w(f.word)
			}
		}
	}
	switch c.TOS {
	case 0:
	case TOSInherit:
		w("tos inherit")
	default:
		w("tos ", cHexShort(uint64(c.TOS)))
	}
	switch {
	case c.TTLInherit:
		w("ttl inherit")
	case c.TTL != 0:
		w("ttl ", strconv.Itoa(int(c.TTL)))
	default:
		w("ttl auto")
	}
	if c.DF != DFUnset {
		w("df ", c.DF.String())
	}
	switch {
	case c.LabelPolicy == LabelInherit:
		w("flowlabel inherit")
	case c.FlowLabel != 0:
		w("flowlabel ", cHexShort(uint64(c.FlowLabel)))
	}
	w("ageing ", strconv.FormatInt(int64(c.AgeingTime().Seconds()), 10))
	if c.MaxAddress != 0 {
		w("maxaddr ", strconv.FormatUint(uint64(c.MaxAddress), 10))
	}

	if legacy {
		no := func(on bool, word string) {
			if !on {
				b.WriteString("no")
			}
			w(word)
		}
		no(!c.NoUDPCsum, "udpcsum")
		no(c.UDP6ZeroCsumTX, "udp6zerocsumtx")
		no(c.UDP6ZeroCsumRX, "udp6zerocsumrx")
		for _, f := range [...]struct {
			on   bool
			word string
		}{
			{c.RemCsumTX, "remcsumtx"}, {c.RemCsumRX, "remcsumrx"}, {c.GBP, "gbp"}, {c.GPE, "gpe"},
			// Not known to iproute2 6.1; shown only when not the default.
			{c.NoLocalBypass, "nolocalbypass"}, {c.MCRoute, "mcroute"},
		} {
			if f.on {
				w(f.word)
			}
			if f.word == "gbp" && c.GBPMark != 0 {
				w("gbpmark ", cHexShort(uint64(c.GBPMark)))
			}
		}
		if c.ReservedBitsSet {
			w("reserved_bits ", cHexShort(c.ReservedBits))
		}
		return strings.TrimSuffix(b.String(), " ")
	}

	w("reserved_bits ", cHexShort(c.EffectiveReservedBits()))
	if c.GBP {
		w("gbp")
	}
	if c.GBPMark != 0 {
		w("gbpmark ", cHexShort(uint64(c.GBPMark)))
	}
	if c.GPE {
		w("gpe")
	}
	all := style == StyleCurrentAll
	for _, o := range c.boolOpts() {
		if !o.present {
			continue
		}
		if o.value != o.def || all {
			if !o.value {
				b.WriteString("no")
			}
			w(o.key)
		}
	}
	return strings.TrimSuffix(b.String(), " ")
}

// boolOpt is one entry of iproute2's vxlan_opts table.
type boolOpt struct {
	key     string
	value   bool
	def     bool
	present bool // whether the kernel reports the attribute
}

// boolOpts returns iproute2's vxlan_opts table (ip/iplink_vxlan.c) with
// the link's values, in its order.
func (l Link) boolOpts() []boolOpt {
	return []boolOpt{
		{"external", l.External, false, true},
		{"vnifilter", l.VNIFilter, false, l.VNIFilter}, // reported only when set
		{"learning", !l.NoLearning, true, true},
		{"proxy", l.Proxy, false, true},
		{"rsc", l.RSC, false, true},
		{"l2miss", l.L2Miss, false, true},
		{"l3miss", l.L3Miss, false, true},
		{"udp_csum", !l.NoUDPCsum, true, true},
		{"udp_zero_csum6_tx", l.UDP6ZeroCsumTX, false, true},
		{"udp_zero_csum6_rx", l.UDP6ZeroCsumRX, false, true},
		{"remcsum_tx", l.RemCsumTX, false, true},
		{"remcsum_rx", l.RemCsumRX, false, true},
		{"localbypass", !l.NoLocalBypass, true, true},
		{"mcroute", l.MCRoute, false, l.MCRoute}, // not reported by the kernel; vtep shows it when set
	}
}

// formatAddr formats a as glibc's inet_ntop does, which differs from
// netip for IPv4-compatible addresses (::a.b.c.d, RFC 4291 §2.5.5.1):
// glibc writes the last 32 bits in dotted decimal when the first 96 bits
// are zero and bits 96-111 are not.
func formatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() && a.Zone() == "" {
		b := a.As16()
		zero := true
		for _, x := range b[:12] {
			if x != 0 {
				zero = false
				break
			}
		}
		if zero && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).String()
		}
	}
	return a.String()
}
