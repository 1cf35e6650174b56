package config

import (
	"errors"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

func TestValidate(t *testing.T) {
	ok := Link{VNI: 42}
	tests := []struct {
		name string
		l    Link
		want error // nil: valid
		msg  string
	}{
		{"zero VNI", Link{}, nil, ""},
		{"VNI 2^24 is too large (vxlan_validate)", Link{VNI: 1 << 24}, ErrVNIRange, "VXLAN ID must be lower than 16777216"},
		{"external with VNI (iproute2)", Link{External: true, VNI: 1}, ErrExternalVNI, "vxlan: both 'external' and vni cannot be specified"},
		{"vnifilter without external (iproute2)", Link{VNIFilter: true}, ErrVNIFilterNeedsExternal, "vxlan: vnifilter is valid only when 'external' is set"},
		{"group without dev (iproute2)", Link{Remote: addr("239.1.1.1")}, ErrGroupNeedsDev, "vxlan: 'group' requires 'dev' to be specified"},
		{"IPv6 group without dev", Link{Remote: addr("ff05::1")}, ErrGroupNeedsDev, ""},
		{"4in6 of a v4 group is not a group (ipv6_addr_is_multicast)", Link{Remote: addr("::ffff:239.1.1.1")}, nil, ""},
		{"group with dev", Link{Remote: addr("239.1.1.1"), Dev: "eth0"}, nil, ""},
		{"multicast address (vxlan_validate)", Link{Address: header.MustParseMAC("01:00:5e:00:00:01")}, ErrAddressNotUnicast, "Provided Ethernet address is not unicast"},
		{"unicast address", Link{Address: header.MustParseMAC("02:00:00:00:00:01")}, nil, ""},
		{"MTU 67 (vxlan_validate)", Link{MTU: 67}, ErrMTURange, "MTU must be between 68 and 65535"},
		{"MTU 65536", Link{MTU: 65536}, ErrMTURange, ""},
		{"MTU 68", Link{MTU: 68}, nil, ""},
		{"srcport high < low (vxlan_validate)", Link{SrcPortMin: 2, SrcPortMax: 1}, ErrSrcPortRange, "Invalid source port range"},
		{"DF 3 (vxlan_validate)", Link{DF: 3}, ErrDF, "Invalid DF attribute"},
		{"label policy 2", Link{Remote: addr("2001:db8::1"), LabelPolicy: 2}, ErrLabelPolicy, ""},
		{"flowlabel over 20 bits", Link{Remote: addr("2001:db8::1"), FlowLabel: 1 << 20}, ErrFlowLabelRange, ""},
		{"ageing not whole seconds", Link{Ageing: 1500 * time.Millisecond}, ErrAgeingRange, ""},
		{"ageing negative", Link{Ageing: -time.Second}, ErrAgeingRange, ""},
		{"ageing over u32", Link{Ageing: (1 << 32) * time.Second}, ErrAgeingRange, ""},
		{"ageing u32 max", Link{Ageing: (1<<32 - 1) * time.Second}, nil, ""},
		{"reserved bits overlap the RCO bits (vxlan_nl2conf)", Link{RemCsumRX: true, ReservedBitsSet: true, ReservedBits: 1},
			ErrReservedBitsOverlap, "Used bits 0x08200000ffffffff cannot overlap reserved bits 0x0000000000000001"},
		{"reserved bits 0 is allowed", Link{ReservedBitsSet: true}, nil, ""},
		{"gpe without external (vxlan_config_validate)", Link{GPE: true, NoLearning: true}, ErrGPECombination, "VXLAN GPE does not support this combination of attributes"},
		{"gpe with learning", Link{GPE: true, External: true}, ErrGPECombination, ""},
		{"gpe with proxy", Link{GPE: true, External: true, NoLearning: true, Proxy: true}, ErrGPECombination, ""},
		{"gpe with remcsumtx", Link{GPE: true, External: true, NoLearning: true, RemCsumTX: true}, ErrGPECombination, ""},
		{"gpe allowed flags", Link{GPE: true, External: true, NoLearning: true, NoUDPCsum: true, UDP6ZeroCsumTX: true,
			UDP6ZeroCsumRX: true, VNIFilter: true, MCRoute: true, Local: addr("2001:db8::1")}, nil, ""},
		{"local and remote families differ (vxlan_config_validate)", Link{Remote: addr("10.0.0.1"), Local: addr("2001:db8::1")},
			ErrFamilyMismatch, "Local and remote address must be from the same family"},
		{"multicast local (vxlan_config_validate)", Link{Local: addr("239.1.1.1")}, ErrLocalMulticast, "Local address cannot be multicast"},
		{"IPv6 multicast local", Link{Local: addr("ff02::1")}, ErrLocalMulticast, ""},
		{"link-local local and global remote", Link{Local: addr("fe80::1"), Remote: addr("2001:db8::2"), Dev: "eth0"},
			ErrAddressScopes, "Invalid combination of local and remote address scopes"},
		{"link-local local and link-local remote", Link{Local: addr("fe80::1"), Remote: addr("fe80::2"), Dev: "eth0"}, nil, ""},
		{"link-local local and link-local group", Link{Local: addr("fe80::1"), Remote: addr("ff02::1:2"), Dev: "eth0"}, nil, ""},
		{"link-local local and site group", Link{Local: addr("fe80::1"), Remote: addr("ff05::1:2"), Dev: "eth0"}, ErrAddressScopes, ""},
		{"link-local local alone", Link{Local: addr("fe80::1"), Dev: "eth0"}, nil, ""},
		{"link-local local, unspecified remote", Link{Local: addr("fe80::1"), Remote: addr("::"), Dev: "eth0"}, nil, ""},
		{"link-local remote with global local", Link{Local: addr("2001:db8::1"), Remote: addr("fe80::2"), Dev: "eth0"}, ErrAddressScopes, ""},
		{"link-local remote without local", Link{Remote: addr("fe80::2"), Dev: "eth0"}, ErrAddressScopes, ""},
		{"link-local without dev (vxlan_config_validate)", Link{Local: addr("fe80::1")}, ErrLinkLocalNeedsDev,
			"Local interface required for link-local local/remote addresses"},
		{"external skips the scope checks", Link{External: true, Remote: addr("fe80::2")}, nil, ""},
		{"flowlabel on IPv4", Link{FlowLabel: 1}, ErrLabelNotIPv6, "Label attribute only applies to IPv6 VXLAN devices"},
		{"label inherit on IPv4", Link{LabelPolicy: LabelInherit}, ErrLabelPolicyNotIPv6, "Label policy only applies to IPv6 VXLAN devices"},
		{"flowlabel on IPv6 via local", Link{Local: addr("::"), FlowLabel: 1}, nil, ""},
		{"bad name", Link{Name: "a b"}, ErrInvalidName, `"a b" is not a valid ifname (name)`},
		{"name too long", Link{Name: "0123456789abcdef"}, ErrInvalidName, ""},
		{"name 15 bytes", Link{Name: "0123456789abcde"}, nil, ""},
		{"name with colon", Link{Name: "a:b"}, ErrInvalidName, ""},
		{"name dot", Link{Name: "."}, ErrInvalidName, ""},
		{"bad dev", Link{Dev: "x/y"}, ErrInvalidName, `"x/y" is not a valid ifname (dev)`},
		{"zone in remote", Link{Remote: addr("fe80::1%eth0"), Dev: "eth0"}, ErrArgument, `Error: argument "fe80::1%eth0" is wrong: invalid remote address`},
		{"plain", ok, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("Validate() message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	l, _ := ParseArgs([]string{"id", "42", "remote", "2001:db8::2", "local", "2001:db8::1", "dev", "eth0"})
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
