package sys

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpPair returns two connected, non-blocking UDP sockets on loopback.
func udpPair(t *testing.T) (a, b int) {
	t.Helper()
	open := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	a, b = open(), open()
	sa, _ := unix.Getsockname(a)
	sb, _ := unix.Getsockname(b)
	if err := unix.Connect(a, sb); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(b, sa); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// pollPair returns a PollConn over one of a udpPair (closed at cleanup
// unless the test closes it) and the other socket.
func pollPair(t *testing.T) (*PollConn, int) {
	t.Helper()
	a, b := udpPair(t)
	t.Cleanup(func() { unix.Close(b) })
	c, err := NewPollConn(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, b
}

// readOne reads one datagram through rc, waiting for it.
func readOne(rc syscall.RawConn, buf []byte) (int, error) {
	var n int
	var opErr error
	err := rc.Read(func(fd uintptr) bool {
		n, opErr = unix.Read(int(fd), buf)
		return opErr != unix.EAGAIN
	})
	if err == nil {
		err = opErr
	}
	return n, err
}

func TestPollConnReadWaitsForData(t *testing.T) {
	c, b := pollPair(t)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := readOne(c, buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		t.Fatalf("Read returned %q before anything was sent", s)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := unix.Write(b, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("read %q, want hello", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after a datagram arrived")
	}
}

func TestPollConnCloseWakesBlockedRead(t *testing.T) {
	c, _ := pollPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := readOne(c, make([]byte, 64))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("blocked Read returned %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked Read")
	}
	if err := c.Control(func(uintptr) {}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Control after Close: %v, want os.ErrClosed", err)
	}
	if err := c.Write(func(uintptr) bool { return true }); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close: %v, want os.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v, want os.ErrClosed", err)
	}
}

// TestDetachLeavesGoPoller checks that Detach keeps the descriptor usable
// (the same socket, now owned by the PollConn) and closes the os.File.
func TestDetachLeavesGoPoller(t *testing.T) {
	a, b := udpPair(t)
	defer unix.Close(b)
	f := os.NewFile(uintptr(a), "a")
	if _, err := f.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	c, err := Detach(f)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("the os.File still works after Detach: %v", err)
	}
	unix.Write(b, []byte("via the duplicate"))
	buf := make([]byte, 64)
	n, err := readOne(c, buf)
	if err != nil || string(buf[:n]) != "via the duplicate" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	var fl int
	c.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if fl&unix.O_NONBLOCK == 0 {
		t.Fatal("the detached descriptor is blocking")
	}
}

func TestPollConnReadDoesNotAllocate(t *testing.T) {
	c, b := pollPair(t)
	buf := make([]byte, 64)
	var n int
	fn := func(fd uintptr) bool {
		n, _ = unix.Read(int(fd), buf)
		return true
	}
	msg := []byte("m")
	allocs := testing.AllocsPerRun(100, func() {
		unix.Write(b, msg)
		c.Read(fn)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Read, want 0", allocs)
	}
	_ = n
}

// TestSteerBySourcePortPicksSocketByPort sends to a SO_REUSEPORT group of
// n sockets from many source ports, over IPv4 and IPv6 loopback, each from
// a thread bound to the next CPU in turn: each datagram must reach socket
// (source port mod n), whatever the CPU that processes it. (Steering by
// the processing CPU split the flows of a kernel vxlan peer, whose
// sending CPU varies, over two workers and reordered them.)
func TestSteerBySourcePortPicksSocketByPort(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) {
			af, lo := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
			if v6 {
				af, lo = unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
			}
			cpus, err := AllowedCPUs()
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			var port int
			socks := make([]int, n)
			for i := range socks {
				fd, err := unix.Socket(af, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Skipf("no %v socket: %v", af, err)
				}
				defer unix.Close(fd)
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
					t.Fatal(err)
				}
				switch a := lo.(type) {
				case *unix.SockaddrInet4:
					a.Port = port
				case *unix.SockaddrInet6:
					a.Port = port
				}
				if err := unix.Bind(fd, lo); err != nil {
					t.Fatal(err)
				}
				if port == 0 {
					sa, _ := unix.Getsockname(fd)
					switch a := sa.(type) {
					case *unix.SockaddrInet4:
						port = a.Port
					case *unix.SockaddrInet6:
						port = a.Port
					}
				}
				if err := SteerBySourcePort(fd, v6, n); err != nil {
					t.Fatal(err)
				}
				socks[i] = fd
			}
			buf := make([]byte, 16)
			for k := range 24 {
				tx, err := unix.Socket(af, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				var sport int
				send := func() {
					if v6 {
						unix.Bind(tx, &unix.SockaddrInet6{Addr: [16]byte{15: 1}})
						sa, _ := unix.Getsockname(tx)
						sport = sa.(*unix.SockaddrInet6).Port
						err = unix.Sendto(tx, []byte{byte(k)}, 0, &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: port})
					} else {
						unix.Bind(tx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
						sa, _ := unix.Getsockname(tx)
						sport = sa.(*unix.SockaddrInet4).Port
						err = unix.Sendto(tx, []byte{byte(k)}, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
					}
				}
				pinnedTo(t, cpus[k%len(cpus)], send)
				unix.Close(tx)
				if err != nil {
					t.Fatal(err)
				}
				got := -1
				for i, fd := range socks {
					if _, _, err := unix.Recvfrom(fd, buf, 0); err == nil {
						got = i
					}
				}
				if got != sport%n {
					t.Fatalf("datagram from port %d went to socket %d, want %d", sport, got, sport%n)
				}
			}
		})
	}
}

