package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vtepd/vtep/header"
)

// Defaults. They are the kernel's (drivers/net/vxlan/vxlan_core.c) except
// DefaultPort.
const (
	// DefaultPort is the UDP destination port used when none is given or
	// "dstport 0" is. It is the IANA port, because RFC 7348 §5 says 4789
	// "SHOULD be used by default". This is a deliberate difference from the
	// kernel, whose default is KernelDefaultPort; "dstport 8472" selects
	// the kernel's value.
	DefaultPort = 4789
	// DefaultGPEPort is the default destination port of a gpe device
	// (IANA_VXLAN_GPE_UDP_PORT), as in the kernel.
	DefaultGPEPort = 4790
	// KernelDefaultPort is the Linux module default (udp_port=8472, "for
	// compatibility with early adopters"). It is not used by vtep; it is
	// here so callers can name it.
	KernelDefaultPort = 8472

	// DefaultAgeing is the lifetime of learned FDB entries when ageing is
	// not given, or given as 0 or "none": vxlan_config_validate rewrites 0
	// to FDB_AGE_DEFAULT, so ageing cannot be switched off.
	DefaultAgeing = 300 * time.Second
	// AgeSweepInterval is how often the kernel's ageing timer runs
	// (FDB_AGE_INTERVAL); an entry lives between ageing and
	// ageing+AgeSweepInterval.
	AgeSweepInterval = 10 * time.Second

	// DefaultSrcPortMin and DefaultSrcPortMax are the source port range
	// used when srcport is not given (or is "0 0", or has min >= max). As in
	// the kernel's udp_flow_src_port, the range is [min, max): the flow hash
	// is scaled onto max-min ports starting at min. The kernel reads the
	// bounds from net.ipv4.ip_local_port_range, whose default is
	// 32768-60999; vtep has no sysctl, so it fixes that default here.
	// Following the kernel (rather than RFC 7348's RECOMMENDED 49152-65535)
	// keeps vtep's outer headers indistinguishable from a Linux VTEP's for
	// firewalls and ECMP tuning that were set up for Linux; use
	// "srcport 49152 65535" for the RFC range.
	DefaultSrcPortMin = 32768
	DefaultSrcPortMax = 60999

	// MinMTU and MaxMTU bound the device MTU (ETH_MIN_MTU, ETH_MAX_MTU).
	MinMTU = 68
	MaxMTU = 65535
	// DefaultMTU is the MTU of a device without a lower device
	// (ether_setup).
	DefaultMTU = 1500

	// MaxFlowLabel is the largest IPv6 flow label (20 bits).
	MaxFlowLabel = 1<<20 - 1
)

// DF says how the outer IPv4 header's Don't Fragment bit is set
// (IFLA_VXLAN_DF).
type DF uint8

const (
	DFUnset   DF = 0 // DF is clear (default)
	DFSet     DF = 1 // DF is set
	DFInherit DF = 2 // copied from the inner IPv4 header; set for inner IPv6
)

// String returns the iproute2 keyword: unset, set or inherit.
func (d DF) String() string {
	switch d {
	case DFUnset:
		return "unset"
	case DFSet:
		return "set"
	case DFInherit:
		return "inherit"
	}
	return "DF(" + itoa(uint64(d)) + ")"
}

// LabelPolicy says where the outer IPv6 flow label comes from
// (IFLA_VXLAN_LABEL_POLICY).
type LabelPolicy uint8

const (
	LabelFixed   LabelPolicy = 0 // Link.FlowLabel (default)
	LabelInherit LabelPolicy = 1 // the inner IPv6 flow label, 0 for other inner packets
)

// String returns "fixed" or "inherit".
func (p LabelPolicy) String() string {
	switch p {
	case LabelFixed:
		return "fixed"
	case LabelInherit:
		return "inherit"
	}
	return "LabelPolicy(" + itoa(uint64(p)) + ")"
}

// Group Based Policy mark bits: how skb->mark maps to the GBP extension of
// the VXLAN header (include/net/vxlan.h VXLAN_GBP_*), and so which bits
// [Link.GBPMark] may use.
const (
	GBPMarkDontLearn     = 1 << 22 // D bit
	GBPMarkPolicyApplied = 1 << 19 // A bit
	GBPMarkPolicyIDMask  = 0xffff  // Group Policy ID
	GBPMarkMask          = GBPMarkDontLearn | GBPMarkPolicyApplied | GBPMarkPolicyIDMask
)

