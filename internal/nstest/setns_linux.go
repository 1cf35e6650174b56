package nstest

import (
	"fmt"
	"os"
	"syscall"
)

// setNetNS switches the calling OS thread into the network namespace
// referred to by the file f (/run/netns/NAME or /proc/thread-self/ns/net).
// The caller must have locked the goroutine to its thread.
//
// It uses the raw setns(2) system call so that the package depends on the
// standard library only.
func setNetNS(f *os.File) error {
	_, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return fmt.Errorf("setns %s: %w", f.Name(), errno)
	}
	return nil
}

// openNetNS opens a namespace by name, or the calling thread's namespace
// when name is "".
func openNetNS(name string) (*os.File, error) {
	if name == "" {
		return os.Open("/proc/thread-self/ns/net")
	}
	return os.Open("/run/netns/" + name)
}
