//go:build unix

package control

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises umask changes made by this package.
var umaskMu sync.Mutex

// listenPrivate binds a unix socket that is created with mode 0600, by
// narrowing the process umask around bind(2), so that there is no moment
// at which other users may connect.
func listenPrivate(path string) (*net.UnixListener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	umaskMu.Unlock()
	return ln, err
}