// TOSInherit is the TOS value that means "copy the inner DSCP and ECN"
// (the kernel stores inherit as tos 1).
const TOSInherit = 1

// Link is the configuration of one VXLAN device: everything
// `ip link add NAME [mtu MTU] [address LLADDR] type vxlan ...` can say.
// It is plain, comparable data; nothing in it refers to the running system.
//
// The zero value of every field means what the kernel does when the option
// is not given, so Link{Name: "vx0", VNI: 42} is a valid device. Options
// that default to on are therefore stored inverted (NoLearning, NoUDPCsum,
// NoLocalBypass). A few zero values stand for a default the kernel fills in
// when the device is created (DstPort, Ageing); [Link.Canonical] fills them
// in the same way, and ParseArgs always returns canonical links.
type Link struct {
	// Name is the device name; ParseArgs never sets it.
	Name string

	// VNI is the device's VXLAN network identifier ("id"/"vni"). It must
	// be 0 on an external device.
	VNI header.VNI

	// Remote is the default destination: a unicast VTEP ("remote") or, if
	// it is a multicast address, a group ("group"). The invalid Addr means
	// none. An unspecified address (0.0.0.0, ::) also means none but
	// selects the address family.
	Remote netip.Addr
	// Local is the outer source address ("local"). The invalid Addr means
	// unset; the unspecified address is "local any".
	Local netip.Addr
	// Dev is the name of the lower device ("dev"), or "".
	Dev string

	// DstPort is the UDP destination port ("dstport"); 0 means DefaultPort
	// (DefaultGPEPort with GPE).
	DstPort uint16
	// SrcPortMin and SrcPortMax are the source port range ("srcport MIN
	// MAX"), max exclusive. 0 0 means the default range, see
	// [Link.SourcePortRange].
	SrcPortMin, SrcPortMax uint16

	// TTL is the outer TTL/hop limit; 0 is "auto" (1 for a group, else the
	// route's). TTLInherit copies the inner packet's; TTL is then unused.
	TTL        uint8
	TTLInherit bool
	// TOS is the outer TOS/traffic class; TOSInherit (1) copies the inner
	// DSCP and ECN. ECN is always propagated.
	TOS uint8
	// DF is the outer IPv4 Don't Fragment policy.
	DF DF
	// FlowLabel is the outer IPv6 flow label (20 bits) used with
	// LabelFixed. Both apply to IPv6 devices only.
	FlowLabel   uint32
	LabelPolicy LabelPolicy

	// NoLearning turns off learning of inner source MACs ("nolearning").
	NoLearning bool
	// Ageing is the lifetime of learned entries; 0 means DefaultAgeing.
	// It must be whole seconds.
	Ageing time.Duration
	// MaxAddress limits the number of FDB entries ("maxaddress"); 0 is
	// unlimited.
	MaxAddress uint32

	Proxy  bool // answer ARP and ND from the neighbour table ("proxy")
	RSC    bool // route short-circuit ("rsc")
	L2Miss bool // notify unknown destination MACs ("l2miss")
	L3Miss bool // notify unknown neighbour IPs ("l3miss")

	// NoUDPCsum sends IPv4 outer UDP with checksum 0 ("noudpcsum").
	NoUDPCsum bool
	// UDP6ZeroCsumTX sends IPv6 outer UDP with checksum 0; UDP6ZeroCsumRX
	// accepts IPv6 outer UDP with checksum 0.
	UDP6ZeroCsumTX bool
	UDP6ZeroCsumRX bool
	// RemCsumTX and RemCsumRX enable remote checksum offload.
	RemCsumTX bool
	RemCsumRX bool
	// NoLocalBypass sends to local VTEP addresses through the stack
	// instead of straight to the local device ("nolocalbypass").
	NoLocalBypass bool

	// External is flow-based (collect metadata) mode ("external").
	External bool
	// GBP enables the Group Policy extension, GPE the Generic Protocol
	// Extension (which requires External).
	GBP bool
	GPE bool
	// GBPMark is vtep's "gbpmark MARK" extension: the mark given to every
	// frame read from the overlay port, which a Linux TAP cannot mark
	// (there is no skb->mark on a frame written to a TAP, and vtep is not
	// in the path where netfilter would set one). On a GBP device the mark
	// becomes the Group Policy of the frames sent, as the kernel turns
	// skb->mark into the header (vxlan_build_gbp_hdr: mark = D<<22 |
	// A<<19 | policy ID). 0 means none: frames go out without the G bit.
	// It requires GBP and may only use the bits in GBPMarkMask.
	GBPMark uint32
	// VNIFilter enables the per-device VNI list (requires External).
	VNIFilter bool
	// MCRoute sends packets for a group through multicast routing
	// ("mcroute").
	MCRoute bool

	// ReservedBits is the set of VXLAN header bits that make a received
	// packet be dropped, as the 64-bit big-endian reading of the 8-byte
	// header ("reserved_bits"). It applies only if ReservedBitsSet; else
	// the kernel default ^UsedBits() does, see [Link.EffectiveReservedBits].
	ReservedBits    uint64
	ReservedBitsSet bool

	// MTU is the device MTU; 0 means derived from the lower device, see
	// [Link.DeviceMTU].
	MTU int
	// Address is the device MAC; the zero MAC means random.
	Address header.MAC
}

