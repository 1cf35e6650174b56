package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

func TestLoadFileExample(t *testing.T) {
	f, err := LoadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Links) != 4 || len(f.FDB) != 6 || len(f.MDB) != 3 || len(f.Neighbors) != 2 {
		t.Fatalf("got %d links, %d fdb, %d mdb, %d neighbors; want 4, 6, 3, 2", len(f.Links), len(f.FDB), len(f.MDB), len(f.Neighbors))
	}
	vx42, ok := f.Link("vx42")
	if !ok {
		t.Fatal("no vx42")
	}
	want := mustParse(t, "id 42 local 192.0.2.1 dev eth0 nolearning ttl 64 srcport 49152 65535")
	want.Name = "vx42"
	if vx42.Link != want || !vx42.Up || vx42.Line != 6 {
		t.Errorf("vx42 = %+v", vx42)
	}
	if got := vx42.Addresses; len(got) != 2 || got[0] != netip.MustParsePrefix("10.42.0.1/24") || got[1] != netip.MustParsePrefix("fd42::1/64") {
		t.Errorf("vx42 addresses = %v", got)
	}
	if _, ok := f.Link("nope"); ok {
		t.Error("Link(nope) found something")
	}

	e := f.FDB[3]
	wantFDB := FDBSpec{MAC: header.MustParseMAC("02:00:00:00:42:03"), Dev: "vx42", Dst: netip.MustParseAddr("192.0.2.3"),
		Port: 8472, VNI: 4242, SrcVNI: 42, Router: true, Line: 35}
	if e != wantFDB {
		t.Errorf("fdb[3] = %+v\nwant %+v", e, wantFDB)
	}
	if e := f.FDB[0]; e.Op != FDBAppend || e.Port != 4789 || e.VNI != 42 || e.State != FDBPermanent {
		t.Errorf("fdb[0] = %+v: want append, the link's port and VNI, permanent", e)
	}
	if e := f.FDB[4]; e.SrcVNI != 7 || e.VNI != 7 || !e.ExternLearn || e.Port != 4790 {
		t.Errorf("fdb[4] = %+v", e)
	}
	if e := f.FDB[5]; e.State != FDBDynamic {
		t.Errorf("fdb[5] = %+v", e)
	}
	vni := uint32(4242)
	wantMDB := MDBSpec{Dev: "vx42", Group: netip.MustParseAddr("239.1.1.1"), FilterMode: "exclude",
		SourceList: []netip.Addr{netip.MustParseAddr("10.42.0.66")}, Proto: 186, Dst: netip.MustParseAddr("192.0.2.3"),
		Port: 8472, VNI: &vni, Line: 43}
	if m := f.MDB[1]; !m.Equal(wantMDB) || m.Line != 43 {
		t.Errorf("mdb[1] = %+v\nwant %+v", m, wantMDB)
	}
	if m := f.MDB[2]; m.Op != MDBReplace || !m.Group.IsUnspecified() || m.VNI != nil || m.Port != 0 {
		t.Errorf("mdb[2] = %+v: want the catch-all entry, replace, the link's port and VNI", m)
	}
	n := f.Neighbors[1]
	if n != (NeighSpec{Dev: "vx6", IP: netip.MustParseAddr("fd06::2"), LLAddr: header.MustParseMAC("02:00:00:00:06:02"), Router: true, Line: 49}) {
		t.Errorf("neighbors[1] = %+v", n)
	}
	if vx6, _ := f.Link("vx6"); vx6.Link.LabelPolicy != LabelInherit || vx6.Link.Ageing != 300*time.Second {
		t.Errorf("vx6 = %+v", vx6.Link)
	}
}

func TestParseFileEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "links: []\n", "{}\n"} {
		f, err := ParseFile([]byte(in))
		if err != nil || len(f.Links)+len(f.FDB)+len(f.Neighbors) != 0 {
			t.Errorf("ParseFile(%q) = %+v, %v", in, f, err)
		}
	}
}

