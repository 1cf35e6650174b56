package config

import (
	"net/netip"
	"testing"
)

// The legacy strings below were printed by `ip -d link show` of iproute2
// 6.1.0 (Debian 12) on Linux 6.18 for devices created with the same
// arguments (with dstport given, since the kernel's default differs).
func TestDetails(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		legacy  string
		current string
		all     string
	}{
		{
			name:    "unicast remote",
			args:    "id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 dstport 4789",
			legacy:  "vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 srcport 0 0 dstport 4789 ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx",
			current: "vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 srcport 0 0 dstport 4789 ttl auto ageing 300 reserved_bits 0xf7ffffff000000ff",
			all: "vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 srcport 0 0 dstport 4789 ttl auto ageing 300 reserved_bits 0xf7ffffff000000ff " +
				"noexternal learning noproxy norsc nol2miss nol3miss udp_csum noudp_zero_csum6_tx noudp_zero_csum6_rx noremcsum_tx noremcsum_rx localbypass",
		},
		{
			name: "every flag",
			args: "id 7 group 239.1.1.1 dev v0 ttl inherit tos inherit df inherit nolearning proxy rsc l2miss l3miss noudpcsum " +
				"udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp maxaddress 10 ageing 0 srcport 1000 2000 dstport 8472",
			legacy: "vxlan id 7 group 239.1.1.1 dev v0 srcport 1000 2000 dstport 8472 nolearning proxy rsc l2miss l3miss tos inherit ttl inherit df inherit " +
				"ageing 300 maxaddr 10 noudpcsum udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp",
			current: "vxlan id 7 group 239.1.1.1 dev v0 srcport 1000 2000 dstport 8472 tos inherit ttl inherit df inherit ageing 300 maxaddr 10 " +
				"reserved_bits 0x7700000000000000 gbp nolearning proxy rsc l2miss l3miss noudp_csum udp_zero_csum6_tx udp_zero_csum6_rx remcsum_tx remcsum_rx",
		},
		{
			name:    "IPv6 with flow label",
			args:    "id 8 remote 2001:db8::1 flowlabel 0x12345 tos 0x10 ttl 10 df set dstport 8472",
			legacy:  "vxlan id 8 remote 2001:db8::1 srcport 0 0 dstport 8472 tos 0x10 ttl 10 df set flowlabel 0x12345 ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx",
			current: "vxlan id 8 remote 2001:db8::1 srcport 0 0 dstport 8472 tos 0x10 ttl 10 df set flowlabel 0x12345 ageing 300 reserved_bits 0xf7ffffff000000ff",
		},
		{
			name:    "external gpe",
			args:    "external gpe",
			legacy:  "vxlan external id 0 srcport 0 0 dstport 4790 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx gpe",
			current: "vxlan id 0 srcport 0 0 dstport 4790 ttl auto ageing 300 reserved_bits 0xc2ffff00000000ff gpe external nolearning",
		},
		{
			name:    "iproute2 6.1 prints vnifilter without a space",
			args:    "external vnifilter dstport 4790",
			legacy:  "vxlan external vnifilterid 0 srcport 0 0 dstport 4790 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx",
			current: "vxlan id 0 srcport 0 0 dstport 4790 ttl auto ageing 300 reserved_bits 0xf7ffffff000000ff external vnifilter nolearning",
		},
		{
			name:    "unspecified addresses are not printed (vxlan_fill_info)",
			args:    "id 1 remote :: local any",
			legacy:  "vxlan id 1 srcport 0 0 dstport 4789 ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx",
			current: "vxlan id 1 srcport 0 0 dstport 4789 ttl auto ageing 300 reserved_bits 0xf7ffffff000000ff",
		},
		{
			name: "vtep extensions are shown",
			args: "id 1 remote 2001:db8::1 flowlabel inherit nolocalbypass mcroute reserved_bits 0",
			legacy: "vxlan id 1 remote 2001:db8::1 srcport 0 0 dstport 4789 ttl auto flowlabel inherit ageing 300 " +
				"udpcsum noudp6zerocsumtx noudp6zerocsumrx nolocalbypass mcroute reserved_bits 0",
			current: "vxlan id 1 remote 2001:db8::1 srcport 0 0 dstport 4789 ttl auto flowlabel inherit ageing 300 reserved_bits 0 nolocalbypass mcroute",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustParse(t, tt.args)
			if got := l.Details(); got != tt.legacy {
				t.Errorf("Details() =\n %q\nwant\n %q", got, tt.legacy)
			}
			if got := l.DetailsStyle(StyleCurrent); got != tt.current {
				t.Errorf("DetailsStyle(StyleCurrent) =\n %q\nwant\n %q", got, tt.current)
			}
			if tt.all != "" {
				if got := l.DetailsStyle(StyleCurrentAll); got != tt.all {
					t.Errorf("DetailsStyle(StyleCurrentAll) =\n %q\nwant\n %q", got, tt.all)
				}
			}
		})
	}
}

func TestFormatAddr(t *testing.T) {
	// glibc inet_ntop: IPv4-compatible addresses print the last 32 bits in
	// dotted decimal; netip does not.
	for in, want := range map[string]string{
		"::2:3":          "::0.2.0.3",
		"::102:304":      "::1.2.3.4",
		"::1":            "::1",
		"::":             "::",
		"::ffff:1.2.3.4": "::ffff:1.2.3.4",
		"2001:db8::1":    "2001:db8::1",
		"10.0.0.1":       "10.0.0.1",
	} {
		if got := formatAddr(netip.MustParseAddr(in)); got != want {
			t.Errorf("formatAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

func BenchmarkDetails(b *testing.B) {
	l := mustParse(b, "id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 4789 nolearning")
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Details()
	}
}