// pinnedTo runs fn on a thread bound to cpu.
func pinnedTo(t *testing.T, cpu int, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := PinThread(cpu); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSteerBySourcePortRefusesNoSockets(t *testing.T) {
	if err := SteerBySourcePort(-1, false, 0); err == nil {
		t.Fatal("SteerBySourcePort accepted 0 sockets")
	}
}

func TestAllowedCPUsMatchesRuntime(t *testing.T) {
	cpus, err := AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != runtime.NumCPU() {
		t.Fatalf("AllowedCPUs %v, runtime.NumCPU %d", cpus, runtime.NumCPU())
	}
	for i := 1; i < len(cpus); i++ {
		if cpus[i] <= cpus[i-1] {
			t.Fatalf("not ascending: %v", cpus)
		}
	}
}

// TestPollConnDoesNotSpinOnErrorCondition: a UDP socket with IP_RECVERR
// whose datagram drew an ICMP port unreachable keeps the error in its
// error queue, so ppoll reports POLLERR every time while reads find
// nothing. Waiting must not turn into a busy loop (it spun 400k times in
// 200 ms before the fix; Go's edge-triggered poller calls once).
func TestPollConnDoesNotSpinOnErrorCondition(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVERR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	// A port nobody listens on: bind one, note it, close it.
	p, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Bind(p, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	closed, _ := unix.Getsockname(p)
	unix.Close(p)
	if err := unix.Connect(fd, closed); err != nil {
		t.Fatal(err)
	}
	c, err := NewPollConn(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte("x"))
	buf := make([]byte, 16)
	var calls atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- c.Read(func(fd uintptr) bool {
			calls.Add(1)
			_, err := unix.Read(int(fd), buf)
			// The first read reports ECONNREFUSED (sk_err); the error
			// queue entry stays. Go on waiting as a datapath reader would.
			return err != unix.EAGAIN && err != unix.ECONNREFUSED
		})
	}()
	time.Sleep(200 * time.Millisecond)
	n := calls.Load()
	c.Close()
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read returned %v, want os.ErrClosed", err)
	}
	if n > 2000 {
		t.Fatalf("the callback ran %d times in 200 ms with nothing to read: a busy loop", n)
	}
	t.Logf("callback ran %d times in 200 ms", n)
}
