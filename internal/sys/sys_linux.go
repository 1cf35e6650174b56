package sys

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Address families, socket types and protocols used by vtep.
const (
	AF_INET  = unix.AF_INET
	AF_INET6 = unix.AF_INET6

	IPPROTO_UDP = unix.IPPROTO_UDP
	IPPROTO_RAW = unix.IPPROTO_RAW
)

// Socket option levels and names (Linux values).
const (
	SOL_SOCKET = unix.SOL_SOCKET
	SOL_IP     = unix.SOL_IP
	SOL_IPV6   = unix.SOL_IPV6
	SOL_UDP    = unix.SOL_UDP

	SO_REUSEADDR     = unix.SO_REUSEADDR
	SO_REUSEPORT     = unix.SO_REUSEPORT
	SO_RCVBUF        = unix.SO_RCVBUF
	SO_SNDBUF        = unix.SO_SNDBUF
	SO_RCVBUFFORCE   = unix.SO_RCVBUFFORCE
	SO_SNDBUFFORCE   = unix.SO_SNDBUFFORCE
	SO_NO_CHECK      = unix.SO_NO_CHECK
	SO_BINDTODEVICE  = unix.SO_BINDTODEVICE
	SO_BINDTOIFINDEX = unix.SO_BINDTOIFINDEX

	IP_TOS              = unix.IP_TOS
	IP_TTL              = unix.IP_TTL
	IP_PKTINFO          = unix.IP_PKTINFO
	IP_RECVTOS          = unix.IP_RECVTOS
	IP_RECVTTL          = unix.IP_RECVTTL
	IP_MTU_DISCOVER     = unix.IP_MTU_DISCOVER
	IP_MTU              = unix.IP_MTU
	IP_PMTUDISC_DONT    = unix.IP_PMTUDISC_DONT
	IP_PMTUDISC_DO      = unix.IP_PMTUDISC_DO
	IP_HDRINCL          = unix.IP_HDRINCL
	IP_MULTICAST_IF     = unix.IP_MULTICAST_IF
	IP_MULTICAST_LOOP   = unix.IP_MULTICAST_LOOP
	IP_ADD_MEMBERSHIP   = unix.IP_ADD_MEMBERSHIP
	IP_DROP_MEMBERSHIP  = unix.IP_DROP_MEMBERSHIP
	IPV6_V6ONLY         = unix.IPV6_V6ONLY
	IPV6_TCLASS         = unix.IPV6_TCLASS
	IPV6_HOPLIMIT       = unix.IPV6_HOPLIMIT
	IPV6_PKTINFO        = unix.IPV6_PKTINFO
	IPV6_RECVTCLASS     = unix.IPV6_RECVTCLASS
	IPV6_RECVHOPLIMIT   = unix.IPV6_RECVHOPLIMIT
	IPV6_RECVPKTINFO    = unix.IPV6_RECVPKTINFO
	IPV6_MTU_DISCOVER   = unix.IPV6_MTU_DISCOVER
	IPV6_MTU            = unix.IPV6_MTU
	IPV6_PMTUDISC_DONT  = unix.IPV6_PMTUDISC_DONT
	IPV6_PMTUDISC_DO    = unix.IPV6_PMTUDISC_DO
	IPV6_DONTFRAG       = unix.IPV6_DONTFRAG
	IPV6_HDRINCL        = unix.IPV6_HDRINCL
	IPV6_MULTICAST_IF   = unix.IPV6_MULTICAST_IF
	IPV6_MULTICAST_LOOP = unix.IPV6_MULTICAST_LOOP
	IPV6_MULTICAST_HOPS = unix.IPV6_MULTICAST_HOPS
	IPV6_MULTICAST_ALL  = unix.IPV6_MULTICAST_ALL
	IPV6_FREEBIND       = unix.IPV6_FREEBIND
	IP_MULTICAST_TTL    = unix.IP_MULTICAST_TTL
	IP_MULTICAST_ALL    = unix.IP_MULTICAST_ALL
	IPV6_JOIN_GROUP     = unix.IPV6_JOIN_GROUP
	IPV6_LEAVE_GROUP    = unix.IPV6_LEAVE_GROUP
	// IPV6_FLOWINFO_SEND lets sendmsg take the flow label from sin6_flowinfo
	// (include/uapi/linux/in6.h).
	IPV6_FLOWINFO_SEND = 33
	// IPV6_FLOWINFO asks recvmsg for the flow label (a 4-byte __be32
	// flowinfo control message of the same type).
	IPV6_FLOWINFO = 11
	// IPV6_AUTOFLOWLABEL turns the kernel's automatic flow labels off
	// (0) or on for a socket.
	IPV6_AUTOFLOWLABEL = 70

	UDP_SEGMENT      = unix.UDP_SEGMENT
	UDP_GRO          = unix.UDP_GRO
	UDP_NO_CHECK6_TX = unix.UDP_NO_CHECK6_TX
	UDP_NO_CHECK6_RX = unix.UDP_NO_CHECK6_RX

	MSG_TRUNC    = unix.MSG_TRUNC
	MSG_CTRUNC   = unix.MSG_CTRUNC
	MSG_DONTWAIT = unix.MSG_DONTWAIT
)