// TestParseFileNexthopFDB: an FDB entry with `nhid` (bridge fdb add MAC dev
// DEV nhid ID) has no remote of its own: no dst, port or VNI.
func TestParseFileNexthopFDB(t *testing.T) {
	f, err := ParseFile([]byte("links:\n  - {name: vx0, args: \"id 1 dstport 4789\"}\nfdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, nhid: 10, state: static}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := f.FDB[0]
	if e.NHID != 10 || e.Dst.IsValid() || e.Port != 0 || e.VNI != 0 || e.SrcVNI != 1 || e.State != FDBStatic {
		t.Errorf("entry %+v", e)
	}
}

func TestParseFileErrors(t *testing.T) {
	const links = "links:\n  - {name: vx0, args: \"id 1 remote 10.0.0.2\"}\n  - {name: vx6, args: \"id 6 local 2001:db8::1 maxaddress 1\"}\n  - {name: gpe0, args: \"external gpe\"}\n  - {name: ext, args: \"external\"}\n"
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error, in order
		is   error
	}{
		{"unknown top-level key", "link: []\n", []string{"line 1: field link not found in the file"}, ErrFile},
		{"unknown link field", "links:\n  - name: vx0\n    arg: x\n", []string{"line 3: field arg not found in a links entry"}, ErrFile},
		{"unknown fdb field", "fdb:\n  - {mac: x, dst2: y}\n", []string{"line 2: field dst2 not found in an fdb entry"}, ErrFile},
		{"wrong type", "links:\n  - name: vx0\n    up: maybe\n", []string{"line 3: cannot unmarshal !!str `maybe` into bool"}, ErrFile},
		{"port overflow", "fdb:\n  - {port: 70000}\n", []string{"line 2: cannot unmarshal !!int `70000` into uint16"}, ErrFile},
		{"duplicate key", "links:\n  - name: a\n    name: b\n", []string{`mapping key "name" already defined at line 2`}, ErrFile},
		{"two documents", "links: []\n---\nlinks: []\n", []string{"only one document"}, ErrFile},
		{"not a mapping", "- a\n", []string{"cannot unmarshal !!seq into the file"}, ErrFile},
		{"missing name", "links:\n  - args: id 1\n", []string{`line 2: links[0]: "name" is required`}, ErrFile},
		{"bad name", "links:\n  - {name: a/b, args: id 1}\n", []string{`line 2: links[0] (a/b): "a/b" is not a valid ifname (name)`}, ErrInvalidName},
		{"duplicate name", "links:\n  - {name: a, args: id 1}\n  - {name: a, args: id 2}\n", []string{`line 3: links[1] (a): name "a" is already used by links[0] (line 2)`}, ErrFile},
		{"args error", "links:\n  - {name: a, args: id 1 remote 239.1.1.1}\n", []string{`line 2: links[0] (a): Error: argument "239.1.1.1" is wrong: invalid remote address`}, ErrArgument},
		{"args missing id", "links:\n  - {name: a}\n", []string{`line 2: links[0] (a): vxlan: missing virtual network identifier`}, ErrMissingVNI},
		{"bad address", "links:\n  - {name: a, args: id 1, addresses: [10.0.0.1/33, 10.0.0.1, 10.0.0.1/32]}\n",
			[]string{`address "10.0.0.1/33": not an address/prefix-length`, `address 10.0.0.1/32 is listed twice`}, ErrFile},
		{"VNI in use (vxlan_vni_in_use)", "links:\n  - {name: a, args: id 1}\n  - {name: b, args: id 1}\n",
			[]string{"line 3: links[1] (b): A VXLAN device with the specified VNI already exists: links entry a (line 2)"}, ErrFile},
		{"fdb mac required", links + "fdb:\n  - {dev: vx0, dst: 10.0.0.3}\n", []string{`line 7: fdb[0]: "mac" is required`}, ErrFile},
		{"fdb bad mac", links + "fdb:\n  - {mac: zz, dev: vx0, dst: 10.0.0.3}\n", []string{`fdb[0]: invalid mac "zz"`}, ErrFile},
		{"fdb dev required", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dst: 10.0.0.3}\n", []string{`"dev" is required`}, ErrFile},
		{"fdb unknown dev", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: eth0, dst: 10.0.0.3}\n", []string{`dev "eth0" is not a link of this file`}, ErrFile},
		{"fdb dst required", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0}\n", []string{`"dst" is required`}, ErrFile},
		{"fdb bad dst", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: x}\n", []string{`invalid dst "x"`}, ErrFile},
		{"fdb nhid with dst", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, nhid: 10, dst: 10.0.0.3}\n", []string{`line 7: fdb[0]: dst, port, vni and via are mutually exclusive with nhid`}, ErrFile},
		{"fdb nhid with via", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, nhid: 10, via: ul0}\n", []string{`mutually exclusive with nhid`}, ErrFile},
		{"fdb nhid twice", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, nhid: 10}\n  - {mac: 02:00:00:00:00:01, dev: vx0, nhid: 20}\n", []string{`line 8: fdb[1]: File exists`}, ErrFile},
		{"fdb dst family (EAFNOSUPPORT)", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 2001:db8::9}\n",
			[]string{"dst 2001:db8::9: Address family not supported by protocol (vx0 is IPv4)"}, ErrFile},
		{"fdb vni range", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3, vni: 16777216}\n", []string{"invalid VNI 16777216"}, ErrFile},
		{"fdb src_vni range", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: ext, dst: 10.0.0.3, src_vni: 16777216}\n", []string{"invalid src_vni 16777216"}, ErrFile},
		{"fdb src_vni needs external", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3, src_vni: 5}\n",
			[]string{"src_vni is only used on external links; vx0 is not external"}, ErrFile},
		{"fdb bad via", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3, via: a b}\n", []string{`"a b" is not a valid ifname (via)`}, ErrInvalidName},
		{"fdb bad state", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3, state: stale}\n", []string{`state "stale" is not permanent, static or dynamic`}, ErrFile},
		{"fdb bad op", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3, op: del}\n", []string{`op "del" is not add, append or replace`}, ErrFile},
		{"fdb add over the default entry (EEXIST)", links + "fdb:\n  - {mac: \"00:00:00:00:00:00\", dev: vx0, dst: 10.0.0.3}\n",
			[]string{"File exists: 00:00:00:00:00:00 is already in vx0's FDB, from the default entry of vx0's remote (line 2); use op: append"}, ErrFile},
		{"fdb add twice (EEXIST)", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3}\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.4}\n",
			[]string{"line 8: fdb[1]: File exists: 02:00:00:00:00:01 is already in vx0's FDB, from fdb[0] (line 7)"}, ErrFile},
		{"fdb append to a unicast entry adds no remote", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.3}\n  - {mac: 02:00:00:00:00:01, dev: vx0, dst: 10.0.0.4, op: append}\n",
			[]string{"append adds no second remote to a unicast MAC"}, ErrFile},
		{"fdb replace of a non-unicast MAC (EOPNOTSUPP)", links + "fdb:\n  - {mac: 01:00:5e:00:00:01, dev: vx0, dst: 10.0.0.3, op: replace}\n",
			[]string{"Cannot replace non-unicast fdb entries"}, ErrFile},
		{"fdb over maxaddress (ENOSPC)", links + "fdb:\n  - {mac: 02:00:00:00:00:01, dev: vx6, dst: 2001:db8::3}\n  - {mac: 02:00:00:00:00:02, dev: vx6, dst: 2001:db8::3}\n",
			[]string{"line 8: fdb[1]: No space left on device: vx6 has maxaddress 1"}, ErrFile},
		{"unknown mdb field", "mdb:\n  - {grp: x, group: y}\n", []string{"line 2: field group not found in an mdb entry"}, ErrFile},
		{"mdb dev required", links + "mdb:\n  - {grp: 239.1.1.1, dst: 10.0.0.3}\n", []string{`line 7: mdb[0]: "dev" is required`}, ErrFile},
		{"mdb grp required", links + "mdb:\n  - {dev: vx0, dst: 10.0.0.3}\n", []string{`mdb[0]: "grp" is required`}, ErrFile},
		{"mdb dst required", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1}\n", []string{`mdb[0]: "dst" is required`}, ErrFile},
		{"mdb unknown dev", links + "mdb:\n  - {dev: x, grp: 239.1.1.1, dst: 10.0.0.3}\n", []string{`dev "x" is not a link of this file`}, ErrFile},
		{"mdb bad grp", links + "mdb:\n  - {dev: vx0, grp: nope, dst: 10.0.0.3}\n", []string{`invalid grp "nope"`}, ErrFile},
		{"mdb dst family", links + "mdb:\n  - {dev: vx6, grp: 239.1.1.1, dst: 10.0.0.3}\n",
			[]string{"dst 10.0.0.3: Address family not supported by protocol (vx6 is IPv6)"}, ErrFile},
		{"mdb bad filter mode", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, filter_mode: both}\n", []string{`filter_mode "both" is not include or exclude`}, ErrFile},
		{"mdb source list without a mode", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, source_list: [192.0.2.1]}\n", []string{"source_list needs a filter_mode"}, ErrFile},
		{"mdb bad source", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, filter_mode: include, source_list: [x]}\n", []string{`invalid source_list entry "x"`}, ErrFile},
		{"mdb bad proto", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, proto: nope}\n", []string{`invalid proto "nope"`}, ErrFile},
		{"mdb bad vni", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, vni: 16777216}\n", []string{"invalid VNI 16777216"}, ErrFile},
		{"mdb src_vni on a non-external link", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, src_vni: 5}\n", []string{"src_vni is only used on external links"}, ErrFile},
		{"mdb bad op", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, op: append}\n", []string{`op "append" is not add or replace`}, ErrFile},
		{"mdb same remote added twice", links + "mdb:\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3}\n  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3, dst_port: 5}\n",
			[]string{"line 8: mdb[1]: File exists: mdb[0] (line 7) already adds remote 10.0.0.3 to this entry; use op: replace"}, ErrFile},
		{"neighbor dev required", links + "neighbors:\n  - {ip: 10.0.0.9, lladdr: 02:00:00:00:00:09}\n", []string{`neighbors[0]: "dev" is required`}, ErrFile},
		{"neighbor ip required", links + "neighbors:\n  - {dev: vx0, lladdr: 02:00:00:00:00:09}\n", []string{`"ip" is required`}, ErrFile},
		{"neighbor lladdr required", links + "neighbors:\n  - {dev: vx0, ip: 10.0.0.9}\n", []string{`"lladdr" is required`}, ErrFile},
		{"neighbor unknown dev", links + "neighbors:\n  - {dev: x, ip: 10.0.0.9, lladdr: 02:00:00:00:00:09}\n", []string{`dev "x" is not a link of this file`}, ErrFile},
		{"neighbor on gpe", links + "neighbors:\n  - {dev: gpe0, ip: 10.0.0.9, lladdr: 02:00:00:00:00:09}\n", []string{`gpe0 is a gpe link`}, ErrFile},
		{"neighbor bad ip", links + "neighbors:\n  - {dev: vx0, ip: x, lladdr: 02:00:00:00:00:09}\n", []string{`invalid ip "x"`}, ErrFile},
		{"neighbor bad lladdr", links + "neighbors:\n  - {dev: vx0, ip: 10.0.0.9, lladdr: x}\n", []string{`invalid lladdr "x"`}, ErrFile},
		{"neighbor twice", links + "neighbors:\n  - {dev: vx0, ip: 10.0.0.9, lladdr: 02:00:00:00:00:09}\n  - {dev: vx0, ip: 10.0.0.9, lladdr: 02:00:00:00:00:08}\n",
			[]string{"line 8: neighbors[1]: File exists: 10.0.0.9 on vx0 is already neighbors[0] (line 7)"}, ErrFile},
		{"all problems are reported", "links:\n  - {name: a}\n  - {name: b}\n", []string{"line 2: links[0] (a)", "line 3: links[1] (b)"}, ErrMissingVNI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseFile = %+v, want error", f)
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error\n %s\ndoes not contain (in order)\n %s", msg, w)
				}
				at += i + len(w)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
		})
	}
}

func TestLoadFileNamesThePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vtepd.yaml")
	if err := os.WriteFile(p, []byte("links:\n  - {name: a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != p || fe.Line != 2 || err.Error() != p+":2: links[0] (a): vxlan: missing virtual network identifier" {
		t.Errorf("LoadFile = %v", err)
	}
	if err := os.WriteFile(p, []byte("nope: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err == nil || !strings.HasPrefix(err.Error(), p+": yaml: unmarshal errors:") {
		t.Errorf("LoadFile = %v", err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v", err)
	}
}