// Flags is the kernel's VXLAN_F_* flag word (include/net/vxlan.h) for a
// configuration. The datapath uses it as the kernel does, e.g. two devices
// may share a socket only if their Flags&RcvFlags are equal.
type Flags uint32

// Flag bits, with the kernel's values.
const (
	FlagLearn            Flags = 0x01
	FlagProxy            Flags = 0x02
	FlagRSC              Flags = 0x04
	FlagL2Miss           Flags = 0x08
	FlagL3Miss           Flags = 0x10
	FlagIPv6             Flags = 0x20
	FlagUDPZeroCsumTX    Flags = 0x40
	FlagUDPZeroCsum6TX   Flags = 0x80
	FlagUDPZeroCsum6RX   Flags = 0x100
	FlagRemCsumTX        Flags = 0x200
	FlagRemCsumRX        Flags = 0x400
	FlagGBP              Flags = 0x800
	FlagRemCsumNoPartial Flags = 0x1000
	FlagCollectMetadata  Flags = 0x2000
	FlagGPE              Flags = 0x4000
	FlagIPv6LinkLocal    Flags = 0x8000
	FlagTTLInherit       Flags = 0x10000
	FlagVNIFilter        Flags = 0x20000
	FlagMDB              Flags = 0x40000
	FlagLocalBypass      Flags = 0x80000
	FlagMCRoute          Flags = 0x100000

	// RcvFlags are the flags that change how received packets are parsed
	// (VXLAN_F_RCV_FLAGS).
	RcvFlags = FlagGBP | FlagGPE | FlagUDPZeroCsum6RX | FlagRemCsumRX |
		FlagRemCsumNoPartial | FlagCollectMetadata | FlagVNIFilter
	// AllowedGPEFlags are the only flags a GPE device may have
	// (VXLAN_F_ALLOWED_GPE).
	AllowedGPEFlags = FlagGPE | FlagIPv6 | FlagIPv6LinkLocal | FlagUDPZeroCsumTX |
		FlagUDPZeroCsum6TX | FlagUDPZeroCsum6RX | FlagCollectMetadata |
		FlagVNIFilter | FlagLocalBypass | FlagMCRoute
)

var flagNames = [...]string{
	"LEARN", "PROXY", "RSC", "L2MISS", "L3MISS", "IPV6", "UDP_ZERO_CSUM_TX",
	"UDP_ZERO_CSUM6_TX", "UDP_ZERO_CSUM6_RX", "REMCSUM_TX", "REMCSUM_RX", "GBP",
	"REMCSUM_NOPARTIAL", "COLLECT_METADATA", "GPE", "IPV6_LINKLOCAL",
	"TTL_INHERIT", "VNIFILTER", "MDB", "LOCALBYPASS", "MC_ROUTE",
}

// String lists the set flags with the kernel's names, joined by "|".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
			f &^= 1 << i
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return strings.Join(parts, "|")
}

