package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestMarshalJSON(t *testing.T) {
	l := mustParse(t, "id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 dstport 4789")
	l.Name = "vx0"
	got, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ifname":"vx0","linkinfo":{"info_kind":"vxlan","info_data":{"id":42,"remote":"10.0.0.2","local":"10.0.0.1",` +
		`"link":"v0","port_range":{"low":0,"high":0},"port":4789,"ttl":0,"df":"unset","ageing":300,` +
		`"reserved_bits":"0xf7ffffff000000ff","external":false,"learning":true,"proxy":false,"rsc":false,"l2miss":false,` +
		`"l3miss":false,"udp_csum":true,"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false,"remcsum_tx":false,` +
		`"remcsum_rx":false,"localbypass":true}}}`
	if string(got) != want {
		t.Errorf("Marshal =\n %s\nwant\n %s", got, want)
	}
}

func TestInfoDataKeys(t *testing.T) {
	l := mustParse(t, "id 7 group ff05::7 local 2001:db8::1 dev v0 ttl inherit tos 0x10 flowlabel inherit gbp mcroute")
	want := `{"id":7,"group6":"ff05::7","local6":"2001:db8::1","link":"v0","port_range":{"low":0,"high":0},"port":4789,` +
		`"tos":"0x10","df":"unset","label_policy":"inherit","ageing":300,"reserved_bits":"0x77000000000000ff","gbp":null,` +
		`"external":false,"learning":true,"proxy":false,"rsc":false,"l2miss":false,"l3miss":false,"udp_csum":true,` +
		`"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false,"remcsum_tx":false,"remcsum_rx":false,"localbypass":true,"mcroute":true}`
	if got := string(l.InfoData()); got != want {
		t.Errorf("InfoData() =\n %s\nwant\n %s", got, want)
	}
}

// TestParseInfoDataIPRoute261 decodes info_data objects printed by
// `ip -d -j link show` of iproute2 6.1.0 on Linux 6.18 for devices created
// with args, and checks they decode to ParseArgs(args).
func TestParseInfoDataIPRoute261(t *testing.T) {
	tests := []struct{ args, json string }{
		{"id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 dstport 4789",
			`{"id":42,"remote":"10.0.0.2","local":"10.0.0.1","link":"v0","port_range":{"low":0,"high":0},"port":4789,"learning":true,"ttl":0,"df":"unset","ageing":300,"udp_csum":true,"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false}`},
		{"id 7 group 239.1.1.1 dev v0 ttl inherit tos inherit df inherit nolearning proxy rsc l2miss l3miss noudpcsum udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp maxaddress 10 ageing 0 srcport 1000 2000 dstport 8472",
			`{"id":7,"group":"239.1.1.1","link":"v0","port_range":{"low":1000,"high":2000},"port":8472,"learning":false,"proxy":true,"rsc":true,"l2miss":true,"l3miss":true,"tos":"0x1","df":"inherit","ageing":300,"limit":10,"udp_csum":false,"udp_zero_csum6_tx":true,"udp_zero_csum6_rx":true,"remcsum_tx":true,"remcsum_rx":true,"gbp":true}`},
		{"id 8 remote 2001:db8::1 flowlabel 0x12345 tos 0x10 ttl 10 df set dstport 8472",
			`{"id":8,"remote6":"2001:db8::1","port_range":{"low":0,"high":0},"port":8472,"learning":true,"tos":"0x10","ttl":10,"df":"set","label":"0x12345","ageing":300,"udp_csum":true,"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false}`},
		{"external gpe",
			`{"external":true,"id":0,"port_range":{"low":0,"high":0},"port":4790,"learning":false,"ttl":0,"df":"unset","ageing":300,"udp_csum":true,"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false,"gpe":true}`},
	}
	for _, tt := range tests {
		want := mustParse(t, tt.args)
		got, err := ParseInfoData([]byte(tt.json))
		if err != nil {
			t.Errorf("ParseInfoData(%s): %v", tt.json, err)
			continue
		}
		if got != want {
			t.Errorf("ParseInfoData(%s) =\n %+v\nwant\n %+v", tt.json, got, want)
		}
	}
}

