package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustParse(t testing.TB, args string) Link {
	t.Helper()
	l, err := ParseArgs(strings.Fields(args))
	if err != nil {
		t.Fatalf("ParseArgs(%q): %v", args, err)
	}
	return l
}

// TestChangeRtnetlinkSelftest replays kci_test_encap_vxlan from the
// kernel's tools/testing/selftests/net/rtnetlink.sh: a device created with
// "id 42 group 239.1.1.1 dev DEV dstport 4789" and then changed with
// `ip link set dev vxlan type vxlan ...`.
func TestChangeRtnetlinkSelftest(t *testing.T) {
	old := mustParse(t, "id 42 group 239.1.1.1 dev test-dummy0 dstport 4789")
	tests := []struct {
		args string
		want string // "" means success
	}{
		{"vni 43", "Cannot change VNI"},
		{"group ffe5::5 dev test-dummy0", "New group address family does not match old group"},
		{"ttl inherit", "vxlan: cannot change TTL_INHERIT flag"},
		{"ttl 64", ""},
		{"nolearning", ""},
		{"proxy", "vxlan: cannot change PROXY flag"},
		{"norsc", "vxlan: cannot change RSC flag"},
		{"l2miss", "vxlan: cannot change L2MISS flag"},
		{"l3miss", "vxlan: cannot change L3MISS flag"},
		{"external", "vxlan: cannot change COLLECT_METADATA flag"},
		{"udpcsum", "Cannot change UDP_CSUM flag"},
		{"udp6zerocsumtx", "vxlan: cannot change UDP_ZERO_CSUM6_TX flag"},
		{"udp6zerocsumrx", "vxlan: cannot change UDP_ZERO_CSUM6_RX flag"},
		{"remcsumtx", "vxlan: cannot change REMCSUM_TX flag"},
		{"remcsumrx", "vxlan: cannot change REMCSUM_RX flag"},
		{"gbp", "vxlan: cannot change GBP flag"},
		// iproute2 sends dstport 4790 for gpe without dstport, and
		// vxlan_nl2conf refuses the port before it reaches GPE.
		{"gpe", "Cannot change port"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := old.Change(strings.Fields(tt.args))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Change(%q) = %v, want success", tt.args, err)
				}
				if err := CanChange(old, got); err != nil {
					t.Errorf("CanChange(old, Change(%q)) = %v", tt.args, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Change(%q) = %v, want %q", tt.args, err, tt.want)
			}
			if got != old {
				t.Errorf("Change(%q) failed but returned %+v, want the old link", tt.args, got)
			}
		})
	}
}

