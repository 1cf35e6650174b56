package main

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vtepd/vtep/control"
)

// testVNIs: vx0 has VNI 100 with a group, 200-203 without one (a run the
// dump folds), 204 with a remote (which breaks the run), and 206 after a
// gap; vx1 has VNIs 7 and 8 with the same group (folded).
var testVNIs = []control.VNIFilter{
	{Index: 7, Ifname: "vx0", VNIs: []control.VNIEntry{
		{VNI: 100, Remote: netip.MustParseAddr("239.1.1.1")},
		{VNI: 200}, {VNI: 201}, {VNI: 202}, {VNI: 203},
		{VNI: 204, Remote: netip.MustParseAddr("10.0.0.2")},
		{VNI: 206},
	}},
	{Index: 8, Ifname: "vx1", VNIs: []control.VNIEntry{
		{VNI: 7, Remote: netip.MustParseAddr("ff0e::7")}, {VNI: 8, Remote: netip.MustParseAddr("ff0e::7")},
	}},
}

// TestVNIShowGolden: `vtep vni show` prints what `bridge vni show` prints
// for the same filters (bridge/vni.c: a 16-column name, the VNI or range
// in 15, then the group or remote; an empty line after each link), with
// runs of VNIs that share a destination folded into ranges as the
// kernel's dump folds them.
func TestVNIShowGolden(t *testing.T) {
	f := &fakeAPI{vnis: testVNIs}
	// "dev" in 16 columns, "vni" and "group/remote" in 15, two spaces
	// between; a VNI is " %-14u", a range " %u-%-14u ".
	hdr := "dev" + sp(15) + "vni" + sp(14) + "group/remote" + sp(3) + "\n"
	all := hdr +
		"vx0                100            239.1.1.1\n" +
		"                   200-203            \n" +
		"                   204            10.0.0.2\n" +
		"                   206           \n" +
		"\n" +
		"vx1" + sp(16) + "7-8" + sp(15) + "ff0e::7\n" +
		"\n"
	for _, tc := range []struct{ line, want string }{
		{"vni show", all},
		{"vni", all},
		{"vni show dev vx1", hdr + "vx1" + sp(16) + "7-8" + sp(15) + "ff0e::7\n\n"},
		{"-j vni show", `[{"ifname":"vx0","vnis":[{"vni":100,"group":"239.1.1.1"},{"vni":200,"vniEnd":203},{"vni":204,"remote":"10.0.0.2"},{"vni":206}]},` +
			`{"ifname":"vx1","vnis":[{"vni":7,"vniEnd":8,"group":"ff0e::7"}]}]` + "\n"},
		{"-j vni show dev nosuch", "[]\n"},
	} {
		code, out, errs := runCLI(t, f, tc.line)
		if code != 0 || out != tc.want {
			t.Errorf("%s: status %d, stderr %q\n got %q\nwant %q", tc.line, code, errs, out, tc.want)
		}
	}
}

// TestVNIShowStats: with -s every VNI is on its own line (the kernel does
// not fold a dump with counters), followed by its RX and TX counters.
func TestVNIShowStats(t *testing.T) {
	fs := []control.VNIFilter{{Index: 7, Ifname: "vx0", VNIs: []control.VNIEntry{
		{VNI: 100, Remote: netip.MustParseAddr("239.1.1.1"), Stats: &control.VNIStats{RXBytes: 1000, RXPkts: 10, RXDrops: 2, RXErrors: 3, TXBytes: 2000, TXPkts: 20, TXDrops: 1}},
		{VNI: 101, Remote: netip.MustParseAddr("239.1.1.1"), Stats: &control.VNIStats{}},
	}}}
	f := &fakeAPI{vnis: fs}
	pad := strings.Repeat(" ", 19)
	want := "dev" + sp(15) + "vni" + sp(14) + "group/remote" + sp(3) + "\n" +
		"vx0                100            239.1.1.1\n" +
		pad + "RX: bytes 1000 pkts 10 drops 2 errors 3 \n" +
		pad + "TX: bytes 2000 pkts 20 drops 1 errors 0 \n" +
		"                   101            239.1.1.1\n" +
		pad + "RX: bytes 0 pkts 0 drops 0 errors 0 \n" +
		pad + "TX: bytes 0 pkts 0 drops 0 errors 0 \n" +
		"\n"
	code, out, errs := runCLI(t, f, "-s vni show dev vx0")
	if code != 0 || out != want || !f.vniStats || f.gotDev != "vx0" {
		t.Errorf("-s vni show: status %d, stderr %q, stats asked %v\n got %q\nwant %q", code, errs, f.vniStats, out, want)
	}
	wantJSON := `[{"ifname":"vx0","vnis":[` +
		`{"vni":100,"group":"239.1.1.1","stats":{"rx_bytes":1000,"rx_pkts":10,"rx_drops":2,"rx_errors":3,"tx_bytes":2000,"tx_pkts":20,"tx_drops":1,"tx_errors":0}},` +
		`{"vni":101,"group":"239.1.1.1","stats":{"rx_bytes":0,"rx_pkts":0,"rx_drops":0,"rx_errors":0,"tx_bytes":0,"tx_pkts":0,"tx_drops":0,"tx_errors":0}}]}]` + "\n"
	if code, out, errs := runCLI(t, f, "-j -s vni show"); code != 0 || out != wantJSON {
		t.Errorf("-j -s vni show: status %d, stderr %q\n got %s\nwant %s", code, errs, out, wantJSON)
	}
	if _, _, _ = runCLI(t, f, "vni show"); f.vniStats {
		t.Error("vni show without -s asked for counters")
	}
}

