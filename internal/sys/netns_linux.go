package sys

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetNS is an open handle on a network namespace. Sockets belong to the
// namespace of the thread that creates them, so code that creates sockets
// lazily, on whatever thread it runs, records the namespace its object was
// created in and creates later sockets there (NetNS.Do).
type NetNS struct{ fd int }

// CurrentNetNS returns a handle on the calling thread's network namespace.
func CurrentNetNS() (NetNS, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return NetNS{fd: -1}, os.NewSyscallError("open /proc/thread-self/ns/net", err)
	}
	return NetNS{fd: fd}, nil
}

// Close releases the handle.
func (n NetNS) Close() error {
	if n.fd < 0 {
		return nil
	}
	return unix.Close(n.fd)
}

// Do runs fn on a thread in namespace n: the calling thread, switched there
// and back when it is elsewhere. If switching back fails, the goroutine
// stays locked to the thread so that no other goroutine inherits the
// namespace.
func (n NetNS) Do(fn func() error) error {
	if n.fd < 0 {
		return fn()
	}
	runtime.LockOSThread()
	cur, err := CurrentNetNS()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	var a, b unix.Stat_t
	if unix.Fstat(cur.fd, &a) == nil && unix.Fstat(n.fd, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
		defer runtime.UnlockOSThread()
		return fn()
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return os.NewSyscallError("setns", err)
	}
	fnErr := fn()
	if err := unix.Setns(cur.fd, unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("setns back", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