func TestChange(t *testing.T) {
	old := mustParse(t, "id 42 group 239.1.1.1 dev v0 dstport 4789")
	tests := []struct {
		name  string
		args  string
		class error
		msg   string
		want  func(l *Link)
	}{
		{"same id is accepted", "id 42", nil, "", func(l *Link) {}},
		{"group requires dev in set too (iproute2)", "group 239.1.1.2", ErrInvalid, "vxlan: 'group' requires 'dev' to be specified", nil},
		{"new group of the same family", "group 239.1.1.2 dev v0", nil, "", func(l *Link) { l.Remote = addr("239.1.1.2") }},
		{"remote of the same family", "remote 10.1.1.1", nil, "", func(l *Link) { l.Remote = addr("10.1.1.1") }},
		{"local of the same family", "local 10.0.0.1", nil, "", func(l *Link) { l.Local = addr("10.0.0.1") }},
		{"local of another family", "local 2001:db8::1", ErrCannotChange, "New local address family does not match old", nil},
		{"dev", "dev lo", nil, "", func(l *Link) { l.Dev = "lo" }},
		{"tos", "tos 0x10", nil, "", func(l *Link) { l.TOS = 0x10 }},
		{"df", "df set", nil, "", func(l *Link) { l.DF = DFSet }},
		{"ttl auto", "ttl auto", nil, "", func(l *Link) {}},
		{"ageing 0 becomes 300 again", "ageing 0", nil, "", func(l *Link) {}},
		{"ageing", "ageing 60", nil, "", func(l *Link) { l.Ageing = time.Minute }},
		{"learning", "learning", nil, "", func(l *Link) {}},
		{"localbypass is changeable", "nolocalbypass", nil, "", func(l *Link) { l.NoLocalBypass = true }},
		{"mcroute is changeable", "mcroute", nil, "", func(l *Link) { l.MCRoute = true }},
		{"flowlabel on IPv4 (vxlan_config_validate)", "flowlabel 5", ErrLabelNotIPv6, "Label attribute only applies to IPv6 VXLAN devices", nil},
		{"noproxy is refused too", "noproxy", ErrCannotChange, "vxlan: cannot change PROXY flag", nil},
		{"noexternal is refused too", "noexternal", ErrCannotChange, "vxlan: cannot change COLLECT_METADATA flag", nil},
		{"maxaddress", "maxaddress 5", ErrCannotChange, "Cannot change limit", nil},
		{"srcport", "srcport 1 2", ErrCannotChange, "Cannot change port range", nil},
		{"srcport 0 0 is not sent", "srcport 0 0", nil, "", func(l *Link) {}},
		{"srcport high < low (vxlan_validate first)", "srcport 5 4", ErrSrcPortRange, "Invalid source port range", nil},
		{"dstport, even unchanged", "dstport 4789", ErrCannotChange, "Cannot change port", nil},
		{"dstport 0 is not sent", "dstport 0", nil, "", func(l *Link) {}},
		{"reserved_bits", "reserved_bits 0", ErrCannotChange, "Cannot change reserved_bits", nil},
		{"vnifilter without external (iproute2)", "vnifilter", ErrInvalid, "vxlan: vnifilter is valid only when 'external' is set", nil},
		{"novnifilter (vxlan_flag_attr_error default)", "novnifilter", ErrCannotChange, "vxlan: cannot change flag", nil},
		{"first refused attribute in vxlan_nl2conf order", "gbp proxy", ErrCannotChange, "vxlan: cannot change PROXY flag", nil},
		{"mtu (vtep extension, as ip link set mtu)", "mtu 1400", nil, "", func(l *Link) { l.MTU = 1400 }},
		{"mtu out of range", "mtu 20", ErrMTURange, "MTU must be between 68 and 65535", nil},
		{"address", "address 02:00:00:00:00:09", nil, "", func(l *Link) { l.Address[0], l.Address[5] = 2, 9 }},
		{"parse errors come first", "ttl 300", ErrArgument, `Error: argument "300" is wrong: TTL must be <= 255`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := old.Change(strings.Fields(tt.args))
			if tt.want == nil {
				if !errors.Is(err, tt.class) || err.Error() != tt.msg {
					t.Fatalf("Change(%q) = %v, want %q (%v)", tt.args, err, tt.msg, tt.class)
				}
				if got != old {
					t.Errorf("Change(%q) failed but changed the link", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("Change(%q) = %v", tt.args, err)
			}
			want := old
			tt.want(&want)
			if got != want {
				t.Errorf("Change(%q) =\n %+v\nwant\n %+v", tt.args, got, want)
			}
		})
	}
}

func TestChangeTTLInheritQuirk(t *testing.T) {
	// IFLA_VXLAN_TTL_INHERIT cannot be sent on changelink, and "ttl 64"
	// sends only IFLA_VXLAN_TTL: the device keeps inheriting.
	old := mustParse(t, "id 1 ttl inherit")
	got, err := old.Change([]string{"ttl", "64"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.TTLInherit || got != old {
		t.Errorf("Change(ttl 64) on ttl inherit = %+v, want unchanged (still inherit)", got)
	}
}

func TestChangeFamilies(t *testing.T) {
	// A device without addresses is IPv4 (vxlan_config_validate), so its
	// family cannot become IPv6.
	v4 := mustParse(t, "id 1")
	if _, err := v4.Change([]string{"remote", "2001:db8::1"}); !errors.Is(err, ErrChangeGroupFamily) {
		t.Errorf("remote IPv6 on an IPv4 device: %v", err)
	}
	v6 := mustParse(t, "id 1 local ::")
	got, err := v6.Change([]string{"remote", "2001:db8::1"})
	if err != nil || got.Remote != addr("2001:db8::1") {
		t.Errorf("remote IPv6 on an IPv6 device: %+v, %v", got, err)
	}
	got, err = got.Change([]string{"flowlabel", "inherit"})
	if err != nil || got.LabelPolicy != LabelInherit {
		t.Errorf("flowlabel inherit on IPv6: %v", err)
	}
	got, err = got.Change([]string{"flowlabel", "7"})
	if err != nil || got.LabelPolicy != LabelFixed || got.FlowLabel != 7 {
		t.Errorf("flowlabel 7 after inherit = %+v, %v; want fixed 7", got, err)
	}
}

func TestCanChange(t *testing.T) {
	old := mustParse(t, "id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0")
	tests := []struct {
		name string
		edit func(l *Link)
		want error
	}{
		{"identical", func(l *Link) {}, nil},
		{"name is not compared", func(l *Link) { l.Name = "other" }, nil},
		{"remote removed", func(l *Link) { l.Remote = netip.Addr{} }, nil},
		{"remote unspecified is the same as none", func(l *Link) { l.Remote = addr("0.0.0.0") }, nil},
		{"remote to IPv6", func(l *Link) { l.Remote, l.Local = addr("2001:db8::2"), addr("2001:db8::1") }, ErrChangeGroupFamily},
		{"local to IPv6 only", func(l *Link) { l.Remote, l.Local = netip.Addr{}, addr("2001:db8::1") }, ErrChangeLocalFamily},
		{"VNI", func(l *Link) { l.VNI = 43 }, ErrChangeVNI},
		{"ttl", func(l *Link) { l.TTL = 5 }, nil},
		{"ttl inherit", func(l *Link) { l.TTLInherit = true }, ErrCannotChange},
		{"learning", func(l *Link) { l.NoLearning = true }, nil},
		{"ageing 0 is 300", func(l *Link) { l.Ageing = 0 }, nil},
		{"dstport 0 is 4789", func(l *Link) { l.DstPort = 0 }, nil},
		{"dstport", func(l *Link) { l.DstPort = 8472 }, ErrChangePort},
		{"srcport", func(l *Link) { l.SrcPortMax = 9 }, ErrChangePortRange},
		{"gbp", func(l *Link) { l.GBP = true }, ErrCannotChange},
		{"udpcsum", func(l *Link) { l.NoUDPCsum = true }, ErrChangeUDPCsum},
		{"maxaddress", func(l *Link) { l.MaxAddress = 3 }, ErrChangeLimit},
		{"reserved bits", func(l *Link) { l.ReservedBitsSet = true }, ErrChangeReservedBits},
		{"reserved bits equal to the default", func(l *Link) { l.ReservedBitsSet, l.ReservedBits = true, 0xf7ffffff000000ff }, nil},
		{"mtu and address", func(l *Link) { l.MTU = 1400; l.Address[0] = 2; l.Address[5] = 1 }, nil},
		{"new configuration must be valid", func(l *Link) { l.Remote = addr("239.1.1.1"); l.Dev = "" }, ErrGroupNeedsDev},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := old
			tt.edit(&n)
			err := CanChange(old, n)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("CanChange = %v, want %v", err, tt.want)
			}
		})
	}
}

func BenchmarkChange(b *testing.B) {
	old, _ := ParseArgs(strings.Fields("id 42 group 239.1.1.1 dev eth0 dstport 4789"))
	args := strings.Fields("ttl 64 nolearning ageing 60")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := old.Change(args); err != nil {
			b.Fatal(err)
		}
	}
}
