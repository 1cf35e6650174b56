package control

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// addVXF adds vxf, a vnifilter link with a lower device (to join groups
// on).
func addVXF(t *testing.T, h http.Handler) LinkInfo {
	t.Helper()
	var li LinkInfo
	ok(t, h, "POST", "/v1/links", LinkAddRequest{Name: "vxf", Args: strings.Fields("external vnifilter dev eth0 dstport 4790")}, &li)
	return li
}

// TestVNIRoundTrip: bridge vni add (one VNI, a range, a group, a remote),
// show with and without counters, and del through the handler.
func TestVNIRoundTrip(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	li := addVXF(t, h)
	g := netip.MustParseAddr("239.1.1.1")
	r := netip.MustParseAddr("10.0.0.9")
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 100, Group: g}, nil)
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 200, VNIEnd: 203}, nil)
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 300, Remote: r}, nil)
	// Adding a VNI again with the same destination changes nothing.
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 100, Group: g}, nil)
	var fs []VNIFilter
	ok(t, h, "GET", "/v1/vni", nil, &fs)
	if len(fs) != 1 || fs[0].Ifname != "vxf" || fs[0].Index != li.Index || len(fs[0].VNIs) != 6 {
		t.Fatalf("show = %+v, want vxf with 6 VNIs (vx0 has no filter)", fs)
	}
	want := []VNIEntry{{VNI: 100, Remote: g}, {VNI: 200}, {VNI: 201}, {VNI: 202}, {VNI: 203}, {VNI: 300, Remote: r}}
	for i, e := range fs[0].VNIs {
		if e != want[i] {
			t.Errorf("VNI %d = %+v, want %+v", i, e, want[i])
		}
	}
	ok(t, h, "GET", "/v1/vni?dev=vxf&stats=1", nil, &fs)
	if s := fs[0].VNIs[0].Stats; s == nil || s.RXPkts != 100 || s.TXBytes != 10000 {
		t.Errorf("stats of VNI 100 = %+v", s)
	}
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIDel, Dev: "vxf", VNI: 201, VNIEnd: 203}, nil)
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIDel, Dev: "vxf", VNI: 100}, nil)
	fs = nil // json.Unmarshal would keep fields of the old elements
	ok(t, h, "GET", "/v1/vni?dev=vxf", nil, &fs)
	if len(fs) != 1 || len(fs[0].VNIs) != 2 || fs[0].VNIs[0].VNI != 200 || fs[0].VNIs[1].VNI != 300 || fs[0].VNIs[0].Stats != nil {
		t.Errorf("after del: %+v", fs)
	}
	if n := len(b.calls); n != 8 {
		t.Errorf("%d backend calls, want 8 (2 links, 4 adds, 2 dels): %v", n, b.calls)
	}
}

// TestVNIRefusals: malformed requests never reach the backend, and those
// the backend refuses (no vnifilter, a VNI not in the filter) change
// nothing. Every message says what was wrong.
func TestVNIRefusals(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	addVXF(t, h)
	g := netip.MustParseAddr("239.1.1.1")
	for _, tc := range []struct {
		req  VNIRequest
		code int
		want string
	}{
		{VNIRequest{Op: "replace", Dev: "vxf", VNI: 1}, 400, `Command "replace" is unknown, try "bridge vni help".`},
		{VNIRequest{Op: VNIAdd, VNI: 1}, 400, "Device and VNI ID are required arguments."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1 << 24}, 400, "Error: VNI 16777216 is out of range; a VNI must be lower than 16777216."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 5, VNIEnd: 1 << 24}, 400, "Error: VNI 16777216 is out of range; a VNI must be lower than 16777216."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 0}, 400, "Error: VNI 0 is not a VNI the filter can hold; give a VNI from 1 to 16777215."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 110, VNIEnd: 100}, 400, "Error: VNI range 110-100 is empty; write the lower VNI first."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1, VNIEnd: 5000}, 422, "Error: VNI range 1-5000 holds 5000 VNIs; vtepd takes at most 4096 in one command, split it."},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1, Group: netip.MustParseAddr("10.0.0.1")}, 400,
			`Error: argument "10.0.0.1" is wrong: invalid group address, a group must be multicast (use "remote" for a unicast address)`},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1, Remote: g}, 400,
			`Error: argument "239.1.1.1" is wrong: invalid remote address, a remote must be unicast (use "group" for a multicast address)`},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1, Group: g, Remote: netip.MustParseAddr("10.0.0.1")}, 400, `Error: duplicate "destination": "10.0.0.1" is the second value.`},
		{VNIRequest{Op: VNIAdd, Dev: "vx9", VNI: 1}, 404, `Cannot find vxlan device "vx9"`},
	} {
		code, e := refused(t, h, "POST", "/v1/vni", tc.req)
		if code != tc.code || e.Message != tc.want {
			t.Errorf("%+v: %d %q, want %d %q", tc.req, code, e.Message, tc.code, tc.want)
		}
	}
	if len(b.calls) != 2 { // the links
		t.Errorf("malformed requests reached the backend: %v", b.calls)
	}

	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 100, VNIEnd: 102, Group: g}, nil)
	before := b.state()
	var fsBefore []VNIFilter
	ok(t, h, "GET", "/v1/vni", nil, &fsBefore)
	for _, tc := range []struct {
		req  VNIRequest
		code int
		want string
	}{
		{VNIRequest{Op: VNIAdd, Dev: "vx0", VNI: 100}, 422, `Error: vx0 has no VNI filter; bridge vni needs a link created with "external vnifilter".`},
		{VNIRequest{Op: VNIDel, Dev: "vxf", VNI: 101, VNIEnd: 103}, 404, `Error: VNI 103 is not in the VNI filter of vxf; "vtep vni show dev vxf" lists it.`},
		{VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 7, Remote: netip.MustParseAddr("fd00::1")}, 422,
			"Error: fd00::1 is not an address of vxf's family; it takes IPv4 groups and remotes."},
	} {
		code, e := refused(t, h, "POST", "/v1/vni", tc.req)
		if code != tc.code || e.Message != tc.want {
			t.Errorf("%+v: %d %q, want %d %q", tc.req, code, e.Message, tc.code, tc.want)
		}
	}
	var fs []VNIFilter
	ok(t, h, "GET", "/v1/vni", nil, &fs)
	if len(fs) != 1 || len(fs[0].VNIs) != len(fsBefore[0].VNIs) || b.state() != before {
		t.Errorf("refused requests changed the filter: %+v", fs)
	}
	code, e := refused(t, h, "GET", "/v1/vni?dev=vx0", nil)
	if code != 422 || !strings.Contains(e.Message, "vx0 has no VNI filter") {
		t.Errorf("show dev vx0: %d %q", code, e.Message)
	}
}

