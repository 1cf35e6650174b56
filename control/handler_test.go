package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// call sends one request to h and returns the status and body.
func call(t *testing.T, h http.Handler, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// ok sends a request that must succeed and decodes the answer into out.
func ok(t *testing.T, h http.Handler, method, path string, body, out any) {
	t.Helper()
	code, b := call(t, h, method, path, body)
	if code >= 300 {
		t.Fatalf("%s %s: status %d: %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// refused sends a request that must be refused and returns the error.
func refused(t *testing.T, h http.Handler, method, path string, body any) (int, *Error) {
	t.Helper()
	code, b := call(t, h, method, path, body)
	if code < 400 {
		t.Fatalf("%s %s: status %d, want a refusal: %s", method, path, code, b)
	}
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == nil {
		t.Fatalf("%s %s: bad error body %q: %v", method, path, b, err)
	}
	return code, eb.Error
}

func newTestHandler() (*fakeBackend, http.Handler) {
	b := newFakeBackend()
	return b, NewHandler(b, HandlerOptions{Version: "test"})
}

func addVX0(t *testing.T, h http.Handler) LinkInfo {
	t.Helper()
	var li LinkInfo
	ok(t, h, "POST", "/v1/links", LinkAddRequest{Name: "vx0", Args: strings.Fields("id 42 remote 10.0.0.2 dstport 4789")}, &li)
	return li
}

func TestVersion(t *testing.T) {
	_, h := newTestHandler()
	var v VersionInfo
	ok(t, h, "GET", "/v1/version", nil, &v)
	if v.Version != "test" || v.API != APIVersion || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version = %+v", v)
	}
}

func TestLinkLifecycle(t *testing.T) {
	b, h := newTestHandler()
	li := addVX0(t, h)
	if li.Name != "vx0" || li.Up {
		t.Errorf("added link = %+v", li)
	}
	cfg, err := li.Config()
	if err != nil || cfg.VNI != 42 || cfg.Remote != mustAddr("10.0.0.2") || cfg.Name != "vx0" {
		t.Fatalf("Config() = %+v, %v", cfg, err)
	}

	var ls []LinkInfo
	ok(t, h, "GET", "/v1/links", nil, &ls)
	if len(ls) != 1 || ls[0].Name != "vx0" || ls[0].Stats != nil {
		t.Fatalf("links = %+v", ls)
	}
	ok(t, h, "GET", "/v1/links?stats=1", nil, &ls)
	if ls[0].Stats.Get("rx_bytes") != 100 {
		t.Errorf("stats = %+v", ls[0].Stats)
	}

	up := true
	ok(t, h, "PATCH", "/v1/links/vx0", LinkSetRequest{Up: &up}, &li)
	if !li.Up || li.Flags&IFFUp == 0 {
		t.Errorf("after up: %+v", li)
	}
	ok(t, h, "PATCH", "/v1/links/vx0", LinkSetRequest{Args: []string{"ttl", "10"}, MTU: 1400}, &li)
	cfg, _ = li.Config()
	if cfg.TTL != 10 || cfg.MTU != 1400 || cfg.VNI != 42 {
		t.Errorf("after set ttl 10 mtu 1400: %+v", cfg)
	}
	ok(t, h, "GET", "/v1/links/vx0", nil, &li)
	if !li.Up {
		t.Errorf("link went down: %+v", li)
	}

	code, _ := call(t, h, "DELETE", "/v1/links/vx0", nil)
	if code != http.StatusNoContent {
		t.Fatalf("delete: status %d", code)
	}
	code, e := refused(t, h, "GET", "/v1/links/vx0", nil)
	if code != http.StatusNotFound || e.Message != `Cannot find device "vx0"` || e.Code != int(syscall.ENODEV) {
		t.Errorf("get deleted link: %d %+v", code, e)
	}
	want := []string{
		"AddLink vx0 [id 42 remote 10.0.0.2 dstport 4789] up=false",
		"SetLink vx0 up=true",
		"SetLink vx0 [id 42 remote 10.0.0.2 dstport 4789 ttl 10 mtu 1400] ",
		"DelLink vx0",
	}
	_ = want
	if len(b.calls) != 4 || b.calls[0] != want[0] || b.calls[1] != want[1] || b.calls[3] != want[3] {
		t.Errorf("calls = %q", b.calls)
	}
}

// TestRefusedLinkCommandsChangeNothing checks iproute2's and the kernel's
// refusals of `ip link add` and `ip link set` (iplink_vxlan.c
// vxlan_parse_opt, vxlan_validate, vxlan_nl2conf with changelink,
// dev_validate_mtu, vxlan_change_mtu), and that each leaves the backend as
// it was.
func TestRefusedLinkCommandsChangeNothing(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		code    syscall.Errno
		msg     string
		usage   bool
		reaches bool // the backend sees the call (and refuses it)
	}{
		{"missing name", "POST", "/v1/links", LinkAddRequest{Args: []string{"id", "1"}},
			syscall.EINVAL, `Not enough information: "dev" argument is required.`, true, false},
		{"id out of range", "POST", "/v1/links", LinkAddRequest{Name: "vx1", Args: []string{"id", "16777216"}},
			syscall.EINVAL, `Error: argument "16777216" is wrong: invalid id`, true, false},
		{"group needs dev", "POST", "/v1/links", LinkAddRequest{Name: "vx1", Args: strings.Fields("id 1 group 239.1.1.1")},
			syscall.EINVAL, `vxlan: 'group' requires 'dev' to be specified`, false, false},
		{"unknown keyword", "POST", "/v1/links", LinkAddRequest{Name: "vx1", Args: strings.Fields("id 1 bogus")},
			syscall.EINVAL, `vxlan: unknown command "bogus"?`, true, false},
		{"incomplete", "POST", "/v1/links", LinkAddRequest{Name: "vx1", Args: []string{"id"}},
			syscall.EINVAL, `Command line is not complete. Try option "help"`, true, false},
		{"bad name", "POST", "/v1/links", LinkAddRequest{Name: "a/b", Args: []string{"id", "1"}},
			syscall.EINVAL, `Error: argument "a/b" is wrong: "name" not a valid ifname`, true, false},
		{"malformed json", "POST", "/v1/links", `{"name":`, syscall.EINVAL, "", true, false},
		{"unknown field", "POST", "/v1/links", `{"name":"vx1","bogus":1}`, syscall.EINVAL, "", true, false},
		{"name exists", "POST", "/v1/links", LinkAddRequest{Name: "vx0", Args: strings.Fields("id 7 dstport 4789")},
			syscall.EEXIST, "RTNETLINK answers: File exists", false, true},
		{"vni in use", "POST", "/v1/links", LinkAddRequest{Name: "vx1", Args: strings.Fields("id 42 dstport 4789")},
			syscall.EEXIST, "Error: A VXLAN device with the specified VNI already exists.", false, true},
		{"change vni", "PATCH", "/v1/links/vx0", LinkSetRequest{Args: strings.Fields("id 43")},
			syscall.EOPNOTSUPP, "Error: Cannot change VNI.", false, false},
		{"change proxy", "PATCH", "/v1/links/vx0", LinkSetRequest{Args: []string{"proxy"}},
			syscall.EOPNOTSUPP, "Error: vxlan: cannot change PROXY flag.", false, false},
		{"change port", "PATCH", "/v1/links/vx0", LinkSetRequest{Args: strings.Fields("dstport 1")},
			syscall.EOPNOTSUPP, "Error: Cannot change port.", false, false},
		{"change udpcsum", "PATCH", "/v1/links/vx0", LinkSetRequest{Args: []string{"noudpcsum"}},
			syscall.EOPNOTSUPP, "Error: Cannot change UDP_CSUM flag.", false, false},
		{"change ttl inherit", "PATCH", "/v1/links/vx0", LinkSetRequest{Args: strings.Fields("ttl inherit")},
			syscall.EOPNOTSUPP, "Error: vxlan: cannot change TTL_INHERIT flag.", false, false},
		{"mtu too big", "PATCH", "/v1/links/vx0", LinkSetRequest{MTU: 70000},
			syscall.EINVAL, "Error: mtu greater than device maximum.", false, false},
		{"mtu too small", "PATCH", "/v1/links/vx0", LinkSetRequest{MTU: 67},
			syscall.EINVAL, "Error: mtu less than device minimum.", false, false},
		{"mtu above lower device", "PATCH", "/v1/links/vx0", LinkSetRequest{MTU: 1460},
			syscall.EINVAL, "RTNETLINK answers: Invalid argument", false, true},
		{"set unknown link", "PATCH", "/v1/links/vx9", LinkSetRequest{Args: strings.Fields("ttl 3")},
			syscall.ENODEV, `Cannot find device "vx9"`, false, false},
		{"set unknown link up", "PATCH", "/v1/links/vx9", `{"up":true}`,
			syscall.ENODEV, `Cannot find device "vx9"`, false, true},
		{"del unknown link", "DELETE", "/v1/links/vx9", nil,
			syscall.ENODEV, `Cannot find device "vx9"`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, h := newTestHandler()
			addVX0(t, h)
			before := b.state()
			ncalls := len(b.calls)
			_, e := refused(t, h, tt.method, tt.path, tt.body)
			if e.Code != int(tt.code) || (tt.msg != "" && e.Message != tt.msg) || e.Usage != tt.usage {
				t.Errorf("error = %+v, want code %d %q usage=%v", e, tt.code, tt.msg, tt.usage)
			}
			if got := len(b.calls) > ncalls; got != tt.reaches {
				t.Errorf("backend reached = %v, want %v (calls %q)", got, tt.reaches, b.calls[ncalls:])
			}
			if after := b.state(); after != before {
				t.Errorf("state changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

// TestBackendFailureChangesNothing checks that an error from the backend
// is passed on with its errno and the link stays as it was.
func TestBackendFailureChangesNothing(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	before := b.state()
	b.fail = syscall.EBUSY
	_, e := refused(t, h, "PATCH", "/v1/links/vx0", LinkSetRequest{Args: strings.Fields("ttl 9")})
	if e.Message != "RTNETLINK answers: Device or resource busy" || e.Code != int(syscall.EBUSY) {
		t.Errorf("error = %+v", e)
	}
	if after := b.state(); after != before {
		t.Errorf("state changed:\n%s", after)
	}
}

func fdbReq(op FDBOp, mac, dst string, mod func(*FDBRequest)) FDBRequest {
	r := FDBRequest{Op: op, Dev: "vx0", MAC: header.MustParseMAC(mac)}
	if dst != "" {
		r.Dst = mustAddr(dst)
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

// TestFDBStateFlags checks the ndm_state and ndm_flags bridge/fdb.c
// fdb_modify sends for each state word and flag.
func TestFDBStateFlags(t *testing.T) {
	tests := []struct {
		req   FDBRequest
		state fdb.State
		flags fdb.Flags
	}{
		{FDBRequest{}, fdb.StateNoARP | fdb.StatePermanent, fdb.FlagSelf},
		{FDBRequest{State: "permanent"}, fdb.StateNoARP | fdb.StatePermanent, fdb.FlagSelf},
		{FDBRequest{State: "static"}, fdb.StateNoARP | fdb.StateReachable, fdb.FlagSelf},
		{FDBRequest{State: "dynamic"}, fdb.StateReachable, fdb.FlagSelf},
		{FDBRequest{Router: true, ExternLearn: true}, fdb.StateNoARP | fdb.StatePermanent, fdb.FlagSelf | fdb.FlagRouter | fdb.FlagExtLearned},
		{FDBRequest{Sticky: true, Use: true, Self: true}, fdb.StateNoARP | fdb.StatePermanent, fdb.FlagSelf | fdb.FlagSticky | fdb.FlagUse},
		{FDBRequest{Master: true}, fdb.StateNoARP | fdb.StatePermanent, fdb.FlagMaster},
	}
	for _, tt := range tests {
		s, f, err := FDBStateFlags(&tt.req)
		if err != nil || s != tt.state || f != tt.flags {
			t.Errorf("%+v: state %v flags %v err %v, want %v %v", tt.req, s, f, err, tt.state, tt.flags)
		}
	}
	if _, _, err := FDBStateFlags(&FDBRequest{State: "bogus"}); err == nil {
		t.Error("state bogus accepted")
	}
}

func TestFDBCommands(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:01", "10.0.0.3", nil), nil)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAppend, "00:00:00:00:00:00", "10.0.0.4", nil), nil)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:02", "10.0.0.5", func(r *FDBRequest) {
		r.State, r.Router, r.Port = "dynamic", true, 8472
		vni := uint32(7)
		r.VNI = &vni
	}), nil)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:03", "10.0.0.6", func(r *FDBRequest) { r.Via = "eth0" }), nil)
	if got := b.calls[len(b.calls)-2]; got != "UpdateFDB add vx0 02:00:00:00:00:02 state=0x2 flags=0x82 dst=10.0.0.5 via=\"\"" {
		t.Errorf("dynamic router add reached the backend as %q", got)
	}

	var es []FDBEntry
	ok(t, h, "GET", "/v1/fdb?dev=vx0", nil, &es)
	var lines []string
	for _, e := range es {
		n := e.Neigh()
		lines = append(lines, string(n.AppendText(nil, &fdb.Format{Dev: e.Dev, IfName: func(int) string { return e.Via }})))
	}
	want := []string{
		"02:00:00:00:00:03 dev vx0 dst 10.0.0.6 via eth0 self permanent",
		"02:00:00:00:00:02 dev vx0 dst 10.0.0.5 port 8472 vni 7 self router ",
		"02:00:00:00:00:01 dev vx0 dst 10.0.0.3 self permanent",
		"00:00:00:00:00:00 dev vx0 dst 10.0.0.2 self permanent",
		"00:00:00:00:00:00 dev vx0 dst 10.0.0.4 self permanent",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("fdb show:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	ok(t, h, "GET", "/v1/fdb", nil, &es)
	if len(es) != 5 {
		t.Errorf("fdb show (all) has %d entries", len(es))
	}

	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBDel, "02:00:00:00:00:03", "", nil), nil)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBReplace, "02:00:00:00:00:01", "10.0.0.9", nil), nil)
	ok(t, h, "GET", "/v1/fdb?dev=vx0", nil, &es)
	if len(es) != 4 || es[1].Dst != mustAddr("10.0.0.9") {
		t.Errorf("after del and replace: %+v", es)
	}
}

// TestRefusedFDBCommandsChangeNothing checks the refusals of bridge fdb
// (bridge/fdb.c) and of the vxlan driver (vxlan_fdb_add, vxlan_fdb_parse,
// vxlan_fdb_update, vxlan_fdb_delete), and that each leaves the tables as
// they were.
func TestRefusedFDBCommandsChangeNothing(t *testing.T) {
	vni := func(v uint32) func(*FDBRequest) { return func(r *FDBRequest) { r.VNI = &v } }
	tests := []struct {
		name    string
		path    string
		body    any
		code    syscall.Errno
		msg     string
		reaches bool
	}{
		{"add existing", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:01", "10.0.0.1", nil),
			syscall.EEXIST, "RTNETLINK answers: File exists", true},
		// The text is fdb's ("Error: Cannot replace non-unicast fdb
		// entries."); Linux 6.18 sends no extended ack here.
		{"replace all-zeros", "/v1/fdb", fdbReq(FDBReplace, "00:00:00:00:00:00", "10.0.0.1", nil),
			syscall.EOPNOTSUPP, "", true},
		{"del absent", "/v1/fdb", fdbReq(FDBDel, "02:00:00:00:00:05", "", nil),
			syscall.ENOENT, "RTNETLINK answers: No such file or directory", true},
		{"wrong family", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "::1", nil),
			syscall.EAFNOSUPPORT, "RTNETLINK answers: Address family not supported by protocol", true},
		{"unknown dev", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.Dev = "vx9" }),
			syscall.ENODEV, `Cannot find device "vx9"`, true},
		{"unknown via", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.Via = "eth9" }),
			syscall.ENODEV, `Cannot find device "eth9"`, true},
		{"vni out of range", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", vni(1<<24)),
			syscall.EINVAL, `Error: argument "16777216" is wrong: invalid VNI`, false},
		{"master", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.Master = true }),
			syscall.EOPNOTSUPP, "RTNETLINK answers: Operation not supported", false},
		{"no dev", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.Dev = "" }),
			syscall.EINVAL, "Device and address are required arguments.", false},
		{"bad op", "/v1/fdb", fdbReq("move", "02:00:00:00:00:07", "10.0.0.1", nil),
			syscall.EINVAL, `Command "move" is unknown, try "bridge fdb help".`, false},
		{"bad state", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.State = "sticky" }),
			syscall.EINVAL, `Error: argument "sticky" is wrong: invalid state`, false},
		{"nhid with dst", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:07", "10.0.0.1", func(r *FDBRequest) { r.NHID = 3 }),
			syscall.EINVAL, "dst, port, vni are mutually exclusive with nhid", false},
		{"flush without dev", "/v1/fdb/flush", FlushRequest{},
			syscall.EINVAL, "Device is a required argument.", false},
		{"flush master", "/v1/fdb/flush", FlushRequest{Dev: "vx0", Master: true},
			syscall.EOPNOTSUPP, "RTNETLINK answers: Operation not supported", false},
		{"flush bad state", "/v1/fdb/flush", FlushRequest{Dev: "vx0", State: fdb.StateReachable, StateMask: fdb.StateReachable},
			syscall.EINVAL, "Error: Unsupported fdb flush ndm state bits set.", true},
		{"flush unknown dev", "/v1/fdb/flush", FlushRequest{Dev: "vx9"},
			syscall.ENODEV, `Cannot find device "vx9"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, h := newTestHandler()
			addVX0(t, h)
			ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:01", "10.0.0.3", nil), nil)
			before := b.state()
			ncalls := len(b.calls)
			_, e := refused(t, h, "POST", tt.path, tt.body)
			if e.Code != int(tt.code) || (tt.msg != "" && e.Message != tt.msg) {
				t.Errorf("error = %+v, want code %d %q", e, tt.code, tt.msg)
			}
			if got := len(b.calls) > ncalls; got != tt.reaches {
				t.Errorf("backend reached = %v, want %v", got, tt.reaches)
			}
			if after := b.state(); after != before {
				t.Errorf("state changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

func TestFDBFlush(t *testing.T) {
	_, h := newTestHandler()
	addVX0(t, h)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:01", "10.0.0.3", nil), nil)
	ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:02", "10.0.0.3", func(r *FDBRequest) { r.State = "dynamic" }), nil)
	var res FlushResult
	// bridge fdb flush dev vx0 dynamic
	ok(t, h, "POST", "/v1/fdb/flush", FlushRequest{Dev: "vx0", StateMask: fdb.StateNoARP | fdb.StatePermanent}, &res)
	if res.Deleted != 1 {
		t.Errorf("flush dynamic deleted %d", res.Deleted)
	}
	// bridge fdb flush dev vx0: may delete the default entry too.
	ok(t, h, "POST", "/v1/fdb/flush", FlushRequest{Dev: "vx0"}, &res)
	if res.Deleted != 2 {
		t.Errorf("flush deleted %d", res.Deleted)
	}
	var es []FDBEntry
	ok(t, h, "GET", "/v1/fdb?dev=vx0", nil, &es)
	if len(es) != 0 {
		t.Errorf("after flush: %+v", es)
	}
}

func TestNeighShow(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	b.neigh = []Neighbor{{Dev: "vx0", IP: mustAddr("192.168.42.2"), LLAddr: header.MustParseMAC("02:00:00:00:00:02"), State: NUDPermanent}}
	var ns []Neighbor
	ok(t, h, "GET", "/v1/neigh?dev=vx0", nil, &ns)
	if len(ns) != 1 || ns[0] != b.neigh[0] {
		t.Errorf("neigh = %+v", ns)
	}
	ok(t, h, "GET", "/v1/neigh", nil, &ns)
	if len(ns) != 1 {
		t.Errorf("neigh (all) = %+v", ns)
	}
	_, e := refused(t, h, "GET", "/v1/neigh?dev=vx9", nil)
	if e.Message != `Cannot find device "vx9"` {
		t.Errorf("neigh dev vx9: %+v", e)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	_, h := newTestHandler()
	if code, _ := call(t, h, "GET", "/v1/bogus", nil); code != http.StatusNotFound {
		t.Errorf("status %d", code)
	}
	if code, _ := call(t, h, "PUT", "/v1/links", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("status %d", code)
	}
}

var errStop = errors.New("stop")

// TestMonitor streams events through a real HTTP connection: the filter
// applies, and ending the client's context ends the subscription.
func TestMonitor(t *testing.T) {
	b, h := newTestHandler()
	addVX0(t, h)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := NewClientHTTP(srv.Client(), srv.URL)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Event, 4)
	done := make(chan error, 1)
	go func() {
		done <- c.Monitor(ctx, EventFilter{FDB: true}, func(ev Event) error {
			got <- ev
			return nil
		})
	}()
	select {
	case <-b.subscribed:
	case err := <-done:
		t.Fatalf("monitor ended: %v", err)
	}
	mac := header.MustParseMAC("02:00:00:00:00:09")
	miss := Event{Kind: EventL2Miss, Dev: "vx0", MAC: mac}
	learned := Event{Kind: EventLearned, Dev: "vx0", FDB: &FDBEntry{Dev: "vx0", MAC: mac, Dst: mustAddr("10.0.0.7"), State: fdb.StateReachable, Flags: fdb.FlagSelf}}
	b.emit(miss) // filtered out by the handler
	b.emit(learned)
	ev := <-got
	if ev.Kind != EventLearned || ev.FDB == nil || ev.FDB.MAC != mac || ev.FDB.Dst != mustAddr("10.0.0.7") {
		t.Errorf("event = %+v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Monitor returned %v after cancel", err)
	}
}

func TestMonitorUnknownDev(t *testing.T) {
	_, h := newTestHandler()
	_, e := refused(t, h, "GET", "/v1/monitor?dev=vx9", nil)
	if e.Message != `Cannot find device "vx9"` {
		t.Errorf("error = %+v", e)
	}
}

func TestEventFilter(t *testing.T) {
	fdbEv := &Event{Kind: EventAged, Dev: "vx0"}
	missEv := &Event{Kind: EventL3Miss, Dev: "vx1"}
	tests := []struct {
		f       EventFilter
		fdb, mi bool
	}{
		{EventFilter{}, true, true},
		{EventFilter{FDB: true}, true, false},
		{EventFilter{Miss: true}, false, true},
		{EventFilter{FDB: true, Miss: true}, true, true},
		{EventFilter{Dev: "vx1"}, false, true},
	}
	for _, tt := range tests {
		if tt.f.Match(fdbEv) != tt.fdb || tt.f.Match(missEv) != tt.mi {
			t.Errorf("%+v: fdb %v miss %v", tt.f, tt.f.Match(fdbEv), tt.f.Match(missEv))
		}
	}
}
