package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedArgs are argument strings from the table tests.
var seedArgs = []string{
	"id 42",
	"id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 4789 nolearning srcport 1000 2000 ttl inherit tos inherit df set",
	"id 7 group 239.1.1.1 dev v0 ttl inherit tos inherit df inherit nolearning proxy rsc l2miss l3miss noudpcsum udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp maxaddress 10 ageing 0 srcport 1000 2000 dstport 8472",
	"id 8 remote 2001:db8::1 flowlabel 0x12345 tos 0x10 ttl 10 df set dstport 8472",
	"external gpe", "external vnifilter learning", "external gpe dstport 4789 local ::",
	"id 1 local fe80::1 remote fe80::2 dev eth0", "id 1 local fe80::1 group ff02::5 dev eth0",
	"id 1 remote 2001:db8::1 flowlabel inherit nolocalbypass mcroute reserved_bits 0",
	"i 42 d eth0 p 1 2 pr ds 4 dst 99 n t 3 a 9 m 7 remc",
	"id 1 mtu 1400 address 02:00:00:00:00:01", "id 0x10 remote any local 10.0.0.1", "help",
	"id 1 remote 10.0.0.1 group 239.1.1.1", "id 1 reserved_bits 0xffffffffffffffff", "vni 052 tos EF",
	"id 42 remote 10.0.0.2 gbp gbpmark 0x800ff", "id 42 gbpmark 1",
}

// FuzzParseArgs checks that ParseArgs never panics, returns the zero Link
// with every error, and returns only valid canonical links whose Args,
// JSON and info_data forms parse back to the same link.
func FuzzParseArgs(f *testing.F) {
	for _, s := range seedArgs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseArgs(strings.Fields(s))
		if err != nil {
			if l != (Link{}) {
				t.Fatalf("ParseArgs(%q) = %+v with error %v", s, l, err)
			}
			return
		}
		checkLink(t, l)
	})
}

func checkLink(t *testing.T, l Link) {
	t.Helper()
	if err := l.Validate(); err != nil {
		t.Fatalf("%+v: Validate() = %v", l, err)
	}
	if c := l.Canonical(); c != l {
		t.Fatalf("%+v is not canonical: %+v", l, c)
	}
	args := l.Args()
	back, err := ParseArgs(args)
	if err != nil {
		t.Fatalf("ParseArgs(Args() = %q) = %v", args, err)
	}
	back.Name = l.Name
	if back != l {
		t.Fatalf("ParseArgs(Args() = %q) =\n %+v\nwant\n %+v", args, back, l)
	}
	if again := back.Args(); !reflect.DeepEqual(again, args) {
		t.Fatalf("Args not stable: %q then %q", args, again)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	// JSON strings are UTF-8; other names cannot round-trip.
	if utf8.ValidString(l.Name) && utf8.ValidString(l.Dev) {
		var j Link
		if err := json.Unmarshal(b, &j); err != nil || j != l {
			t.Fatalf("JSON round trip of %+v: %+v, %v (%s)", l, j, err, b)
		}
		d, err := ParseInfoData(l.InfoData())
		d.Name, d.MTU, d.Address = l.Name, l.MTU, l.Address
		if err != nil || d != l {
			t.Fatalf("ParseInfoData(InfoData()) of %+v: %+v, %v", l, d, err)
		}
	}
	for _, st := range []Style{StyleLegacy, StyleCurrent, StyleCurrentAll} {
		if s := l.DetailsStyle(st); !strings.HasPrefix(s, "vxlan id ") && !strings.HasPrefix(s, "vxlan external") {
			t.Fatalf("DetailsStyle(%d) = %q", st, s)
		}
	}
	if err := CanChange(l, l); err != nil {
		t.Fatalf("CanChange(l, l) = %v", err)
	}
}

// FuzzChange checks that Change returns the old link with every error, and
// otherwise a valid canonical link that CanChange agrees with.
func FuzzChange(f *testing.F) {
	changes := []string{"ttl 64", "nolearning", "vni 43", "group ffe5::5 dev x", "ttl inherit", "gpe",
		"remote 10.9.9.9 local any", "flowlabel inherit", "mtu 1400 address 02:00:00:00:00:02", "ageing 0 df inherit",
		"gbpmark 0x4000ff", "gbpmark 0"}
	for i, s := range seedArgs {
		f.Add(s, changes[i%len(changes)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		old, err := ParseArgs(strings.Fields(a))
		if err != nil {
			return
		}
		n, err := old.Change(strings.Fields(b))
		if err != nil {
			if n != old {
				t.Fatalf("Change(%q) on %q failed (%v) but returned %+v", b, a, err, n)
			}
			return
		}
		checkLink(t, n)
		if err := CanChange(old, n); err != nil {
			t.Fatalf("Change(%q) on %q succeeded but CanChange = %v", b, a, err)
		}
	})
}

// FuzzParseInfoData checks that decoding never panics and that what it
// accepts is valid and encodes back to an equal link.
func FuzzParseInfoData(f *testing.F) {
	for _, s := range seedArgs {
		if l, err := ParseArgs(strings.Fields(s)); err == nil {
			f.Add(l.InfoData())
		}
	}
	f.Add([]byte(`{"id":7,"group":"239.1.1.1","link":"v0","port_range":{"low":1000,"high":2000},"port":8472,"learning":false,"tos":"0x1","gbp":true}`))
	f.Add([]byte(`{"external":true,"id":0,"gpe":null,"learning":false}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseInfoData(b)
		if err != nil {
			return
		}
		checkLink(t, l)
	})
}

// FuzzParseFile checks that ParseFile never panics and that the links it
// accepts are valid and named.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("links:\n  - {name: a, args: id 1 remote 10.0.0.2}\nfdb:\n  - {mac: \"00:00:00:00:00:00\", dev: a, dst: 10.0.0.3, op: append}\n"))
	f.Add([]byte("neighbors:\n  - {dev: a, ip: 10.0.0.9, lladdr: 02:00:00:00:00:09}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile(b)
		if err != nil {
			return
		}
		for _, ls := range file.Links {
			if ls.Link.Name == "" {
				t.Fatalf("link without a name: %+v", ls)
			}
			checkLink(t, ls.Link)
		}
		for _, e := range file.FDB {
			if _, ok := file.Link(e.Dev); !ok || !e.VNI.IsValid() || !e.SrcVNI.IsValid() || e.Port == 0 {
				t.Fatalf("bad fdb entry %+v", e)
			}
		}
		for _, n := range file.Neighbors {
			if _, ok := file.Link(n.Dev); !ok || !n.IP.IsValid() {
				t.Fatalf("bad neighbor %+v", n)
			}
		}
	})
}