func TestUnmarshalIPLinkShow(t *testing.T) {
	// One element of `ip -d -j link show vx0`, iproute2 6.1.0.
	in := `{"ifindex":4,"ifname":"vx0","flags":["BROADCAST","MULTICAST"],"mtu":1450,"qdisc":"noop","operstate":"DOWN",` +
		`"linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"3a:27:8e:83:b2:3c",` +
		`"broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo":` +
		`{"info_kind":"vxlan","info_data":{"id":42,"remote":"10.0.0.2","local":"10.0.0.1","link":"v0","port_range":` +
		`{"low":0,"high":0},"port":4789,"learning":true,"ttl":0,"df":"unset","ageing":300,"udp_csum":true,` +
		`"udp_zero_csum6_tx":false,"udp_zero_csum6_rx":false}},"inet6_addr_gen_mode":"eui64","num_tx_queues":1}`
	var got Link
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := mustParse(t, "id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 dstport 4789")
	want.Name, want.MTU, want.Address = "vx0", 1450, header.MustParseMAC("3a:27:8e:83:b2:3c")
	if got != want {
		t.Errorf("Unmarshal =\n %+v\nwant\n %+v", got, want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, args := range []string{
		"id 42",
		"id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 8472 srcport 5 10 ttl 3 tos 0x20 df set ageing 20 maxaddress 3",
		"id 7 group ff05::7 dev v0 ttl inherit tos inherit flowlabel inherit gbp udp6zerocsumtx udp6zerocsumrx",
		"id 7 remote 2001:db8::1 flowlabel 0x12345 remcsumrx remcsumtx noudpcsum nolocalbypass mcroute",
		"external vnifilter learning proxy rsc l2miss l3miss",
		"external gpe local ::",
		"id 1 remote 0.0.0.0 local any",
		"id 1 remote :: local any",
		"id 1 reserved_bits 0 mtu 1400 address 02:00:00:00:00:01",
		"id 1 local fe80::1 group ff02::5 dev eth0",
	} {
		l := mustParse(t, args)
		l.Name = "vx9"
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back Link
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q: Unmarshal(%s): %v", args, b, err)
			continue
		}
		if back != l {
			t.Errorf("%q: JSON round trip =\n %+v\nwant\n %+v\n(%s)", args, back, l, b)
		}
		if d, err := ParseInfoData(l.InfoData()); err != nil || d != (func() Link { c := l; c.Name, c.MTU, c.Address = "", 0, header.MAC{}; return c })() {
			t.Errorf("%q: ParseInfoData(InfoData()) = %+v, %v", args, d, err)
		}
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"not json", `{`, "unexpected end of JSON input"},
		{"no linkinfo", `{"ifname":"x"}`, `config: no "linkinfo" object`},
		{"other kind", `{"linkinfo":{"info_kind":"veth","info_data":{}}}`, `config: linkinfo: info_kind "veth" is not vxlan`},
		{"no info_data", `{"linkinfo":{"info_kind":"vxlan"}}`, `config: no "info_data" object`},
		{"bad id", `{"linkinfo":{"info_data":{"id":"x"}}}`, `config: info_data: "id": strconv.ParseUint: parsing "\"x\"": invalid syntax`},
		{"bad remote family", `{"linkinfo":{"info_data":{"id":1,"remote":"2001:db8::1"}}}`, `config: info_data: "remote": invalid address "2001:db8::1"`},
		{"group that is not multicast", `{"linkinfo":{"info_data":{"id":1,"group":"10.0.0.1"}}}`, `config: info_data: "group": 10.0.0.1 is not a group address`},
		{"remote and group", `{"linkinfo":{"info_data":{"id":1,"remote":"10.0.0.1","group6":"ff05::1"}}}`, `config: info_data: "group6": vxlan: both group and remote cannot be specified`},
		{"bad df", `{"linkinfo":{"info_data":{"id":1,"df":"maybe"}}}`, `config: info_data: "df": Invalid DF attribute`},
		{"bad tos", `{"linkinfo":{"info_data":{"id":1,"tos":"0x100"}}}`, `config: info_data: "tos": invalid number "0x100"`},
		{"bad port_range", `{"linkinfo":{"info_data":{"id":1,"port_range":{"low":1}}}}`, `config: info_data: "port_range": want {"low": N, "high": N}`},
		{"bad bool", `{"linkinfo":{"info_data":{"id":1,"proxy":1}}}`, `config: info_data: "proxy": json: cannot unmarshal number into Go value of type bool`},
		{"bad address", `{"address":"zz","linkinfo":{"info_data":{"id":1}}}`, `config: ParseMAC("zz"): invalid MAC address`},
		{"invalid config", `{"linkinfo":{"info_data":{"id":16777216}}}`, `VXLAN ID must be lower than 16777216`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Link
			err := json.Unmarshal([]byte(tt.in), &l)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want error", tt.in, l)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, err, tt.msg)
			}
		})
	}
	if _, err := ParseInfoData([]byte(`{"id":16777216}`)); !errors.Is(err, ErrVNIRange) {
		t.Errorf("ParseInfoData: %v", err)
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	l := mustParse(b, "id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 4789")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
