package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vtepd/vtep/control"
)

var testMDB = []control.MDBEntry{
	{Index: 7, Dev: "vx0", Group: netip.MustParseAddr("239.2.2.2"), Source: netip.MustParseAddr("192.0.2.1"), Blocked: true,
		FilterMode: "include", Proto: 4, Dst: netip.MustParseAddr("10.0.0.2")},
	{Index: 7, Dev: "vx0", Group: netip.MustParseAddr("239.2.2.2"), FilterMode: "exclude",
		SourceList: []netip.Addr{netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.1")}, Proto: 186, Dst: netip.MustParseAddr("10.0.0.2")},
	{Index: 7, Dev: "vx0", Group: netip.MustParseAddr("239.1.1.1"), FilterMode: "exclude", Proto: 4, Dst: netip.MustParseAddr("10.0.0.3"),
		DstPort: 1234, VNI: u32(2000), Ifindex: 2, Via: "ul0"},
}

// TestMDBShowGolden: `vtep mdb show` prints what bridge(8) prints for the
// same kernel entries (bridge/mdb.c print_mdb_entry: filter mode, source
// list and protocol with -d, flags, then dst, dst_port, vni, src_vni and
// via; -j wraps the entries in {"mdb": [...], "router": {}}).
func TestMDBShowGolden(t *testing.T) {
	f := &fakeAPI{mdb: testMDB}
	for _, tc := range []struct{ line, want string }{
		{"mdb show", `dev vx0 port vx0 grp 239.2.2.2 src 192.0.2.1 permanent blocked dst 10.0.0.2
dev vx0 port vx0 grp 239.2.2.2 permanent dst 10.0.0.2
dev vx0 port vx0 grp 239.1.1.1 permanent dst 10.0.0.3 dst_port 1234 vni 2000 via ul0
`},
		{"-d -s mdb show dev vx0", `dev vx0 port vx0 grp 239.2.2.2 src 192.0.2.1 permanent filter_mode include proto static blocked dst 10.0.0.2    0.00
dev vx0 port vx0 grp 239.2.2.2 permanent filter_mode exclude source_list 192.0.2.9/0.00,192.0.2.1/0.00 proto bgp dst 10.0.0.2    0.00
dev vx0 port vx0 grp 239.1.1.1 permanent filter_mode exclude proto static dst 10.0.0.3 dst_port 1234 vni 2000 via ul0    0.00
`},
		{"-j mdb", `[{"mdb":[{"index":7,"dev":"vx0","port":"vx0","grp":"239.2.2.2","src":"192.0.2.1","state":"permanent","flags":["blocked"],"dst":"10.0.0.2"},{"index":7,"dev":"vx0","port":"vx0","grp":"239.2.2.2","state":"permanent","flags":[],"dst":"10.0.0.2"},{"index":7,"dev":"vx0","port":"vx0","grp":"239.1.1.1","state":"permanent","flags":[],"dst":"10.0.0.3","dst_port":1234,"vni":2000,"via":"ul0"}],"router":{}}]
`},
		{"-j -d mdb get dev vx0 grp 239.2.2.2 src 192.0.2.1", `[{"index":7,"dev":"vx0","port":"vx0","grp":"239.2.2.2","src":"192.0.2.1","state":"permanent","filter_mode":"include","protocol":"static","flags":["blocked"],"dst":"10.0.0.2"},{"index":7,"dev":"vx0","port":"vx0","grp":"239.2.2.2","state":"permanent","filter_mode":"exclude","source_list":[{"address":"192.0.2.9","timer":"0.00"},{"address":"192.0.2.1","timer":"0.00"}],"protocol":"bgp","flags":[],"dst":"10.0.0.2"},{"index":7,"dev":"vx0","port":"vx0","grp":"239.1.1.1","state":"permanent","filter_mode":"exclude","protocol":"static","flags":[],"dst":"10.0.0.3","dst_port":1234,"vni":2000,"via":"ul0"}]
`},
	} {
		code, out, errs := runCLI(t, f, tc.line)
		if code != 0 || out != tc.want {
			t.Errorf("%s: status %d, stderr %q\n got %s\nwant %s", tc.line, code, errs, out, tc.want)
		}
	}
}

// TestMDBParse: bridge's mdb_modify and mdb_flush grammar.
func TestMDBParse(t *testing.T) {
	f := &fakeAPI{}
	for _, tc := range []struct {
		line string
		want control.MDBRequest
	}{
		{"mdb add dev vx0 port vx0 grp 239.1.1.1 permanent dst 10.0.0.2",
			control.MDBRequest{Op: control.MDBAdd, Dev: "vx0", Port: "vx0", Group: netip.MustParseAddr("239.1.1.1"), Permanent: true, Dst: netip.MustParseAddr("10.0.0.2")}},
		{"mdb replace dev vx0 port vx0 grp ff0e::1 src 2001:db8::1 permanent proto bgp dst fd00::2 dst_port 4789 vni 0x10 src_vni 20 via ul0",
			control.MDBRequest{Op: control.MDBReplace, Dev: "vx0", Port: "vx0", Group: netip.MustParseAddr("ff0e::1"), Source: netip.MustParseAddr("2001:db8::1"),
				Permanent: true, Proto: 186, Dst: netip.MustParseAddr("fd00::2"), DstPort: 4789, VNI: u32(16), SrcVNI: u32(20), Via: "ul0"}},
		{"mdb del dev vx0 port vx0 grp 239.1.1.1 permanent filter_mode exclude source_list 192.0.2.1,192.0.2.2 dst 10.0.0.2",
			control.MDBRequest{Op: control.MDBDel, Dev: "vx0", Port: "vx0", Group: netip.MustParseAddr("239.1.1.1"), FilterMode: "exclude",
				SourceList: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}, Dst: netip.MustParseAddr("10.0.0.2")}},
		{"mdb add dev vx0 port vx0 grp 01:00:5e:01:01:01 permanent dst 10.0.0.2",
			control.MDBRequest{Op: control.MDBAdd, Dev: "vx0", Port: "vx0", GroupMAC: true, Permanent: true, Dst: netip.MustParseAddr("10.0.0.2")}},
	} {
		f.mdbReqs = nil
		if code, _, errs := runCLI(t, f, tc.line); code != 0 || len(f.mdbReqs) != 1 {
			t.Fatalf("%s: status %d %s", tc.line, code, errs)
		}
		if got := f.mdbReqs[0]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{"mdb add dev vx0 grp 239.1.1.1 permanent dst 10.0.0.2", "Device, group address and port name are required arguments.\n"},
		{"mdb add dev vx0 port vx0 grp 239.1.1.1 dst", "Command line is not complete. Try option \"help\"\n"},
		{"mdb add dev vx0 port vx0 grp nope dst 10.0.0.2", "Invalid address \"nope\"\n"},
		{"mdb add dev vx0 port vx0 grp 239.1.1.1 filter_mode any dst 10.0.0.2", "Invalid filter mode \"any\"\n"},
		{"mdb add dev vx0 port vx0 grp 239.1.1.1 source_list 1.1.1.1,x dst 10.0.0.2", "Invalid source entry \"x\" in source list\n"},
		{"mdb flush dev vx0 bogus", "bridge mdb flush: unknown command \"bogus\"?\n"},
		{"mdb get dev vx0", "Device and group address are required arguments.\n"},
	} {
		if code, _, errs := runCLI(t, f, tc.line); code != 1 || errs != tc.want {
			t.Errorf("%s: status %d, stderr %q, want 1 and %q", tc.line, code, errs, tc.want)
		}
	}
	f.mdbFl = nil
	if code, _, errs := runCLI(t, f, "mdb flush dev vx0 port vx0 src_vni 5 proto zebra nopermanent dst 10.0.0.2 dst_port 99 vni 7"); code != 0 {
		t.Fatalf("flush: %d %s", code, errs)
	}
	no := false
	want := control.MDBFlushRequest{Dev: "vx0", Port: "vx0", SrcVNI: 5, Proto: 11, Permanent: &no, Dst: netip.MustParseAddr("10.0.0.2"), DstPort: 99, VNI: 7}
	if got := f.mdbFl[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("flush:\n got %+v\nwant %+v", got, want)
	}
}

// FuzzMDBParse: no command line makes the parsers panic.
func FuzzMDBParse(f *testing.F) {
	f.Add("add dev vx0 port vx0 grp 239.1.1.1 permanent filter_mode exclude source_list 1.1.1.1,2.2.2.2 dst 10.0.0.2 vni 5")
	f.Add("flush dev vx0 nopermanent dst_port 4789")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if len(args) == 0 {
			return
		}
		parseMDB(control.MDBAdd, args[1:])
		parseMDBFlush(args[1:])
	})
}