// Flags returns the kernel flag word the configuration produces, including
// the derived FlagIPv6 and FlagIPv6LinkLocal (vxlan_config_validate).
func (l Link) Flags() Flags {
	var f Flags
	set := func(b bool, flag Flags) {
		if b {
			f |= flag
		}
	}
	set(!l.NoLearning, FlagLearn)
	set(l.Proxy, FlagProxy)
	set(l.RSC, FlagRSC)
	set(l.L2Miss, FlagL2Miss)
	set(l.L3Miss, FlagL3Miss)
	set(l.IsIPv6(), FlagIPv6)
	set(l.NoUDPCsum, FlagUDPZeroCsumTX)
	set(l.UDP6ZeroCsumTX, FlagUDPZeroCsum6TX)
	set(l.UDP6ZeroCsumRX, FlagUDPZeroCsum6RX)
	set(l.RemCsumTX, FlagRemCsumTX)
	set(l.RemCsumRX, FlagRemCsumRX)
	set(l.GBP, FlagGBP)
	set(l.External, FlagCollectMetadata)
	set(l.GPE, FlagGPE)
	set(l.IsIPv6() && !l.External && l.Local.Is6() && l.Local.IsLinkLocalUnicast(), FlagIPv6LinkLocal)
	set(l.TTLInherit, FlagTTLInherit)
	set(l.VNIFilter, FlagVNIFilter)
	set(!l.NoLocalBypass, FlagLocalBypass)
	set(l.MCRoute, FlagMCRoute)
	return f
}

// Learning reports whether inner source MACs are learned (not NoLearning).
func (l Link) Learning() bool { return !l.NoLearning }

// UDPCsum reports whether IPv4 outer UDP checksums are sent (not
// NoUDPCsum).
func (l Link) UDPCsum() bool { return !l.NoUDPCsum }

// LocalBypass reports whether frames for a local VTEP address go straight
// to the local device (not NoLocalBypass).
func (l Link) LocalBypass() bool { return !l.NoLocalBypass }

// IsIPv6 reports whether the underlay is IPv6: the family of Remote if it
// is set, else of Local; IPv4 if neither is (vxlan_config_validate).
func (l Link) IsIPv6() bool {
	if l.Remote.IsValid() {
		return l.Remote.Is6()
	}
	return l.Local.Is6()
}

// IsGroup reports whether Remote is a multicast group.
func (l Link) IsGroup() bool { return l.Remote.IsValid() && isMulticast(l.Remote) }

// HasRemote reports whether the device has a default destination, that
// is, whether the kernel creates the all-zeros FDB entry for it.
func (l Link) HasRemote() bool { return l.Remote.IsValid() && !l.Remote.IsUnspecified() }

// Port returns the UDP destination port: DstPort, or the default.
func (l Link) Port() uint16 {
	switch {
	case l.DstPort != 0:
		return l.DstPort
	case l.GPE:
		return DefaultGPEPort
	}
	return DefaultPort
}

// SourcePortRange returns the range outer source ports are drawn from,
// [min, max). As in the kernel's udp_flow_src_port, a configured range
// with min >= max (including the default 0 0) is replaced by the default
// local port range.
func (l Link) SourcePortRange() (min, max uint16) {
	if l.SrcPortMin >= l.SrcPortMax {
		return DefaultSrcPortMin, DefaultSrcPortMax
	}
	return l.SrcPortMin, l.SrcPortMax
}

// AgeingTime returns the lifetime of learned FDB entries: Ageing, or
// DefaultAgeing if Ageing is 0.
func (l Link) AgeingTime() time.Duration {
	if l.Ageing == 0 {
		return DefaultAgeing
	}
	return l.Ageing
}

// UsedBits returns the VXLAN header bits the device interprets: the I flag
// and the VNI, plus those claimed by GBP, GPE and remote checksum offload
// receive (vxlan_nl2conf). Values are the 64-bit big-endian reading of
// the header, as reserved_bits is written.
func (l Link) UsedBits() uint64 {
	u := header.VXLANUsedBitsDefault
	if l.RemCsumRX {
		u |= header.VXLANUsedBitsRCO
	}
	if l.GBP {
		u |= header.VXLANUsedBitsGBP
	}
	if l.GPE {
		u |= header.VXLANUsedBitsGPE
	}
	return u
}

