package control

import (
	"net/netip"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

// TestMDBRoundTrip: add, show, get, del and flush through the API, with the
// dump attributes vxlan_mdb_entry_info_fill sets (port and VNI only when
// they differ from the link's).
func TestMDBRoundTrip(t *testing.T) {
	b, h := newTestHandler()
	li := addVX0(t, h)
	g := netip.MustParseAddr("239.1.1.1")
	dst2, dst3 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	ok(t, h, "POST", "/v1/mdb", MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Permanent: true, Dst: dst2}, nil)
	ok(t, h, "POST", "/v1/mdb", MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Permanent: true, Dst: dst3, DstPort: 4789, VNI: u32(7), Via: "eth0",
		FilterMode: "exclude", SourceList: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, nil)
	var es []MDBEntry
	ok(t, h, "GET", "/v1/mdb?dev=vx0", nil, &es)
	if len(es) != 3 {
		t.Fatalf("%d dump lines, want 3 ((S, G) blocked, then the two (*, G) remotes): %+v", len(es), es)
	}
	if e := es[0]; !e.Source.IsValid() || !e.Blocked || e.FilterMode != "include" || e.Index != li.Index {
		t.Errorf("first line %+v, want the blocked (S, G) INCLUDE remote", e)
	}
	if e := es[1]; e.Dst != dst3 || e.DstPort != 0 || e.VNI == nil || *e.VNI != 7 || e.Via != "eth0" || len(e.SourceList) != 1 {
		t.Errorf("second line %+v, want dst 10.0.0.3 vni 7 via eth0, no dst_port (it is the link's)", e)
	}
	if e := es[2]; e.Dst != dst2 || e.VNI != nil || e.FilterMode != "exclude" || e.Proto != 4 {
		t.Errorf("third line %+v", e)
	}
	ok(t, h, "GET", "/v1/mdb?dev=vx0&grp=239.1.1.1&src=192.0.2.1", nil, &es)
	if len(es) != 1 || !es[0].Blocked {
		t.Errorf("get (S, G): %+v", es)
	}
	code, e := refused(t, h, "GET", "/v1/mdb?dev=vx0&grp=239.9.9.9", nil)
	if code != 404 || e.Message != "Error: vxlan: MDB entry not found." {
		t.Errorf("get of a missing entry: %d %q", code, e.Message)
	}
	ok(t, h, "POST", "/v1/mdb", MDBRequest{Op: MDBDel, Dev: "vx0", Port: "vx0", Group: g, Dst: dst3}, nil)
	ok(t, h, "GET", "/v1/mdb", nil, &es)
	if len(es) != 1 {
		t.Errorf("after del: %+v", es)
	}
	var fr FlushResult
	ok(t, h, "POST", "/v1/mdb/flush", MDBFlushRequest{Dev: "vx0"}, &fr)
	if fr.Deleted != 1 {
		t.Errorf("flush deleted %d, want 1", fr.Deleted)
	}
	if n := len(b.calls); n != 5 {
		t.Errorf("%d backend calls, want 5 (link, 2 adds, del, flush): %v", n, b.calls)
	}
}

// TestMDBRequestRefusals: requests the kernel refuses in
// vxlan_mdb_config_init before any lookup, with its messages, never reach
// the backend, nor do those naming an interface that does not exist, which
// bridge's mdb_modify refuses first (dev, then port).
func TestMDBRequestRefusals(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	g := netip.MustParseAddr("239.1.1.1")
	dst := netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		req  MDBRequest
		want string
	}{
		{MDBRequest{Op: "append", Dev: "vx0", Port: "vx0", Group: g, Permanent: true, Dst: dst}, `Command "append" is unknown, try "bridge mdb help".`},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Group: g, Permanent: true, Dst: dst}, "Device, group address and port name are required arguments."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "eth0", Group: g, Permanent: true, Dst: dst}, "Error: vxlan: Port net device must be the VXLAN net device."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "nope", Group: g, Permanent: true, Dst: dst}, `Cannot find device "nope"`},
		{MDBRequest{Op: MDBDel, Dev: "vx9", Port: "nope", Group: g, Dst: dst}, `Cannot find device "vx9"`},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Dst: dst}, "Error: vxlan: MDB entry must be permanent."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Permanent: true, VID: 10, Dst: dst}, "Error: vxlan: VID must not be specified."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", GroupMAC: true, Permanent: true, Dst: dst}, "Error: vxlan: Group address must be an IPv4 / IPv6 address."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Permanent: true}, "Error: vxlan: Missing MDBA_SET_ENTRY_ATTRS attribute."},
		{MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: g, Permanent: true, Dst: dst, VNI: u32(1 << 24)}, "Error: integer out of range."},
	} {
		_, e := refused(t, h, "POST", "/v1/mdb", tc.req)
		if e.Message != tc.want {
			t.Errorf("%+v: %q, want %q", tc.req, e.Message, tc.want)
		}
	}
	if len(b.calls) != 1 { // the link
		t.Errorf("refused requests reached the backend: %v", b.calls)
	}
	// Checks of the driver itself come back with its words.
	_, e := refused(t, h, "POST", "/v1/mdb", MDBRequest{Op: MDBAdd, Dev: "vx0", Port: "vx0", Group: netip.MustParseAddr("10.1.1.1"), Permanent: true, Dst: dst})
	if e.Message != "Error: vxlan: Group address is not multicast." {
		t.Errorf("unicast group: %q", e.Message)
	}
	_, e = refused(t, h, "POST", "/v1/mdb/flush", MDBFlushRequest{Dev: "vx0", Permanent: new(bool)})
	if e.Message != "Error: vxlan: Only permanent MDB entries are supported." {
		t.Errorf("flush nopermanent: %q", e.Message)
	}
	_, e = refused(t, h, "POST", "/v1/mdb/flush", MDBFlushRequest{Dev: "vx0", Port: "eth0"})
	if e.Message != "Error: vxlan: Invalid port net device." {
		t.Errorf("flush port eth0: %q", e.Message)
	}
}
