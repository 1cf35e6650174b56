package fdb

import (
	"syscall"

	"github.com/vtepd/vtep/header"
)

// Errors returned by Table operations. Each is the errno the kernel returns
// for the same request; its text is what iproute2 prints for that errno
// ("RTNETLINK answers: …"), and errors.Is also matches the syscall.Errno.
// Operations wrap them in an [*OpError] that may carry the kernel's extended
// ack message.
var (
	// ErrExist is EEXIST: `bridge fdb add` of an entry that exists.
	ErrExist error = &kernelError{errno: syscall.EEXIST, text: "File exists"}
	// ErrNotFound is ENOENT: no such entry.
	ErrNotFound error = &kernelError{errno: syscall.ENOENT, text: "No such file or directory"}
	// ErrInvalid is EINVAL.
	ErrInvalid error = &kernelError{errno: syscall.EINVAL, text: "Invalid argument"}
	// ErrInvalidState is the EINVAL vxlan_fdb_add returns when ndm_state
	// has neither NUD_PERMANENT nor NUD_REACHABLE (the kernel logs
	// "RTM_NEWNEIGH with invalid state"). errors.Is(err, ErrInvalid) holds.
	ErrInvalidState error = &kernelError{errno: syscall.EINVAL, text: "Invalid argument", parent: ErrInvalid}
	// ErrNotSupported is EOPNOTSUPP: replace of a multicast or all-zeros
	// entry, mixing nexthop and remote entries, and configuration changes
	// the kernel refuses.
	ErrNotSupported error = &kernelError{errno: syscall.EOPNOTSUPP, text: "Operation not supported"}
	// ErrFamily is EAFNOSUPPORT: the dst or nexthop group family differs
	// from the link's.
	ErrFamily error = &kernelError{errno: syscall.EAFNOSUPPORT, text: "Address family not supported by protocol"}
	// ErrNoSpace is ENOSPC: the table holds maxaddress entries.
	ErrNoSpace error = &kernelError{errno: syscall.ENOSPC, text: "No space left on device"}
	// ErrNoDevice is EADDRNOTAVAIL: `via DEV` names no interface.
	ErrNoDevice error = &kernelError{errno: syscall.EADDRNOTAVAIL, text: "Cannot assign requested address"}
)

type kernelError struct {
	errno  syscall.Errno
	text   string // glibc strerror text
	parent error
}

func (e *kernelError) Error() string { return "RTNETLINK answers: " + e.text }

func (e *kernelError) Unwrap() error { return e.errno }

func (e *kernelError) Is(target error) bool { return e.parent != nil && target == e.parent }

// OpError is the error returned by Table operations.
type OpError struct {
	Op  string     // "add", "append", "replace", "del", "flush", "get", "link"
	MAC header.MAC // the entry's address, zero for flush
	// Err is one of the package's sentinel errors.
	Err error
	// Msg is the kernel's extended-ack message, if it sets one.
	Msg string
	// Log is what the kernel writes to its log instead of an extended ack
	// (e.g. "RTM_NEWNEIGH with invalid state 0x40"); it is not part of
	// Error, as iproute2 never sees it.
	Log string
}

// Error returns what iproute2 prints: "Error: <extack>." when the kernel
// sets an extended-ack message, otherwise "RTNETLINK answers: <strerror>".
func (e *OpError) Error() string {
	if e.Msg != "" {
		return "Error: " + e.Msg + "."
	}
	return e.Err.Error()
}

// Unwrap returns Err.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op string, mac header.MAC, err error, msg string) *OpError {
	return &OpError{Op: op, MAC: mac, Err: err, Msg: msg}
}

// Extended-ack messages, verbatim from vxlan_core.c.
const (
	msgReplaceNonUnicast = "Cannot replace non-unicast fdb entries"
	msgNHExclusive       = "DST, VNI, ifindex and port are mutually exclusive with NH_ID"
	msgNHOverNonNH       = "Cannot replace an existing non nexthop fdb with a nexthop"
	msgNHAppend          = "Cannot append to a nexthop fdb"
	msgDeviceNotFound    = "Device not found"
	msgNotFound          = "Fdb entry not found"
	msgFlushFlags        = "Unsupported fdb flush ndm flag bits set"
	msgFlushState        = "Unsupported fdb flush ndm state bits set"
	msgGroupFamily       = "New group address family does not match old group"
)
