// Package sys is the one place that talks to golang.org/x/sys/unix: TAP
// ioctls, socket options, and batched recvmmsg/sendmmsg over preallocated
// message headers. Packages tap and underlay build on it; nothing else in
// the datapath imports x/sys/unix (internal/kernelnet uses it for the raw
// netlink sockets that read the kernel's nexthops).
//
// Everything here is a thin, allocation-free wrapper. Functions that take an
// fd are meant to be called from inside syscall.RawConn Control/Read/Write
// callbacks, so that fds stay in non-blocking mode under Go's poller.
package sys