func sp(n int) string { return strings.Repeat(" ", n) }

// TestVNIDumpFolding: the kernel's folding rule on its own: consecutive
// VNIs with equal destinations, and nothing else, make a range.
func TestVNIDumpFolding(t *testing.T) {
	g := netip.MustParseAddr("239.0.0.1")
	r := netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		in   []control.VNIEntry
		want string
	}{
		{"one VNI", []control.VNIEntry{{VNI: 5}}, "5"},
		{"run without destination", []control.VNIEntry{{VNI: 5}, {VNI: 6}, {VNI: 7}}, "5-7"},
		{"run with one group", []control.VNIEntry{{VNI: 5, Remote: g}, {VNI: 6, Remote: g}}, "5-6 group 239.0.0.1"},
		{"gap", []control.VNIEntry{{VNI: 5}, {VNI: 7}, {VNI: 8}}, "5, 7-8"},
		{"destination changes", []control.VNIEntry{{VNI: 5}, {VNI: 6, Remote: g}, {VNI: 7, Remote: g}, {VNI: 8, Remote: r}, {VNI: 9}},
			"5, 6-7 group 239.0.0.1, 8 remote 10.0.0.2, 9"},
		{"same destination again after a break", []control.VNIEntry{{VNI: 5, Remote: g}, {VNI: 6}, {VNI: 7, Remote: g}}, "5 group 239.0.0.1, 6, 7 group 239.0.0.1"},
		{"top of the VNI space", []control.VNIEntry{{VNI: 16777214}, {VNI: 16777215}}, "16777214-16777215"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := vniDump([]control.VNIFilter{{Ifname: "vx0", VNIs: tc.in}}, false)
			var got []string
			for _, v := range ds[0].VNIs {
				s := fmt.Sprint(v.VNI)
				if v.VNIEnd != 0 {
					s += fmt.Sprintf("-%d", v.VNIEnd)
				}
				if v.Group != "" {
					s += " group " + v.Group
				}
				if v.Remote != "" {
					s += " remote " + v.Remote
				}
				got = append(got, s)
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
			if n := len(vniDump([]control.VNIFilter{{Ifname: "vx0", VNIs: tc.in}}, true)[0].VNIs); n != len(tc.in) {
				t.Errorf("with counters: %d lines, want one per VNI (%d)", n, len(tc.in))
			}
		})
	}
}