// EffectiveReservedBits returns the header bits that make a received
// packet be dropped: ReservedBits if set, else ^UsedBits(), the kernel's
// default (0xf7ffffff000000ff for a plain device).
func (l Link) EffectiveReservedBits() uint64 {
	if l.ReservedBitsSet {
		return l.ReservedBits
	}
	return ^l.UsedBits()
}

// Canonical returns l with the defaults that the kernel fills in when the
// device is created made explicit, and equivalent spellings reduced to one
// (vxlan_config_validate):
//   - DstPort 0 becomes DefaultPort, or DefaultGPEPort with GPE;
//   - Ageing 0 becomes DefaultAgeing;
//   - TTL is cleared when TTLInherit is set, and FlowLabel when LabelPolicy
//     is LabelInherit, since the kernel does not use them then;
//   - ReservedBitsSet is cleared when ReservedBits equals the default.
//
// ParseArgs, Change and UnmarshalJSON return canonical links.
func (l Link) Canonical() Link {
	l.DstPort = l.Port()
	l.Ageing = l.AgeingTime()
	if l.TTLInherit {
		l.TTL = 0
	}
	if l.LabelPolicy == LabelInherit {
		l.FlowLabel = 0
	}
	if l.ReservedBitsSet && l.ReservedBits == ^l.UsedBits() {
		l.ReservedBitsSet = false
	}
	if !l.ReservedBitsSet {
		l.ReservedBits = 0
	}
	return l
}

// Overhead returns the bytes VXLAN adds in front of the device's frames on
// the lower device (vxlan_headroom): outer IPv4 (20) or IPv6 (40) header,
// UDP (8), VXLAN (8) and, except with GPE, the inner Ethernet header (14).
// That is 50 or 70, or 36 or 56 with GPE.
func (l Link) Overhead() int {
	n := header.IPv4MinimumSize
	if l.IsIPv6() {
		n = header.IPv6FixedSize
	}
	n += header.UDPSize + header.VXLANSize
	if !l.GPE {
		n += header.EthernetSize
	}
	return n
}

// MaxMTU returns the largest MTU the device may have over a lower device
// whose MTU is lowerMTU: lowerMTU-Overhead(), at least MinMTU
// (vxlan_config_apply). lowerMTU <= 0 means no lower device, and gives
// MaxMTU.
func (l Link) MaxMTU(lowerMTU int) int {
	if lowerMTU <= 0 {
		return MaxMTU
	}
	return max(lowerMTU-l.Overhead(), MinMTU)
}

// DeviceMTU returns the MTU the device gets when it is created: MTU if it
// is set, else MaxMTU(lowerMTU) with a lower device and DefaultMTU without
// one (lowerMTU <= 0 or Dev == "").
func (l Link) DeviceMTU(lowerMTU int) int {
	switch {
	case l.MTU != 0:
		return l.MTU
	case l.Dev == "" || lowerMTU <= 0:
		return DefaultMTU
	}
	return l.MaxMTU(lowerMTU)
}

// CheckMTU reports whether mtu may be set on the existing device, as
// `ip link set NAME mtu MTU` (dev_validate_mtu, vxlan_change_mtu): it must
// be within MinMTU..MaxMTU and, over a lower device (lowerMTU > 0), at
// most MaxMTU(lowerMTU).
func (l Link) CheckMTU(mtu, lowerMTU int) error {
	if mtu < MinMTU || mtu > MaxMTU {
		return ErrMTURange
	}
	if lowerMTU > 0 && mtu > lowerMTU-l.Overhead() {
		return &MTUError{MTU: mtu, Max: lowerMTU - l.Overhead(), LowerMTU: lowerMTU}
	}
	return nil
}

// MTUError reports an MTU larger than the lower device allows.
type MTUError struct {
	MTU, Max, LowerMTU int
}

func (e *MTUError) Error() string {
	return "vxlan: mtu " + strconv.Itoa(e.MTU) + " greater than maximum " + strconv.Itoa(e.Max) +
		" (lower device mtu " + strconv.Itoa(e.LowerMTU) + " minus vxlan overhead)"
}

// Is reports whether target is [ErrMTURange] or [ErrInvalid].
func (e *MTUError) Is(target error) bool { return target == ErrMTURange || target == ErrInvalid }

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