// TestVNIRequireLowerDeviceForGroup: a group needs the link's dev to join
// it on (vxlan_process_vni_filter).
func TestVNIRequireLowerDeviceForGroup(t *testing.T) {
	_, h := newTestHandler()
	ok(t, h, "POST", "/v1/links", LinkAddRequest{Name: "vxn", Args: strings.Fields("external vnifilter dstport 4791")}, nil)
	_, e := refused(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxn", VNI: 5, Group: netip.MustParseAddr("239.1.1.1")})
	if e.Message != `Error: Local interface required for multicast remote group; set the link's "dev".` {
		t.Errorf("group without dev: %q", e.Message)
	}
	ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxn", VNI: 5, Remote: netip.MustParseAddr("10.0.0.2")}, nil)
}

// TestClientVNI: the Go client's requests and answers over a real socket.
func TestClientVNI(t *testing.T) {
	b, c, _ := serveUnix(t)
	ctx := context.Background()
	if _, err := c.AddLink(ctx, LinkAddRequest{Name: "vxf", Args: strings.Fields("external vnifilter dev eth0 dstport 4790")}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateVNI(ctx, VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 10, VNIEnd: 11, Group: netip.MustParseAddr("ff0e::1")}); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6 group on an IPv4 link: %v", err)
	}
	if err := c.UpdateVNI(ctx, VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 10, VNIEnd: 11, Group: netip.MustParseAddr("239.0.0.10")}); err != nil {
		t.Fatal(err)
	}
	fs, err := c.VNIFilters(ctx, "vxf", true)
	if err != nil || len(fs) != 1 || len(fs[0].VNIs) != 2 || fs[0].VNIs[1].Stats == nil || fs[0].VNIs[1].Stats.TXPkts != 11 {
		t.Fatalf("VNIFilters = %+v, %v", fs, err)
	}
	if fs, err = c.VNIFilters(ctx, "", false); err != nil || len(fs) != 1 || fs[0].VNIs[0].Stats != nil || fs[0].VNIs[0].Remote != netip.MustParseAddr("239.0.0.10") {
		t.Errorf("VNIFilters without stats = %+v, %v", fs, err)
	}
	if err := c.UpdateVNI(ctx, VNIRequest{Op: VNIDel, Dev: "vxf", VNI: 12}); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("del of a VNI not in the filter: %v", err)
	}
	if err := c.UpdateVNI(ctx, VNIRequest{Op: VNIDel, Dev: "vxf", VNI: 10, VNIEnd: 11}); err != nil {
		t.Fatal(err)
	}
	if fs, err = c.VNIFilters(ctx, "", false); err != nil || len(fs) != 0 {
		t.Errorf("after del: %+v, %v", fs, err)
	}
	if _, err := c.VNIFilters(ctx, "vx9", false); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("show dev vx9: %v", err)
	}
	if n := len(b.calls); n != 5 { // the link, then 4 updates (the backend refuses 2)
		t.Errorf("backend calls: %q", b.calls)
	}
}