// TestVNIParse: bridge's vni_modify grammar.
func TestVNIParse(t *testing.T) {
	f := &fakeAPI{}
	for _, tc := range []struct {
		line string
		want control.VNIRequest
	}{
		{"vni add dev vx0 vni 100", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 100}},
		{"vni add vni 100-110 dev vx0 group 239.1.1.1", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 100, VNIEnd: 110, Group: netip.MustParseAddr("239.1.1.1")}},
		{"vni add dev vx0 vni 7 remote fd00::2", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 7, Remote: netip.MustParseAddr("fd00::2")}},
		{"vni add dev vx0 vni 7 group ::ffff:239.1.1.1", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 7, Group: netip.MustParseAddr("239.1.1.1")}},
		{"vni add dev vx0 vni 5-5", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 5}},
		{"vni del dev vx0 vni 100-110", control.VNIRequest{Op: control.VNIDel, Dev: "vx0", VNI: 100, VNIEnd: 110}},
		{"vni delete dev vx0 vni 100 bogus", control.VNIRequest{Op: control.VNIDel, Dev: "vx0", VNI: 100}},
		// The range check is vtepd's, as it is the kernel's for bridge.
		{"vni add dev vx0 vni 16777216", control.VNIRequest{Op: control.VNIAdd, Dev: "vx0", VNI: 16777216}},
	} {
		f.vniReqs = nil
		if code, _, errs := runCLI(t, f, tc.line); code != 0 || len(f.vniReqs) != 1 {
			t.Fatalf("%s: status %d %s", tc.line, code, errs)
		}
		if got := f.vniReqs[0]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
	f.vniReqs = nil
	for _, tc := range []struct{ line, want string }{
		{"vni add dev vx0", "Device and VNI ID are required arguments.\n"},
		{"vni add vni 5", "Device and VNI ID are required arguments.\n"},
		{"vni add dev vx0 vni", "Command line is not complete. Try option \"help\"\n"},
		{"vni add dev vx0 vni 5 vni 6", "Error: duplicate \"vni\": \"6\" is the second value.\n"},
		{"vni add dev vx0 vni 5 group 239.1.1.1 remote 10.0.0.1", "Error: duplicate \"destination\": \"10.0.0.1\" is the second value.\n"},
		{"vni add dev vx0 vni 5 group 10.0.0.1",
			"Error: argument \"10.0.0.1\" is wrong: invalid group address, a group must be multicast (use \"remote\" for a unicast address)\n"},
		{"vni add dev vx0 vni 5 remote ff02::1",
			"Error: argument \"ff02::1\" is wrong: invalid remote address, a remote must be unicast (use \"group\" for a multicast address)\n"},
		{"vni add dev vx0 vni 5 remote nope", "Error: any valid address is expected rather than \"nope\".\n"},
		{"vni add dev vx0 vni x", "Error: argument \"x\" is wrong: invalid VNI, a VNI is a number from 1 to 16777215 (or a range FIRST-LAST)\n"},
		{"vni add dev vx0 vni 5-", "Error: argument \"5-\" is wrong: invalid VNI, a VNI is a number from 1 to 16777215 (or a range FIRST-LAST)\n"},
		{"vni add dev vx0 vni 99999999999", "Error: argument \"99999999999\" is wrong: invalid VNI, a VNI is a number from 1 to 16777215 (or a range FIRST-LAST)\n"},
		{"vni add dev vx0 vni 5,7", "Error: argument \"5,7\" is wrong: give one VNI or one range FIRST-LAST per command\n"},
		{"vni replace dev vx0 vni 5", "Command \"replace\" is unknown, try \"vtep vni help\".\n"},
		{"vni show dev vx0 dev vx1", "Error: duplicate \"dev\": \"vx1\" is the second value.\n"},
	} {
		if code, _, errs := runCLI(t, f, tc.line); code != 1 || errs != tc.want {
			t.Errorf("%s: status %d, stderr %q, want 1 and %q", tc.line, code, errs, tc.want)
		}
	}
	if len(f.vniReqs) != 0 {
		t.Errorf("malformed commands were sent: %+v", f.vniReqs)
	}
	// The daemon's refusals are printed as they come, with status 2 (1 for
	// an unknown device).
	f.err = control.ErrNoVNIFilter("vx0")
	if code, _, errs := runCLI(t, f, "vni add dev vx0 vni 5"); code != 2 || errs != "Error: vx0 has no VNI filter; bridge vni needs a link created with \"external vnifilter\".\n" {
		t.Errorf("refused add: %d %q", code, errs)
	}
	f.err = control.Errorf(19, "Cannot find vxlan device %q", "vx9")
	if code, _, errs := runCLI(t, f, "vni del dev vx9 vni 5"); code != 1 || errs != "Cannot find vxlan device \"vx9\"\n" {
		t.Errorf("unknown device: %d %q", code, errs)
	}
}

// FuzzVNIParse: no command line makes the vni parsers panic, and what they
// accept names a device and VNIs: a range's end is above its start or 0,
// and at most one destination of the kind its keyword asks for.
func FuzzVNIParse(f *testing.F) {
	f.Add("dev vx0 vni 100-110 group 239.1.1.1")
	f.Add("vni 7 dev vx0 remote fd00::2 bogus")
	f.Add("dev vx0 vni 5-5 group ::ffff:239.1.1.1")
	f.Add("dev vx0 vni 5,6 remote 10.0.0.1 group 239.1.1.1")
	f.Add("dev vx0 vni -1")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		for _, op := range []control.VNIOp{control.VNIAdd, control.VNIDel} {
			req, err := parseVNIFilter(op, args)
			if err != nil {
				continue
			}
			if req.Dev == "" || req.Op != op || (req.VNIEnd != 0 && req.VNIEnd == req.VNI) {
				t.Fatalf("%q: accepted %+v", line, req)
			}
			if req.Group.IsValid() && (req.Remote.IsValid() || !req.Group.IsMulticast() || req.Group.Is4In6()) {
				t.Fatalf("%q: accepted group %+v", line, req)
			}
			if req.Remote.IsValid() && (req.Remote.IsMulticast() || req.Remote.Is4In6()) {
				t.Fatalf("%q: accepted remote %+v", line, req)
			}
			// What the CLI accepts, vtepd either accepts or refuses in
			// words; it never panics on it.
			control.VNIRange(&req)
		}
		vniDump([]control.VNIFilter{{Ifname: "x", VNIs: []control.VNIEntry{{VNI: uint32(len(line))}}}}, len(line)%2 == 0)
	})
}
