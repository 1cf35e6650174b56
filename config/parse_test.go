package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// base is what ParseArgs("id 42") returns; cases below describe
// differences from it.
func base() Link {
	return Link{VNI: 42, DstPort: DefaultPort, Ageing: DefaultAgeing}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args string
		want func(l *Link)
	}{
		{"defaults follow vxlan_nl2conf and vxlan_config_validate", "id 42", func(l *Link) {}},
		{"vni is an alias of id", "vni 42", func(l *Link) {}},
		{"id takes C numbers (get_u32 base 0): hex", "id 0x2a", func(l *Link) {}},
		{"id takes C numbers (get_u32 base 0): octal", "id 052", func(l *Link) {}},
		{"id 0 is a valid VNI", "id 0", func(l *Link) { l.VNI = 0 }},
		{"largest VNI", "id 16777215", func(l *Link) { l.VNI = 16777215 }},
		{"remote", "id 42 remote 10.0.0.2", func(l *Link) { l.Remote = addr("10.0.0.2") }},
		{"group needs dev", "id 42 group 239.1.1.1 dev eth0", func(l *Link) {
			l.Remote, l.Dev = addr("239.1.1.1"), "eth0"
		}},
		{"IPv6 remote and local", "id 42 remote 2001:db8::2 local 2001:db8::1", func(l *Link) {
			l.Remote, l.Local = addr("2001:db8::2"), addr("2001:db8::1")
		}},
		{"local any takes the family of remote (get_addr)", "id 42 remote 2001:db8::2 local any", func(l *Link) {
			l.Remote, l.Local = addr("2001:db8::2"), addr("::")
		}},
		{"remote any after local", "id 42 local 10.0.0.1 remote any", func(l *Link) {
			l.Local, l.Remote = addr("10.0.0.1"), addr("0.0.0.0")
		}},
		{"remote 0.0.0.0 only selects the family", "id 42 remote ::", func(l *Link) { l.Remote = addr("::") }},
		{"dstport 8472 selects the kernel's port", "id 42 dstport 8472", func(l *Link) { l.DstPort = 8472 }},
		{"dstport 0 means the default (4789, RFC 7348 §5)", "id 42 dstport 0", func(l *Link) {}},
		{"gpe defaults dstport to 4790 (iproute2 vxlan_parse_opt)", "external gpe", func(l *Link) {
			l.VNI, l.External, l.GPE, l.NoLearning, l.DstPort = 0, true, true, true, DefaultGPEPort
		}},
		{"gpe keeps an explicit dstport", "external gpe dstport 4789", func(l *Link) {
			l.VNI, l.External, l.GPE, l.NoLearning = 0, true, true, true
		}},
		{"external implies nolearning (iproute2)", "external", func(l *Link) {
			l.VNI, l.External, l.NoLearning = 0, true, true
		}},
		{"learning after external overrides it", "external learning", func(l *Link) {
			l.VNI, l.External = 0, true
		}},
		{"external with vnifilter", "external vnifilter", func(l *Link) {
			l.VNI, l.External, l.NoLearning, l.VNIFilter = 0, true, true, true
		}},
		{"noexternal needs an id", "noexternal id 42", func(l *Link) {}},
		{"srcport range", "id 42 srcport 1000 2000", func(l *Link) { l.SrcPortMin, l.SrcPortMax = 1000, 2000 }},
		{"port is an alias of srcport", "id 42 port 1000 2000", func(l *Link) { l.SrcPortMin, l.SrcPortMax = 1000, 2000 }},
		{"srcport equal bounds are accepted (kernel uses the local range)", "id 42 srcport 5000 5000", func(l *Link) {
			l.SrcPortMin, l.SrcPortMax = 5000, 5000
		}},
		{"ttl number", "id 42 ttl 64", func(l *Link) { l.TTL = 64 }},
		{"hoplimit is an alias of ttl", "id 42 hoplimit 64", func(l *Link) { l.TTL = 64 }},
		{"ttl auto", "id 42 ttl auto", func(l *Link) {}},
		{"ttl 0 is auto (iproute2 sends 0)", "id 42 ttl 0", func(l *Link) {}},
		{"ttl inherit", "id 42 ttl inherit", func(l *Link) { l.TTLInherit = true }},
		{"tos is hex (rtnl_dsfield_a2n)", "id 42 tos 10", func(l *Link) { l.TOS = 0x10 }},
		{"tos 0x prefix", "id 42 tos 0xb8", func(l *Link) { l.TOS = 0xb8 }},
		{"tos rt_dsfield name", "id 42 tos EF", func(l *Link) { l.TOS = 0xb8 }},
		{"dsfield is an alias of tos", "id 42 dsfield AF11", func(l *Link) { l.TOS = 0x28 }},
		{"tos inherit is 1", "id 42 tos inherit", func(l *Link) { l.TOS = TOSInherit }},
		{"df set", "id 42 df set", func(l *Link) { l.DF = DFSet }},
		{"df inherit", "id 42 df inherit", func(l *Link) { l.DF = DFInherit }},
		{"df unset", "id 42 df unset", func(l *Link) {}},
		{"flowlabel on IPv6", "id 42 remote 2001:db8::2 flowlabel 0xfffff", func(l *Link) {
			l.Remote, l.FlowLabel = addr("2001:db8::2"), 0xfffff
		}},
		{"label is an alias of flowlabel", "id 42 remote 2001:db8::2 label 5", func(l *Link) {
			l.Remote, l.FlowLabel = addr("2001:db8::2"), 5
		}},
		{"flowlabel inherit (vtep extension: IFLA_VXLAN_LABEL_POLICY)", "id 42 remote 2001:db8::2 flowlabel inherit", func(l *Link) {
			l.Remote, l.LabelPolicy = addr("2001:db8::2"), LabelInherit
		}},
		{"ageing", "id 42 ageing 30", func(l *Link) { l.Ageing = 30 * time.Second }},
		{"ageing 0 is rewritten to 300 (vxlan_config_validate)", "id 42 ageing 0", func(l *Link) {}},
		{"ageing none is 0, so 300", "id 42 ageing none", func(l *Link) {}},
		{"maxaddress", "id 42 maxaddress 100", func(l *Link) { l.MaxAddress = 100 }},
		{"maxaddress unlimited", "id 42 maxaddress unlimited", func(l *Link) {}},
		{"nolearning", "id 42 nolearning", func(l *Link) { l.NoLearning = true }},
		{"flags on", "id 42 proxy rsc l2miss l3miss udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp mcroute", func(l *Link) {
			l.Proxy, l.RSC, l.L2Miss, l.L3Miss = true, true, true, true
			l.UDP6ZeroCsumTX, l.UDP6ZeroCsumRX, l.RemCsumTX, l.RemCsumRX = true, true, true, true
			l.GBP, l.MCRoute = true, true
		}},
		{"no-flags are the defaults", "id 42 noproxy norsc nol2miss nol3miss udpcsum noudp6zerocsumtx noudp6zerocsumrx noremcsumtx noremcsumrx localbypass nomcroute", func(l *Link) {}},
		{"noudpcsum and nolocalbypass", "id 42 noudpcsum nolocalbypass", func(l *Link) { l.NoUDPCsum, l.NoLocalBypass = true, true }},
		{"reserved_bits", "id 42 reserved_bits 0", func(l *Link) { l.ReservedBitsSet = true }},
		{"reserved_bits equal to the default are not kept", "id 42 reserved_bits 0xf7ffffff000000ff", func(l *Link) {}},
		{"reserved_bits full 64 bits", "id 42 reserved_bits 0xf7ffffff00000000", func(l *Link) {
			l.ReservedBits, l.ReservedBitsSet = 0xf7ffffff00000000, true
		}},
		{"mtu and address (vtep extension)", "id 42 mtu 1400 address 02:00:00:00:00:01", func(l *Link) {
			l.MTU, l.Address = 1400, header.MustParseMAC("02:00:00:00:00:01")
		}},
		// Abbreviations resolve in vxlan_parse_opt's order.
		{"abbreviation i is id", "i 42", func(l *Link) {}},
		{"abbreviation d is dev", "i 42 d eth0", func(l *Link) { l.Dev = "eth0" }},
		{"abbreviation l is local", "i 42 l 10.0.0.1", func(l *Link) { l.Local = addr("10.0.0.1") }},
		{"abbreviation r is remote", "i 42 r 10.0.0.2", func(l *Link) { l.Remote = addr("10.0.0.2") }},
		{"abbreviation p is srcport, pr is proxy", "i 42 p 1 2 pr", func(l *Link) { l.SrcPortMin, l.SrcPortMax, l.Proxy = 1, 2, true }},
		{"abbreviation ds is dsfield, dst is dstport", "i 42 ds 4 dst 99", func(l *Link) { l.TOS, l.DstPort = 4, 99 }},
		{"abbreviation n is nolearning", "i 42 n", func(l *Link) { l.NoLearning = true }},
		{"abbreviation t is ttl, a is ageing, m is maxaddress", "i 42 t 3 a 9 m 7", func(l *Link) {
			l.TTL, l.Ageing, l.MaxAddress = 3, 9*time.Second, 7
		}},
		{"abbreviation u is udpcsum, noudp is noudpcsum", "i 42 noudp", func(l *Link) { l.NoUDPCsum = true }},
		{"abbreviation e is external, g is group, gb is gbp", "e gb", func(l *Link) {
			l.VNI, l.External, l.NoLearning, l.GBP = 0, true, true, true
		}},
		{"abbreviation remc is remcsumtx", "i 42 remc", func(l *Link) { l.RemCsumTX = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(strings.Fields(tt.args))
			if err != nil {
				t.Fatalf("ParseArgs(%q) error: %v", tt.args, err)
			}
			want := base()
			tt.want(&want)
			if got != want {
				t.Errorf("ParseArgs(%q) =\n %+v\nwant\n %+v", tt.args, got, want)
			}
			back, err := ParseArgs(got.Args())
			if err != nil || back != got {
				t.Errorf("ParseArgs(Args() = %q) = %+v, %v; want round trip", got.Args(), back, err)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		class error
		msg   string
	}{
		{"missing id (iproute2 vxlan_parse_opt)", "remote 10.0.0.2", ErrInvalid, "vxlan: missing virtual network identifier"},
		{"empty args need an id", "", ErrInvalid, "vxlan: missing virtual network identifier"},
		{"id too large (iproute2 invalid id)", "id 16777216", ErrArgument, `Error: argument "16777216" is wrong: invalid id`},
		{"id not a number", "id x", ErrArgument, `Error: argument "x" is wrong: invalid id`},
		{"id with trailing garbage", "id 42x", ErrArgument, `Error: argument "42x" is wrong: invalid id`},
		{"id 08 is bad octal", "id 08", ErrArgument, `Error: argument "08" is wrong: invalid id`},
		{"id without value (NEXT_ARG)", "id", ErrIncomplete, `Command line is not complete. Try option "help"`},
		{"srcport missing max", "id 1 srcport 5", ErrIncomplete, `Command line is not complete. Try option "help"`},
		{"duplicate id (check_duparg)", "id 1 vni 2", ErrDuplicate, `Error: either "id" is duplicate, or "2" is garbage.`},
		{"learning and nolearning are one option", "id 1 learning nolearning", ErrDuplicate, `Error: either "nolearning" is duplicate, or "nolearning" is garbage.`},
		{"ttl and hoplimit are one option", "id 1 ttl 3 hoplimit 4", ErrDuplicate, `Error: either "ttl" is duplicate, or "4" is garbage.`},
		{"remote twice", "id 1 remote 10.0.0.1 remote 10.0.0.2", ErrDuplicate, `Error: either "remote" is duplicate, or "10.0.0.2" is garbage.`},
		{"remote and group are mutually exclusive", "id 1 remote 10.0.0.1 group 239.1.1.1", ErrInvalid, "vxlan: both group and remote cannot be specified"},
		{"group and remote are mutually exclusive", "id 1 group 239.1.1.1 remote 10.0.0.1", ErrInvalid, "vxlan: both group and remote cannot be specified"},
		{"group requires dev", "id 1 group 239.1.1.1", ErrInvalid, "vxlan: 'group' requires 'dev' to be specified"},
		{"group must be multicast", "id 1 group 10.0.0.1 dev eth0", ErrArgument, `Error: argument "10.0.0.1" is wrong: invalid group address`},
		{"remote must not be multicast", "id 1 remote 239.1.1.1", ErrArgument, `Error: argument "239.1.1.1" is wrong: invalid remote address`},
		{"local must not be multicast", "id 1 local 239.1.1.1", ErrArgument, `Error: argument "239.1.1.1" is wrong: invalid local address`},
		{"local any needs a known family", "id 1 local any remote 10.0.0.1", ErrArgument, `Error: argument "any" is wrong: invalid local address`},
		{"family of local fixes remote's (get_addr)", "id 1 local 10.0.0.1 remote 2001:db8::1", ErrArgument, `Error: inet address is expected rather than "2001:db8::1".`},
		{"family of remote fixes local's", "id 1 remote 2001:db8::1 local 10.0.0.1", ErrArgument, `Error: inet6 address is expected rather than "10.0.0.1".`},
		{"not an address", "id 1 remote foo", ErrArgument, `Error: any valid address is expected rather than "foo".`},
		{"zones are not addresses", "id 1 remote fe80::1%eth0", ErrArgument, `Error: any valid address is expected rather than "fe80::1%eth0".`},
		{"ttl too large", "id 1 ttl 256", ErrArgument, `Error: argument "256" is wrong: TTL must be <= 255`},
		{"ttl not a number", "id 1 ttl x", ErrArgument, `Error: argument "x" is wrong: invalid TTL`},
		{"tos too large", "id 1 tos 100", ErrArgument, `Error: argument "100" is wrong: bad TOS value`},
		{"df value", "id 1 df maybe", ErrArgument, `Error: argument "maybe" is wrong: DF must be 'unset', 'set' or 'inherit'`},
		{"flowlabel over 20 bits", "id 1 remote 2001:db8::1 flowlabel 0x100000", ErrArgument, `Error: argument "0x100000" is wrong: invalid flowlabel`},
		{"flowlabel on IPv4 (vxlan_config_validate)", "id 1 flowlabel 5", ErrInvalid, "Label attribute only applies to IPv6 VXLAN devices"},
		{"flowlabel inherit on IPv4", "id 1 flowlabel inherit", ErrInvalid, "Label policy only applies to IPv6 VXLAN devices"},
		{"ageing not a number", "id 1 ageing forever", ErrArgument, `Error: argument "forever" is wrong: ageing timer`},
		{"ageing over u32", "id 1 ageing 4294967296", ErrArgument, `Error: argument "4294967296" is wrong: ageing timer`},
		{"maxaddress not a number", "id 1 maxaddress lots", ErrArgument, `Error: argument "lots" is wrong: max addresses`},
		{"srcport min", "id 1 srcport x 2", ErrArgument, `Error: argument "x" is wrong: min port`},
		{"srcport max over u16", "id 1 srcport 1 65536", ErrArgument, `Error: argument "65536" is wrong: max port`},
		{"srcport high < low (vxlan_validate)", "id 1 srcport 5 4", ErrInvalid, "Invalid source port range"},
		{"dstport over u16", "id 1 dstport 70000", ErrArgument, `Error: argument "70000" is wrong: dst port`},
		{"reserved_bits not a number", "id 1 reserved_bits x", ErrArgument, `Error: argument "x" is wrong: reserved_bits`},
		{"reserved_bits overlap used bits (vxlan_nl2conf)", "id 1 reserved_bits 0xffffffffffffffff", ErrReservedBitsOverlap,
			"Used bits 0x08000000ffffff00 cannot overlap reserved bits 0xffffffffffffffff"},
		{"reserved_bits overlap gbp bits", "id 1 gbp reserved_bits 0x0000010000000000", ErrReservedBitsOverlap,
			"Used bits 0x88ffffffffffff00 cannot overlap reserved bits 0x0000010000000000"},
		{"external with id (iproute2)", "external id 1", ErrInvalid, "vxlan: both 'external' and vni cannot be specified"},
		{"vnifilter requires external (iproute2)", "id 1 vnifilter", ErrInvalid, "vxlan: vnifilter is valid only when 'external' is set"},
		{"gpe requires external (VXLAN_F_ALLOWED_GPE)", "id 1 gpe", ErrGPECombination, "VXLAN GPE does not support this combination of attributes"},
		{"gpe forbids learning", "external learning gpe", ErrGPECombination, "VXLAN GPE does not support this combination of attributes"},
		{"gpe forbids gbp", "external gpe gbp", ErrGPECombination, "VXLAN GPE does not support this combination of attributes"},
		{"gpe forbids ttl inherit", "external gpe ttl inherit", ErrGPECombination, "VXLAN GPE does not support this combination of attributes"},
		{"IPv6 link-local local needs dev", "id 1 local fe80::1 remote fe80::2", ErrLinkLocalNeedsDev, "Local interface required for link-local local/remote addresses"},
		{"IPv6 link-local local with a global remote", "id 1 local fe80::1 remote 2001:db8::2 dev eth0", ErrAddressScopes, "Invalid combination of local and remote address scopes"},
		{"IPv6 link-local remote without link-local local", "id 1 remote fe80::2 dev eth0", ErrAddressScopes, "Invalid combination of local and remote address scopes"},
		{"unknown word", "id 1 bogus", ErrUnknownKeyword, `vxlan: unknown command "bogus"?`},
		{"exact-only keywords are not abbreviated", "id 1 localb", ErrUnknownKeyword, `vxlan: unknown command "localb"?`},
		{"empty word", "id 1 ''", ErrUnknownKeyword, `vxlan: unknown command "''"?`},
		{"help", "help", ErrHelp, Usage},
		{"mtu out of range (vxlan_validate)", "id 1 mtu 60", ErrMTURange, "MTU must be between 68 and 65535"},
		{"address must be unicast (vxlan_validate)", "id 1 address 01:00:00:00:00:01", ErrAddressNotUnicast, "Provided Ethernet address is not unicast"},
		{"address syntax", "id 1 address xyz", ErrArgument, `Error: argument "xyz" is wrong: invalid lladdr`},
		{"dev name syntax", "id 1 dev a/b", ErrArgument, `Error: argument "a/b" is wrong: "dev" not a valid ifname`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(strings.Fields(tt.args))
			if err == nil {
				t.Fatalf("ParseArgs(%q) = %+v, want error %q", tt.args, got, tt.msg)
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("ParseArgs(%q) error %v does not match %v", tt.args, err, tt.class)
			}
			if err.Error() != tt.msg {
				t.Errorf("ParseArgs(%q) error\n %q\nwant\n %q", tt.args, err.Error(), tt.msg)
			}
			if got != (Link{}) {
				t.Errorf("ParseArgs(%q) returned %+v with the error, want zero Link", tt.args, got)
			}
		})
	}
}

func TestErrorClassesAreDisjoint(t *testing.T) {
	classes := []error{ErrArgument, ErrDuplicate, ErrIncomplete, ErrUnknownKeyword, ErrHelp, ErrInvalid, ErrCannotChange}
	errs := []error{
		ErrVNIRange, ErrChangeVNI, &ArgError{}, &AddrError{}, &DuplicateError{}, &UnknownError{},
		&ReservedBitsError{}, &NameError{}, &FlagChangeError{}, &MTUError{},
	}
	for _, e := range errs {
		n := 0
		for _, c := range classes {
			if errors.Is(e, c) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%T %v matches %d classes, want 1", e, e, n)
		}
	}
}

func TestParseCUint(t *testing.T) {
	tests := []struct {
		s    string
		base int
		bits int
		want uint64
		ok   bool
	}{
		{"0", 0, 32, 0, true},
		{"10", 0, 32, 10, true},
		{"0x10", 0, 32, 16, true},
		{"0X1f", 0, 32, 31, true},
		{"010", 0, 32, 8, true},
		{"08", 0, 32, 0, false},
		{"0x", 0, 32, 0, false},
		{"", 0, 32, 0, false},
		{"-1", 0, 32, 0, false},
		{"+1", 0, 32, 0, false},
		{" 1", 0, 32, 0, false},
		{"1_000", 0, 32, 0, false},
		{"0b1", 0, 32, 0, false},
		{"4294967295", 0, 32, 4294967295, true},
		{"4294967296", 0, 32, 0, false},
		{"18446744073709551615", 0, 64, 1<<64 - 1, true},
		{"18446744073709551616", 0, 64, 0, false},
		{"ff", 16, 8, 255, true},
		{"0xff", 16, 8, 255, true},
		{"100", 16, 8, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCUint(tt.s, tt.base, tt.bits)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCUint(%q, %d, %d) = %d, %v; want %d, %v", tt.s, tt.base, tt.bits, got, ok, tt.want, tt.ok)
		}
	}
}

func TestArgsIsCanonical(t *testing.T) {
	l := Link{Name: "vx0", VNI: 7, Remote: addr("2001:db8::1"), TTLInherit: true, TTL: 9,
		LabelPolicy: LabelInherit, FlowLabel: 3, MTU: 1400, Address: header.MustParseMAC("02:00:00:00:00:07")}
	want := []string{"id", "7", "remote", "2001:db8::1", "ttl", "inherit", "flowlabel", "inherit",
		"dstport", "4789", "mtu", "1400", "address", "02:00:00:00:00:07"}
	if got := l.Args(); !reflect.DeepEqual(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	wantIP := []string{"vx0", "mtu", "1400", "address", "02:00:00:00:00:07", "type", "vxlan", "id", "7",
		"remote", "2001:db8::1", "ttl", "inherit", "flowlabel", "inherit", "dstport", "4789"}
	if got := l.IPLinkArgs(); !reflect.DeepEqual(got, wantIP) {
		t.Errorf("IPLinkArgs() = %q, want %q", got, wantIP)
	}
	got, err := ParseArgs(l.Args())
	c := l.Canonical()
	c.Name = ""
	if err != nil || got != c {
		t.Errorf("ParseArgs(Args()) = %+v, %v; want %+v", got, err, c)
	}
}

func BenchmarkParseArgs(b *testing.B) {
	args := strings.Fields("id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 4789 nolearning srcport 1000 2000 ttl 64 tos inherit df set")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseArgs(args); err != nil {
			b.Fatal(err)
		}
	}
}