// Errno values callers test for.
var (
	EAGAIN        error = unix.EAGAIN
	EINTR         error = unix.EINTR
	EIO           error = unix.EIO
	EMSGSIZE      error = unix.EMSGSIZE
	EINVAL        error = unix.EINVAL
	ENOPROTOOPT   error = unix.ENOPROTOOPT
	EADDRINUSE    error = unix.EADDRINUSE
	EPERM         error = unix.EPERM
	ECONNREFUSED  error = unix.ECONNREFUSED
	EADDRNOTAVAIL error = unix.EADDRNOTAVAIL
	EBADF         error = unix.EBADF
	ENOTSOCK      error = unix.ENOTSOCK
	EFAULT        error = unix.EFAULT
)

// TAP/TUN constants (include/uapi/linux/if_tun.h).
const (
	IFF_TAP         = unix.IFF_TAP
	IFF_NO_PI       = unix.IFF_NO_PI
	IFF_VNET_HDR    = unix.IFF_VNET_HDR
	IFF_MULTI_QUEUE = unix.IFF_MULTI_QUEUE

	TUN_F_CSUM = unix.TUN_F_CSUM
	TUN_F_TSO4 = unix.TUN_F_TSO4
	TUN_F_TSO6 = unix.TUN_F_TSO6
	TUN_F_USO4 = unix.TUN_F_USO4
	TUN_F_USO6 = unix.TUN_F_USO6
)

// SetTAPOffload issues TUNSETOFFLOAD with flags on a TAP fd.
func SetTAPOffload(fd uintptr, flags int) error {
	return ioctl(fd, unix.TUNSETOFFLOAD, uintptr(flags))
}

// SetVnetHdrSize issues TUNSETVNETHDRSZ on a TAP fd.
func SetVnetHdrSize(fd uintptr, size int) error {
	v := int32(size)
	return ioctl(fd, unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&v)))
}

// TAPFlags returns the IFF_* flags of the TAP attached to fd (TUNGETIFF).
func TAPFlags(fd uintptr) (uint16, error) {
	var req [40]byte // struct ifreq
	if err := ioctl(fd, unix.TUNGETIFF, uintptr(unsafe.Pointer(&req[0]))); err != nil {
		return 0, err
	}
	return *(*uint16)(unsafe.Pointer(&req[16])), nil
}

func ioctl(fd, req, arg uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, arg)
	if e != 0 {
		return e
	}
	return nil
}

// Socket creates a non-blocking, close-on-exec socket and returns it as an
// *os.File registered with Go's poller. setup runs on the raw fd before the
// file is created (socket options, bind); on error the fd is closed.
func Socket(family, typ, proto int, name string, setup func(fd int) error) (*os.File, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// SocketConn is Socket returning the RawConn to do the socket's I/O
// through and what closes it: with inThread a PollConn that owns the
// descriptor, which never enters Go's poller; else the os.File's.
func SocketConn(family, typ, proto int, name string, setup func(fd int) error, inThread bool) (syscall.RawConn, io.Closer, error) {
	if !inThread {
		f, err := Socket(family, typ, proto, name, setup)
		if err != nil {
			return nil, nil, err
		}
		return RawConnOf(f, false)
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return nil, nil, err
		}
	}
	c, err := NewPollConn(fd)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return c, c, nil
}

