package control

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
)

// Error is a refusal, as it travels back to the client: the errno the
// kernel would have returned for the same request and the text iproute2
// prints for it. It is also what [Client] methods return for a refused
// request.
type Error struct {
	// Code is the errno, e.g. 17 for EEXIST.
	Code int `json:"code"`
	// Message is the complete line iproute2 prints, e.g. "RTNETLINK
	// answers: File exists", "Error: Cannot change VNI." or `Cannot find
	// device "vx9"`.
	Message string `json:"message"`
	// Usage marks a malformed command (a grammar error, as opposed to a
	// request the system refused). The CLI exits with status 2 for it.
	Usage bool `json:"usage,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the syscall.Errno of e's code, so that
// errors.Is(err, syscall.EEXIST) works on the client side.
func (e *Error) Is(target error) bool {
	errno, ok := target.(syscall.Errno)
	return ok && int(errno) == e.Code
}

// Errorf returns an Error with the given errno and a formatted message.
func Errorf(errno syscall.Errno, format string, args ...any) *Error {
	return &Error{Code: int(errno), Message: fmt.Sprintf(format, args...)}
}

// Usagef returns a usage Error (EINVAL) with a formatted message.
func Usagef(format string, args ...any) *Error {
	return &Error{Code: int(syscall.EINVAL), Message: fmt.Sprintf(format, args...), Usage: true}
}

// ErrNoDevice returns what ip prints for a name that is no link:
// `Cannot find device "NAME"` (ENODEV).
func ErrNoDevice(name string) *Error {
	return Errorf(syscall.ENODEV, "Cannot find device %q", name)
}

// ExtAck returns the error ip prints for a kernel extended-ack message:
// "Error: MSG." with errno.
func ExtAck(errno syscall.Errno, msg string) *Error {
	return &Error{Code: int(errno), Message: "Error: " + msg + "."}
}

// Strerror returns glibc's strerror text for errno ("File exists").
func Strerror(errno syscall.Errno) string {
	s := errno.Error()
	if s == "" {
		return s
	}
	// Go's table is glibc's with the first letter lowered.
	return strings.ToUpper(s[:1]) + s[1:]
}

// Rtnetlink returns what ip prints for a bare errno: "RTNETLINK answers:
// File exists".
func Rtnetlink(errno syscall.Errno) *Error {
	return &Error{Code: int(errno), Message: "RTNETLINK answers: " + Strerror(errno)}
}

// ErrorOf converts err into an Error with iproute2's wording:
//
//   - an *Error is returned as is;
//   - config's grammar errors (ErrArgument, ErrDuplicate, ErrIncomplete,
//     ErrUnknownKeyword, ErrHelp) keep their text, which is already
//     iproute2's, and are marked Usage;
//   - *fdb.OpError keeps its text ("RTNETLINK answers: …" or "Error: …."),
//     with its errno;
//   - config's validation errors (ErrInvalid) are printed as the kernel's
//     extended ack, "Error: MSG.", except iproute2's own checks, which
//     start with "vxlan:" and print as they are;
//   - refused changes (config.ErrCannotChange) are extended acks with
//     EOPNOTSUPP;
//   - any other error carrying a syscall.Errno is "RTNETLINK answers:
//     strerror", unless its text already starts with "Error:" or
//     "RTNETLINK";
//   - anything else keeps its text, with EIO.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	msg := err.Error()
	switch {
	case errors.Is(err, config.ErrHelp), errors.Is(err, config.ErrIncomplete),
		errors.Is(err, config.ErrArgument), errors.Is(err, config.ErrDuplicate),
		errors.Is(err, config.ErrUnknownKeyword):
		return &Error{Code: int(syscall.EINVAL), Message: msg, Usage: true}
	}
	var oe *fdb.OpError
	if errors.As(err, &oe) {
		return &Error{Code: int(errnoOf(err, syscall.EINVAL)), Message: msg}
	}
	if strings.HasPrefix(msg, "Error:") || strings.HasPrefix(msg, "RTNETLINK answers:") {
		return &Error{Code: int(errnoOf(err, syscall.EINVAL)), Message: msg}
	}
	switch {
	case errors.Is(err, config.ErrCannotChange):
		return ExtAck(errnoOf(err, syscall.EOPNOTSUPP), msg)
	case errors.Is(err, config.ErrInvalid):
		errno := errnoOf(err, syscall.EINVAL)
		if errors.Is(err, config.ErrVNIRange) {
			errno = syscall.ERANGE
		}
		if strings.HasPrefix(msg, "vxlan:") {
			return &Error{Code: int(errno), Message: msg}
		}
		return ExtAck(errno, strings.TrimSuffix(msg, "."))
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return Rtnetlink(errno)
	}
	return &Error{Code: int(syscall.EIO), Message: msg}
}

// errnoOf returns the syscall.Errno in err's chain, or def.
func errnoOf(err error, def syscall.Errno) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return def
}
