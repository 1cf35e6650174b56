package nstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// CommandTimeout bounds every command the helpers run, so that a hung tool
// fails the test instead of hanging it.
const CommandTimeout = 2 * time.Minute

// nsCounter makes namespace names unique within a process; the process ID
// makes them unique across concurrently running test binaries.
var nsCounter atomic.Uint32

// NS is a network namespace created for one test. Its methods that take a
// testing.TB fail that test on error, so they must be called from its
// goroutine; pass a subtest's own t inside t.Run.
type NS struct {
	// Name is the namespace's name under /run/netns.
	Name string
}

// NewNS creates a network namespace named "<prefix>-<pid>-<n>" with its
// loopback interface up, and registers its removal (after killing every
// process still running in it) with t.Cleanup. The prefix should be short and
// say what the namespace is for ("h1", "fabric"); "" means "ns".
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	if prefix == "" {
		prefix = "ns"
	}
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsCounter.Add(1))
	ns := &NS{Name: name}
	if _, err := runCmd(context.Background(), "ip", "netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.destroy(); err != nil {
			t.Errorf("nstest: removing namespace %s: %v", name, err)
		}
	})
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// destroy kills the processes left in the namespace and deletes it.
func (ns *NS) destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		pids, err := ns.pids(ctx)
		if err != nil || len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if pid == os.Getpid() {
				// A thread of ours is stuck in the namespace (see Do);
				// never kill the test binary itself.
				return fmt.Errorf("nstest: this process (pid %d) is still in the namespace", pid)
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("processes %v still running in the namespace", pids)
		}
	}
	_, err := runCmd(ctx, "ip", "netns", "del", ns.Name)
	return err
}

// pids lists the processes running in the namespace.
func (ns *NS) pids(ctx context.Context) ([]int, error) {
	out, err := runCmd(ctx, "ip", "netns", "pids", ns.Name)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// String returns the namespace's name.
func (ns *NS) String() string { return ns.Name }

// Exec runs a program inside the namespace (`ip netns exec NAME prog args…`)
// and returns its combined output. A non-zero exit is an error that includes
// the command line and the output. It is safe to call from any goroutine.
func (ns *NS) Exec(ctx context.Context, prog string, args ...string) (string, error) {
	return runCmd(ctx, "ip", append([]string{"netns", "exec", ns.Name, prog}, args...)...)
}

// Run is Exec with a [CommandTimeout], failing the test on error.
func (ns *NS) Run(t testing.TB, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	t.Logf("[%s] $ %s %s", ns.Name, prog, strings.Join(args, " "))
	out, err := ns.Exec(ctx, prog, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// IP runs `ip -n NAME args…`, failing the test on error.
func (ns *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return ns.tool(t, "ip", args...)
}

// Bridge runs `bridge -n NAME args…`, failing the test on error.
func (ns *NS) Bridge(t testing.TB, args ...string) string {
	t.Helper()
	return ns.tool(t, "bridge", args...)
}

// tool runs an iproute2 program with -n NAME, failing the test on error.
func (ns *NS) tool(t testing.TB, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	full := append([]string{"-n", ns.Name}, args...)
	t.Logf("$ %s %s", prog, strings.Join(full, " "))
	out, err := runCmd(ctx, prog, full...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Sysctl sets a sysctl inside the namespace (`sysctl -w key=value`). It
// skips the test when sysctl(8) is missing (package procps).
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	RequireTools(t, "sysctl")
	ns.Run(t, "sysctl", "-q", "-w", key+"="+value)
}

// DisableDAD turns off IPv6 duplicate address detection for every interface
// created in the namespace from now on (and for "all"), so that IPv6
// addresses on devices made by other programs (a vtepd TAP) are usable at once.
func (ns *NS) DisableDAD(t testing.TB) {
	t.Helper()
	ns.Sysctl(t, "net.ipv6.conf.all.accept_dad", "0")
	ns.Sysctl(t, "net.ipv6.conf.default.accept_dad", "0")
}

// AddAddr adds addresses to a device. IPv6 addresses get `nodad`, so they
// are usable at once.
func (ns *NS) AddAddr(t testing.TB, dev string, prefixes ...netip.Prefix) {
	t.Helper()
	for _, p := range prefixes {
		args := []string{"addr", "add", p.String(), "dev", dev}
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			args = append(args, "nodad")
		}
		ns.IP(t, args...)
	}
}

// LinkUp sets devices up.
func (ns *NS) LinkUp(t testing.TB, devs ...string) {
	t.Helper()
	for _, dev := range devs {
		ns.IP(t, "link", "set", dev, "up")
	}
}

// LinkExists reports whether dev exists in the namespace.
func (ns *NS) LinkExists(dev string) bool {
	_, err := runCmd(context.Background(), "ip", "-n", ns.Name, "link", "show", "dev", dev)
	return err == nil
}

// WaitLink waits up to 10s for dev to appear in the namespace (a device
// created by another process, such as vtepd's TAP).
func (ns *NS) WaitLink(t testing.TB, dev string) {
	t.Helper()
	WaitFor(t, 10*time.Second, dev+" in "+ns.Name, func() error {
		if !ns.LinkExists(dev) {
			return errors.New("no such device")
		}
		return nil
	})
}

// Do runs fn on an OS thread that has been switched into the namespace, and
// returns fn's error. Sockets that fn creates belong to the namespace for
// their whole life and may be used from any goroutine after Do returns.
// Goroutines that fn starts do not run in the namespace. Afterwards the
// thread is switched back; if that fails it stays locked to its exiting
// goroutine, so the runtime throws it away instead of reusing it.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := openNetNS("")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("nstest: reading the current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := openNetNS(ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("nstest: opening namespace %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := setNetNS(target); err != nil {
			// The thread may be half-switched: never unlock it.
			errc <- fmt.Errorf("nstest: entering namespace %s: %w", ns.Name, err)
			return
		}
		fnErr := fn()
		// Switch back even though the goroutine is about to exit: when it
		// runs on the main thread, which the runtime never terminates, the
		// whole process would otherwise appear to live in the namespace.
		if err := setNetNS(orig); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("nstest: leaving namespace %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// Listen is net.Listen inside the namespace.
func (ns *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenPacket inside the namespace.
func (ns *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Dial connects from inside the namespace.
func (ns *NS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// runCmd runs a command and returns its combined output; the error names
// the command and carries its output.
func runCmd(ctx context.Context, prog string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CommandTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return string(out), fmt.Errorf("nstest: %s %s: %v: %s", prog, strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ifindex returns the interface index of device name in ns, failing the
// test if there is none.
func (ns *NS) Ifindex(t testing.TB, name string) int {
	t.Helper()
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	out := ns.IP(t, "-j", "link", "show", "dev", name)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show dev %s: %q: %v", name, out, err)
	}
	return links[0].Ifindex
}