// Socket types.
const (
	SOCK_DGRAM = unix.SOCK_DGRAM
	SOCK_RAW   = unix.SOCK_RAW
)

// SendmsgTo sends the datagram p with ancillary data oob to (dst, port),
// scope being the zone of a link-local IPv6 destination, without blocking
// (MSG_DONTWAIT; a raw system call, see below). It does not allocate
// unless it fails.
func SendmsgTo(fd int, p, oob []byte, dst netip.Addr, port uint16, scope int) error {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
		msg.Iov = &iov
		msg.SetIovlen(1)
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	if dst.Is4() {
		sa4.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], port)
		sa4.Addr = dst.As4()
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&sa4)), unix.SizeofSockaddrInet4
	} else {
		sa6.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa6.Port))[:], port)
		sa6.Addr = dst.As16()
		sa6.Scope_id = uint32(scope)
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&sa6)), unix.SizeofSockaddrInet6
	}
	_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
	if e != 0 {
		return os.NewSyscallError("sendmsg", e)
	}
	return nil
}

// SetInt sets an integer socket option.
func SetInt(fd, level, opt, v int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, level, opt, v))
}

// GetInt reads an integer socket option.
func GetInt(fd, level, opt int) (int, error) {
	v, err := unix.GetsockoptInt(fd, level, opt)
	return v, os.NewSyscallError("getsockopt", err)
}

// SetString sets a string socket option (SO_BINDTODEVICE).
func SetString(fd, level, opt int, s string) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptString(fd, level, opt, s))
}

// Bind4 binds fd to addr:port (addr all-zero for the wildcard).
func Bind4(fd int, addr [4]byte, port uint16) error {
	return os.NewSyscallError("bind", unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr}))
}

// Bind6 binds fd to [addr]:port.
func Bind6(fd int, addr [16]byte, port uint16) error {
	return os.NewSyscallError("bind", unix.Bind(fd, &unix.SockaddrInet6{Port: int(port), Addr: addr}))
}

// Connect4 connects fd to addr:port.
func Connect4(fd int, addr [4]byte, port uint16) error {
	return os.NewSyscallError("connect", unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr}))
}

// Connect6 connects fd to [addr]:port, with the scope (interface index)
// scope for a link-local addr, or 0.
func Connect6(fd int, addr [16]byte, port uint16, scope uint32) error {
	return os.NewSyscallError("connect", unix.Connect(fd, &unix.SockaddrInet6{Port: int(port), Addr: addr, ZoneId: scope}))
}

// LocalPort returns the port fd is bound to.
func LocalPort(fd int) (uint16, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return uint16(sa.Port), nil
	case *unix.SockaddrInet6:
		return uint16(sa.Port), nil
	}
	return 0, errors.New("sys: unexpected socket address type")
}

// JoinGroup4 joins (or with join false, leaves) the IPv4 group on ifindex.
func JoinGroup4(fd int, group [4]byte, ifindex int, join bool) error {
	mreq := &unix.IPMreqn{Multiaddr: group, Ifindex: int32(ifindex)}
	opt, name := unix.IP_ADD_MEMBERSHIP, "setsockopt IP_ADD_MEMBERSHIP"
	if !join {
		opt, name = unix.IP_DROP_MEMBERSHIP, "setsockopt IP_DROP_MEMBERSHIP"
	}
	return os.NewSyscallError(name, unix.SetsockoptIPMreqn(fd, unix.SOL_IP, opt, mreq))
}

// JoinGroup6 joins (or leaves) the IPv6 group on ifindex.
func JoinGroup6(fd int, group [16]byte, ifindex int, join bool) error {
	mreq := &unix.IPv6Mreq{Multiaddr: group, Interface: uint32(ifindex)}
	opt, name := unix.IPV6_JOIN_GROUP, "setsockopt IPV6_JOIN_GROUP"
	if !join {
		opt, name = unix.IPV6_LEAVE_GROUP, "setsockopt IPV6_LEAVE_GROUP"
	}
	return os.NewSyscallError(name, unix.SetsockoptIPv6Mreq(fd, unix.SOL_IPV6, opt, mreq))
}

