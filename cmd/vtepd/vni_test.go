package main

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/header"
)

// vniLines lists the VNI filters as "dev vni remote" lines.
func vniLines(t *testing.T, b control.Backend, dev string, stats bool) []string {
	t.Helper()
	fs, err := b.VNIFilters(context.Background(), dev, stats)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		for _, e := range f.VNIs {
			s := f.Ifname + " " + header.VNI(e.VNI).String()
			if e.Remote.IsValid() {
				s += " " + e.Remote.String()
			}
			if stats != (e.Stats != nil) {
				t.Errorf("%s: stats %+v, asked %v", s, e.Stats, stats)
			}
			out = append(out, s)
		}
	}
	return out
}

// TestVNIFilter drives `bridge vni` through the daemon's backend: adds of
// VNIs and ranges with a group and a remote reach the datapath and the
// FDB (the remote's all-zeros entry), dels take them out again, and
// refusals (no vnifilter, a VNI not in the filter, a VNI another link
// has) leave everything as it was, undoing the part of a range the
// datapath took before it refused a VNI.
func TestVNIFilter(t *testing.T) {
	ctx := context.Background()
	_, _, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vxf", "external vnifilter dev eth0 dstport 4790"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dstport 4789"), false); err != nil {
		t.Fatal(err)
	}
	g, r := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("10.0.0.9")
	for _, u := range []struct {
		first, last header.VNI
		remote      netip.Addr
	}{{100, 100, g}, {200, 202, netip.Addr{}}, {300, 300, r}, {100, 100, g}} {
		if err := b.UpdateVNI(ctx, control.VNIAdd, "vxf", u.first, u.last, u.remote); err != nil {
			t.Fatalf("add %d-%d %v: %v", u.first, u.last, u.remote, err)
		}
	}
	want := []string{"vxf 100 239.1.1.1", "vxf 200", "vxf 201", "vxf 202", "vxf 300 10.0.0.9"}
	if got := vniLines(t, b, "", false); !slices.Equal(got, want) {
		t.Errorf("vni show = %q\nwant %q", got, want)
	}
	if got := vniLines(t, b, "vxf", true); !slices.Equal(got, want) {
		t.Errorf("-s vni show dev vxf = %q\nwant %q", got, want)
	}
	fdbWant := []string{"00:00:00:00:00:00 dst 10.0.0.9 vni 300 src_vni 300 self permanent", "00:00:00:00:00:00 dst 239.1.1.1 vni 100 src_vni 100 self permanent"}
	if got := fdbLines(t, b, "vxf"); !sameSet(got, fdbWant) {
		t.Errorf("fdb = %q\nwant %q", got, fdbWant)
	}

	// A second vnifilter link, on another port.
	if _, err := b.AddLink(ctx, parseLink(t, "vxg", "external vnifilter dev eth0 dstport 4791"), true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op          control.VNIOp
		dev         string
		first, last header.VNI
		remote      netip.Addr
		want        string
	}{
		{control.VNIAdd, "vx0", 5, 5, netip.Addr{}, `Error: vx0 has no VNI filter; bridge vni needs a link created with "external vnifilter".`},
		{control.VNIDel, "vxf", 201, 203, netip.Addr{}, `Error: VNI 203 is not in the VNI filter of vxf; "vtep vni show dev vxf" lists it.`},
		{control.VNIAdd, "vxf", 7, 7, netip.MustParseAddr("fd00::1"), "Error: fd00::1 is not an address of vxf's family; it takes IPv4 groups and remotes."},
		{control.VNIAdd, "vx9", 7, 7, netip.Addr{}, `Cannot find device "vx9"`},
		{control.VNIDel, "eth0", 7, 7, netip.Addr{}, `Error: eth0 is not a vxlan device of vtepd; bridge vni works on vtep links created with "external vnifilter".`},
	} {
		err := b.UpdateVNI(ctx, tc.op, tc.dev, tc.first, tc.last, tc.remote)
		if e := control.ErrorOf(err); e == nil || e.Message != tc.want {
			t.Errorf("%s %s %d-%d: %v, want %q", tc.op, tc.dev, tc.first, tc.last, err, tc.want)
		}
	}
	if got := vniLines(t, b, "", false); !slices.Equal(got, want) {
		t.Errorf("refusals changed the filter: %q", got)
	}
	if _, err := b.VNIFilters(ctx, "vx0", false); control.ErrorOf(err).Message != `Error: vx0 has no VNI filter; bridge vni needs a link created with "external vnifilter".` {
		t.Errorf("show dev vx0: %v", err)
	}

	// Links on different ports may share a VNI.
	if err := b.UpdateVNI(ctx, control.VNIAdd, "vxg", 401, 401, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	// An add the datapath refuses part-way is undone: vxm's FDB takes two
	// entries, so the third VNI's all-zeros entry does not fit.
	if _, err := b.AddLink(ctx, parseLink(t, "vxm", "external vnifilter dev eth0 dstport 4792 maxaddress 2"), true); err != nil {
		t.Fatal(err)
	}
	err := b.UpdateVNI(ctx, control.VNIAdd, "vxm", 1, 3, r)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("add 1-3 remote %v with maxaddress 2: %v, want ENOSPC", r, err)
	}
	if got := vniLines(t, b, "vxm", false); len(got) != 0 {
		t.Errorf("a refused range left VNIs behind: %q", got)
	}
	if got := fdbLines(t, b, "vxm"); len(got) != 0 {
		t.Errorf("a refused range left FDB entries behind: %q", got)
	}

	// del of a range, then of the rest.
	if err := b.UpdateVNI(ctx, control.VNIDel, "vxf", 200, 202, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateVNI(ctx, control.VNIDel, "vxf", 300, 300, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if got := vniLines(t, b, "vxf", false); !slices.Equal(got, []string{"vxf 100 239.1.1.1"}) {
		t.Errorf("after del: %q", got)
	}
	if got := fdbLines(t, b, "vxf"); !sameSet(got, fdbWant[1:]) {
		t.Errorf("after del, fdb = %q", got)
	}
	// The dump lists links by index, without those whose filter is empty.
	if err := b.UpdateVNI(ctx, control.VNIDel, "vxf", 100, 100, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if got := vniLines(t, b, "", false); !slices.Equal(got, []string{"vxg 401"}) {
		t.Errorf("after emptying vxf: %q", got)
	}
}

// sameSet reports whether a and b hold the same strings in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestVNIAddReplacesGroup: `bridge vni add` of a VNI already in the filter
// with another destination replaces it (vxlan_vni_update_group): the VNI
// shows the new remote, and its all-zeros entry has only that one.
func TestVNIAddReplacesGroup(t *testing.T) {
	ctx := context.Background()
	_, _, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vxf", "external vnifilter dev eth0 dstport 4790"), true); err != nil {
		t.Fatal(err)
	}
	g, r := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("10.0.0.9")
	for _, u := range []struct {
		first, last header.VNI
		remote      netip.Addr
	}{{100, 100, g}, {100, 101, r}} {
		if err := b.UpdateVNI(ctx, control.VNIAdd, "vxf", u.first, u.last, u.remote); err != nil {
			t.Fatalf("add %d-%d %v: %v", u.first, u.last, u.remote, err)
		}
	}
	want := []string{"vxf 100 10.0.0.9", "vxf 101 10.0.0.9"}
	if got := vniLines(t, b, "vxf", false); !slices.Equal(got, want) {
		t.Errorf("vni show = %q\nwant %q", got, want)
	}
	fdbWant := []string{"00:00:00:00:00:00 dst 10.0.0.9 vni 100 src_vni 100 self permanent", "00:00:00:00:00:00 dst 10.0.0.9 vni 101 src_vni 101 self permanent"}
	if got := fdbLines(t, b, "vxf"); !sameSet(got, fdbWant) {
		t.Errorf("fdb = %q\nwant %q", got, fdbWant)
	}
}
