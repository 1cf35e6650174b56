package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// serveUnix serves a fake backend on a unix socket in a temporary
// directory and returns a client for it.
func serveUnix(t *testing.T) (*fakeBackend, *Client, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "sub", "vtepd.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBackend()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, NewHandler(b, HandlerOptions{Version: "1.2.3"})) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return b, NewClient(path), path
}

func TestListenSocketMode(t *testing.T) {
	_, _, path := serveUnix(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket 0600", st.Mode())
	}
	if _, err := Listen(path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen on a live socket: %v, want EADDRINUSE", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	// A socket file without a listener, as a killed daemon leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln2.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

func TestClientOverUnixSocket(t *testing.T) {
	b, c, _ := serveUnix(t)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil || v.Version != "1.2.3" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	li, err := c.AddLink(ctx, LinkAddRequest{Name: "vx0", Args: strings.Fields("id 42 dstport 4789"), Up: true})
	if err != nil || !li.Up {
		t.Fatalf("AddLink = %+v, %v", li, err)
	}
	_, err = c.AddLink(ctx, LinkAddRequest{Name: "vx0", Args: strings.Fields("id 43")})
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, syscall.EEXIST) || err.Error() != "RTNETLINK answers: File exists" {
		t.Errorf("duplicate AddLink: %v", err)
	}
	_, err = c.AddLink(ctx, LinkAddRequest{Name: "vx1", Args: []string{"help"}})
	if !errors.As(err, &ce) || !ce.Usage || err.Error() != config.Usage {
		t.Errorf("AddLink help: %#v", err)
	}
	down := false
	if li, err = c.SetLink(ctx, "vx0", LinkSetRequest{Up: &down}); err != nil || li.Up {
		t.Errorf("SetLink down = %+v, %v", li, err)
	}
	if li, err = c.Link(ctx, "vx0", true); err != nil || li.Stats == nil {
		t.Errorf("Link = %+v, %v", li, err)
	}
	if ls, err := c.Links(ctx, false); err != nil || len(ls) != 1 {
		t.Errorf("Links = %+v, %v", ls, err)
	}
	mac := header.MustParseMAC("02:00:00:00:00:01")
	if err := c.UpdateFDB(ctx, FDBRequest{Op: FDBAdd, Dev: "vx0", MAC: mac, Dst: mustAddr("10.0.0.2"), State: "dynamic"}); err != nil {
		t.Fatal(err)
	}
	es, err := c.FDB(ctx, "vx0")
	if err != nil || len(es) != 1 || es[0].MAC != mac || es[0].State != fdb.StateReachable {
		t.Errorf("FDB = %+v, %v", es, err)
	}
	n, err := c.FlushFDB(ctx, FlushRequest{Dev: "vx0"})
	if err != nil || n != 1 {
		t.Errorf("FlushFDB = %d, %v", n, err)
	}
	b.neigh = []Neighbor{{Dev: "vx0", IP: mustAddr("10.1.0.1"), LLAddr: mac, State: NUDReachable}}
	if ns, err := c.Neighbors(ctx, ""); err != nil || len(ns) != 1 {
		t.Errorf("Neighbors = %+v, %v", ns, err)
	}
	if err := c.DelLink(ctx, "vx0"); err != nil {
		t.Fatal(err)
	}
	if err := c.DelLink(ctx, "vx0"); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("second DelLink: %v", err)
	}
}

func TestClientNoDaemon(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Version(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "cannot talk to vtepd at ") {
		t.Errorf("Version without a daemon: %v", err)
	}
}

func TestErrorOf(t *testing.T) {
	vniErr := fmt.Errorf("wrapped: %w", config.ErrVNIRange)
	tests := []struct {
		err   error
		code  syscall.Errno
		msg   string
		usage bool
	}{
		{config.ErrVNIRange, syscall.ERANGE, "Error: VXLAN ID must be lower than 16777216.", false},
		{vniErr, syscall.ERANGE, "Error: wrapped: VXLAN ID must be lower than 16777216.", false},
		{config.ErrGroupNeedsDev, syscall.EINVAL, "vxlan: 'group' requires 'dev' to be specified", false},
		{config.ErrChangeVNI, syscall.EOPNOTSUPP, "Error: Cannot change VNI.", false},
		{&config.FlagChangeError{Flag: "PROXY"}, syscall.EOPNOTSUPP, "Error: vxlan: cannot change PROXY flag.", false},
		{&config.ArgError{Arg: "x", Msg: "invalid id"}, syscall.EINVAL, `Error: argument "x" is wrong: invalid id`, true},
		{&fdb.OpError{Op: "add", Err: fdb.ErrExist}, syscall.EEXIST, "RTNETLINK answers: File exists", false},
		{syscall.ENOSPC, syscall.ENOSPC, "RTNETLINK answers: No space left on device", false},
		{fmt.Errorf("open tap: %w", syscall.EBUSY), syscall.EBUSY, "RTNETLINK answers: Device or resource busy", false},
		{ErrNoDevice("eth0"), syscall.ENODEV, `Cannot find device "eth0"`, false},
		{errors.New("boom"), syscall.EIO, "boom", false},
	}
	for _, tt := range tests {
		e := ErrorOf(tt.err)
		if e.Code != int(tt.code) || e.Message != tt.msg || e.Usage != tt.usage {
			t.Errorf("ErrorOf(%v) = %+v, want %d %q usage=%v", tt.err, e, tt.code, tt.msg, tt.usage)
		}
	}
	if ErrorOf(nil) != nil {
		t.Error("ErrorOf(nil) != nil")
	}
	if !errors.Is(Rtnetlink(syscall.EEXIST), syscall.EEXIST) || errors.Is(Rtnetlink(syscall.EEXIST), syscall.ENOENT) {
		t.Error("Error.Is does not match its errno")
	}
}