// SetMulticastIf4 sets IP_MULTICAST_IF to ifindex.
func SetMulticastIf4(fd, ifindex int) error {
	return os.NewSyscallError("setsockopt IP_MULTICAST_IF",
		unix.SetsockoptIPMreqn(fd, unix.SOL_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}))
}

// Iovec, Msghdr and Mmsghdr are the kernel's structures.
type (
	Iovec   = unix.Iovec
	Msghdr  = unix.Msghdr
	Mmsghdr = unix.Mmsghdr
)

// Cmsghdr sizes.
var (
	CmsgHdrLen = unix.CmsgLen(0)
)

// CmsgSpace returns the space a control message with n data bytes takes.
func CmsgSpace(n int) int { return unix.CmsgSpace(n) }

// CmsgLen returns the cmsg_len value for n data bytes.
func CmsgLen(n int) int { return unix.CmsgLen(n) }

// SockaddrInet4/6 sizes and the raw layouts used for msg_name.
type (
	RawSockaddrInet4 = unix.RawSockaddrInet4
	RawSockaddrInet6 = unix.RawSockaddrInet6
)

// Sizes of raw sockaddrs.
const (
	SizeofSockaddrInet4 = unix.SizeofSockaddrInet4
	SizeofSockaddrInet6 = unix.SizeofSockaddrInet6
)

// The I/O calls below (Recvmmsg, Sendmmsg, Readv, Writev, Read, Write) are
// raw system calls: they do not tell the Go scheduler that the thread is in
// a system call (entersyscall/exitsyscall). They are only for non-blocking
// fds under the poller (RawConn Read/Write callbacks), where a call never
// sleeps: it returns EAGAIN instead, and the goroutine parks in the poller.
// Skipping the scheduler hooks saves their cost on every call and, more
// importantly, does not wake the runtime's sysmon thread, which every
// syscall entry does after the process was idle for a while: on a small
// virtual machine that extra futex wakeup (an IPI to an idle vCPU) sits on
// the critical path of every packet after an idle period and costs tens of
// microseconds of latency. Work a call does in the kernel (a TAP write that
// runs the host's TCP receive path, a sendmmsg that delivers to a local
// socket) is CPU work the thread would do anyway.

// Recvmmsg calls recvmmsg(2) on fd with the given headers, without blocking.
func Recvmmsg(fd uintptr, msgs []Mmsghdr, flags int) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Sendmmsg calls sendmmsg(2) on fd with the given headers.
func Sendmmsg(fd uintptr, msgs []Mmsghdr, flags int) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// Readv calls readv(2) on fd.
func Readv(fd uintptr, iov []Iovec) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Writev calls writev(2) on fd.
func Writev(fd uintptr, iov []Iovec) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Read calls read(2) on fd.
func Read(fd uintptr, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Write calls write(2) on fd.
func Write(fd uintptr, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// SetIovec points iov at b.
func SetIovec(iov *Iovec, b []byte) {
	iov.Base = unsafe.SliceData(b)
	iov.SetLen(len(b))
}

// IsErrno reports whether err is the errno e.
func IsErrno(err error, e error) bool { return errors.Is(err, e) }

// Errno converts err to a syscall.Errno when it is one (0 otherwise).
func Errno(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// KernelAtLeast reports whether the running kernel release is >= major.minor.
func KernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	maj, mnr, i := 0, 0, 0
	r := u.Release[:]
	for i < len(r) && r[i] >= '0' && r[i] <= '9' {
		maj = maj*10 + int(r[i]-'0')
		i++
	}
	if i < len(r) && r[i] == '.' {
		i++
	}
	for i < len(r) && r[i] >= '0' && r[i] <= '9' {
		mnr = mnr*10 + int(r[i]-'0')
		i++
	}
	return maj > major || (maj == major && mnr >= minor)
}
