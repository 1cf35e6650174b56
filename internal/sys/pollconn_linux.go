package sys

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PollConn is a syscall.RawConn over a non-blocking descriptor that Go's
// network poller does not watch. A Read or Write whose callback reports
// that it would block waits in ppoll(2) on the descriptor itself, so the
// kernel wakes the waiting thread directly: no epoll round through the
// runtime's poller, and no other thread woken to hand the goroutine on.
//
// The cost is a thread per waiting goroutine, held in the kernel while it
// waits, with its P (the runtime takes a P back from a system call only
// after a sysmon tick): the datapath has a fixed few such goroutines (one
// per TAP queue and per socket), and vtep.Host raises GOMAXPROCS by as
// many (within a bound) so that they rarely leave other goroutines without
// a P.
//
// Reads and Writes may run concurrently. Close wakes them through an
// eventfd and waits for them to return, so a callback must not call Close
// or another method of the same PollConn.
type PollConn struct {
	fd     int
	wake   int // eventfd, readable once Close has begun
	closed atomic.Bool
	mu     sync.RWMutex // held shared by operations, exclusively by Close

}

// Detach moves f's descriptor out of Go's poller: it duplicates the
// descriptor, closes f (which removes it from the poller) and returns a
// PollConn that owns the duplicate, in non-blocking mode.
func Detach(f *os.File) (*PollConn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(old uintptr) {
		fd, dupErr = unix.FcntlInt(old, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", dupErr)
	}
	f.Close()
	c, err := NewPollConn(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

// NewPollConn returns a PollConn that owns fd and sets it non-blocking.
// fd must not be registered with Go's poller.
func NewPollConn(fd int) (*PollConn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return &PollConn{fd: fd, wake: wake}, nil
}

// Control runs fn with the descriptor.
func (c *PollConn) Control(fn func(fd uintptr)) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return os.ErrClosed
	}
	fn(uintptr(c.fd))
	return nil
}

// Read calls fn until it returns true, waiting for the descriptor to be
// readable whenever it returns false. After Close it returns os.ErrClosed.
func (c *PollConn) Read(fn func(fd uintptr) bool) error { return c.wait(fn, unix.POLLIN) }

// Write is Read for writability.
func (c *PollConn) Write(fn func(fd uintptr) bool) error { return c.wait(fn, unix.POLLOUT) }

func (c *PollConn) wait(fn func(fd uintptr) bool, events int16) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fds := [2]unix.PollFd{{Fd: int32(c.fd), Events: events}, {Fd: int32(c.wake), Events: unix.POLLIN}}
	stuck := false
	for {
		if c.closed.Load() {
			return os.ErrClosed
		}
		if fn(uintptr(c.fd)) {
			return nil
		}
		// ppoll is level-triggered and always reports an error or hang-up
		// on the descriptor, which the callback may not clear (a socket's
		// error queue, a TAP being torn down). Go's edge-triggered poller
		// would report it once; here, while it lasts, the next wait is a
		// millisecond's sleep on the eventfd alone instead of a spin.
		n, fdsp, ts := uintptr(2), &fds[0], (*unix.Timespec)(nil)
		var pause unix.Timespec
		if stuck {
			pause.Nsec = stuckPause
			n, fdsp, ts = 1, &fds[1], &pause
		}
		// ppoll with no signal mask: a blocking system call that the
		// runtime sees as one (entersyscall), so its P can be taken for
		// other goroutines while it sleeps.
		_, _, e := syscall.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(fdsp)), n, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			return os.NewSyscallError("ppoll", e)
		}
		r := fds[0].Revents
		stuck = !stuck && e == 0 && r&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && r&events == 0
		fds[0].Revents = 0
	}
}

// stuckPause is how long PollConn waits between attempts while the
// descriptor reports only an error condition.
const stuckPause = 1_000_000 // ns

// Close wakes waiting operations, waits for them to return and closes the
// descriptor. Later operations return os.ErrClosed.
func (c *PollConn) Close() error {
	if c.closed.Swap(true) {
		return os.ErrClosed
	}
	one := [8]byte{0: 1}
	unix.Write(c.wake, one[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	unix.Close(c.wake)
	return os.NewSyscallError("close", unix.Close(c.fd))
}

// RawConnOf returns the RawConn to do f's I/O through, and what closes
// it: with inThread a PollConn that took f's descriptor over (Detach),
// else f's own RawConn under Go's poller, and f.
func RawConnOf(f *os.File, inThread bool) (syscall.RawConn, io.Closer, error) {
	if inThread {
		c, err := Detach(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return c, c, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return rc, f, nil
}

// AllowedCPUs returns the CPUs the process may run on, in ascending
// order.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, os.NewSyscallError("sched_getaffinity", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// PinThread binds the calling OS thread to cpu. The caller has locked its
// goroutine to the thread (runtime.LockOSThread) and does not unlock it:
// the runtime then ends the thread with the goroutine instead of reusing
// it with this affinity.
func PinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return os.NewSyscallError("sched_setaffinity", unix.SchedSetaffinity(0, &set))
}

// SteerBySourcePort attaches to the SO_REUSEPORT group of the bound UDP
// socket fd a classic BPF program that hands a datagram to socket
// (source port mod n) of the group, in the order the sockets joined it.
// Like the kernel's own choice by flow hash it keeps a flow on one
// socket; unlike it, a sender can pick the socket (flow.SourcePortIn).
// The source port is read at the fixed offset behind an IPv4 header
// without options or the IPv6 fixed header.
func SteerBySourcePort(fd int, v6 bool, n int) error {
	if n < 1 {
		return fmt.Errorf("steering by source port: %d sockets", n)
	}
	off := uint32(20)
	if v6 {
		off = 40
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: skfNetOff + off},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return os.NewSyscallError("setsockopt SO_ATTACH_REUSEPORT_CBPF", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog))
}

// skfNetOff is linux/filter.h's SKF_NET_OFF (-0x100000 as a 32-bit K):
// loads at K = skfNetOff+x read x bytes into the network header.
const skfNetOff = 0xfff00000
