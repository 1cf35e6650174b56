package kernelnet

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/nexthop"
)

// The kernel's nexthop objects (`ip nexthop`) are read over raw
// NETLINK_ROUTE sockets: github.com/vishvananda/netlink has no nexthop API.
// The messages are parsed by package nexthop.

// DumpNexthops returns every nexthop of the calling thread's network
// namespace (`ip nexthop show`), as RTM_GETNEXTHOP with NLM_F_DUMP reports
// them, ordered by ID. A dump interrupted by a concurrent change
// (NLM_F_DUMP_INTR, or EINTR) is retried a few times. On a kernel without
// nexthop support, which answers EOPNOTSUPP or EINVAL (without an
// extended-ack message), it returns no nexthops and no error.
func DumpNexthops() ([]nexthop.Nexthop, error) {
	c, err := dialRoute()
	if err != nil {
		return nil, fmt.Errorf("kernelnet: dump nexthops: %w", err)
	}
	defer c.close()
	nhs, err := c.nexthops(dumpTries)
	if err != nil {
		return nil, fmt.Errorf("kernelnet: dump nexthops: %w", err)
	}
	return nhs, nil
}

// WatchNexthops calls fn with every nexthop of the calling thread's network
// namespace, and again with all of them each time they change, from one
// goroutine, never concurrently, until ctx is done. It returns once the
// first call of fn has returned, or with the error that kept it from
// watching.
//
// The kernel's notifications (RTM_NEWNEXTHOP, RTM_DELNEXTHOP) only trigger
// a new dump: the notifications already queued are read first, so a burst
// of changes costs one dump, and a lost notification (the socket's receive
// buffer overflowed, ENOBUFS) costs nothing more. A dump interrupted by a
// change is dropped; that change's notification brings the next one.
// Deleting a nexthop can change or delete the groups it was a member of;
// every call of fn has the full list. Resilient groups come with their
// bucket tables, which the kernel changes without a notification as
// buckets go idle: while there are any, they are dumped again every second,
// and fn is called when they changed.
//
// Both sockets, the one subscribed to RTNLGRP_NEXTHOP and the one the
// dumps go over, are created by WatchNexthops in the calling thread's
// namespace and belong to it for their whole life; the goroutine that reads
// them may run on any thread. After any other read or dump error, onError
// (may be nil) hears about it, and a second later the sockets are made
// again in that same namespace and fn hears the full list.
//
// When ctx is done the sockets are closed and the goroutine ends; fn is not
// called once it has seen ctx done. On a kernel without nexthop support fn
// is called once, with no nexthops, and there is nothing to watch.
func WatchNexthops(ctx context.Context, fn func([]nexthop.Nexthop), onError func(error)) error {
	_, err := watchNexthops(ctx, fn, onError)
	return err
}

// watchNexthops is WatchNexthops; it returns the watcher (nil without
// nexthop support) for tests.
func watchNexthops(ctx context.Context, fn func([]nexthop.Nexthop), onError func(error)) (*dumpWatch[[]nexthop.Nexthop], error) {
	w := &dumpWatch[[]nexthop.Nexthop]{
		what:   "nexthops",
		groups: []uint32{nexthop.RTNLGroup},
		dump:   (*nlConn).nexthops,
		poll: func(nhs []nexthop.Nexthop) bool {
			return slices.ContainsFunc(nhs, func(nh nexthop.Nexthop) bool { return nh.Resilient })
		},
	}
	err := w.start(ctx, fn, onError)
	if errors.Is(err, errNoNexthops) {
		fn(nil)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// errNoNexthops means the kernel has no nexthop support.
var errNoNexthops = errors.New("kernelnet: kernel has no nexthop support")

// bucketPoll is how often the buckets of resilient groups are dumped.
const bucketPoll = time.Second

// nlConn is a NETLINK_ROUTE socket under Go's poller, so that closing it
// makes a blocked read return.
type nlConn struct {
	f   *os.File
	rc  syscall.RawConn
	seq uint32
	buf []byte
}

// nlBufSize is the receive buffer of an nlConn. The kernel fills a dump's
// datagrams up to the size of the reader's buffer, but no more than 32 KiB
// (netlink_recvmsg, netlink_dump).
const nlBufSize = 64 << 10

// dialRoute opens a NETLINK_ROUTE socket in the calling thread's network
// namespace, joined to the multicast groups. Joining with
// NETLINK_ADD_MEMBERSHIP works for groups above 31, which the bind(2)
// bitmask cannot name. It returns errNoNexthops when the kernel does not
// know group RTNLGRP_NEXTHOP.
func dialRoute(groups ...uint32) (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// Best effort: extended acks put the kernel's reason into errors.
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	for _, group := range groups {
		err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(group))
		if err != nil {
			unix.Close(fd)
			if group == nexthop.RTNLGroup && err == unix.EINVAL {
				// The group is beyond the kernel's RTNLGRP_MAX.
				return nil, errNoNexthops
			}
			return nil, os.NewSyscallError("join netlink group", err)
		}
	}
	f := os.NewFile(uintptr(fd), "netlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &nlConn{f: f, rc: rc, buf: make([]byte, nlBufSize)}, nil
}

// close closes c; it may be called more than once, and on nil.
func (c *nlConn) close() {
	if c != nil {
		c.f.Close()
	}
}

// send sends one request to the kernel.
func (c *nlConn) send(b []byte) error {
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	return os.NewSyscallError("sendto", serr)
}

// recv returns the next datagram from the kernel, waiting for one.
// Datagrams from other sockets are dropped.
func (c *nlConn) recv() ([]byte, error) {
	var (
		n    int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			var from unix.Sockaddr
			n, from, rerr = unix.Recvfrom(int(fd), c.buf, unix.MSG_TRUNC)
			switch {
			case rerr == unix.EINTR:
				continue
			case rerr == unix.EAGAIN:
				return false
			case rerr != nil:
				return true
			}
			if sa, ok := from.(*unix.SockaddrNetlink); ok && sa.Pid != 0 {
				continue
			}
			return true
		}
	})
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, os.NewSyscallError("recvfrom", rerr)
	}
	if n > len(c.buf) {
		return nil, fmt.Errorf("netlink message of %d bytes truncated to %d", n, len(c.buf))
	}
	return c.buf[:n], nil
}

// wait waits for at least one notification, then reads every one already
// queued. A receive-buffer overflow (ENOBUFS) counts as a notification: the
// kernel dropped some.
func (c *nlConn) wait() error {
	var rerr error
	got := false
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := unix.Recvfrom(int(fd), c.buf, 0)
			switch err {
			case nil, unix.ENOBUFS:
				got = true
			case unix.EINTR:
			case unix.EAGAIN:
				return got
			default:
				rerr = err
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return os.NewSyscallError("recvfrom", rerr)
}

// dumpTries bounds the attempts at a dump that keeps being interrupted.
const dumpTries = 10

// nexthops dumps the nexthops over c (see [DumpNexthops]), trying up to
// tries times while the dump is interrupted.
func (c *nlConn) nexthops(tries int) ([]nexthop.Nexthop, error) {
	var nhs []nexthop.Nexthop
	var err error
	for range tries {
		nhs, err = c.dumpNexthops()
		if !errors.Is(err, errDumpInterrupted) && !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if ne, ok := errors.AsType[*nlError](err); ok && ne.unsupported() {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(nhs, func(a, b nexthop.Nexthop) int { return cmp.Compare(a.ID, b.ID) })
	return nhs, nil
}

// dumpNexthops makes one RTM_GETNEXTHOP dump and, when it has resilient
// groups, an RTM_GETNEXTHOPBUCKET dump for their bucket tables. A kernel
// that cannot dump buckets leaves them unknown.
func (c *nlConn) dumpNexthops() ([]nexthop.Nexthop, error) {
	d, err := c.dump(nexthop.RTMGetNexthop)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(d.nhs, func(nh nexthop.Nexthop) bool { return nh.Resilient }) {
		b, err := c.dump(nexthop.RTMGetNexthopBucket)
		if ne, ok := errors.AsType[*nlError](err); ok && ne.unsupported() {
			return d.nhs, nil
		}
		if err != nil {
			return nil, err
		}
		nexthop.AttachBuckets(d.nhs, b.buckets)
	}
	return d.nhs, nil
}

// dump makes one dump request of type typ, for every object (a zeroed
// struct nhmsg), and collects the reply.
func (c *nlConn) dump(typ uint16) (*nexthopDump, error) {
	d := &nexthopDump{}
	if err := c.request(typ, make([]byte, nexthop.MessageSize), d.msg); err != nil {
		return nil, err
	}
	return d, nil
}

// request sends a dump request of type typ with payload body and calls
// onMsg with every message of the reply until NLMSG_DONE.
func (c *nlConn) request(typ uint16, body []byte, onMsg func(typ uint16, payload []byte) error) error {
	c.seq++
	req := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	req = append(req, body...)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], c.seq)
	if err := c.send(req); err != nil {
		return err
	}
	d := &dumpReply{seq: c.seq, onMsg: onMsg}
	for {
		b, err := c.recv()
		if err != nil {
			return err
		}
		done, err := d.add(b)
		if err != nil {
			// Whatever is left of this dump is dropped by the next
			// one, by its sequence number.
			return err
		}
		if done {
			return nil
		}
	}
}

// errDumpInterrupted means that the objects changed during a dump
// (NLM_F_DUMP_INTR): the dump may be incomplete.
var errDumpInterrupted = errors.New("dump interrupted by a concurrent change")

// nexthopDump collects the reply to one nexthop dump request.
type nexthopDump struct {
	seq     uint32 // for tests of add
	nhs     []nexthop.Nexthop
	buckets []nexthop.Bucket
	reply   *dumpReply
}

// add reads one datagram of the reply to request seq (see dumpReply.add).
func (d *nexthopDump) add(b []byte) (done bool, err error) {
	if d.reply == nil {
		d.reply = &dumpReply{seq: d.seq, onMsg: d.msg}
	}
	return d.reply.add(b)
}

// msg takes one message of a nexthop or bucket dump.
func (d *nexthopDump) msg(typ uint16, payload []byte) error {
	switch typ {
	case nexthop.RTMNewNexthop:
		nh, err := nexthop.ParseMessage(payload)
		if err != nil {
			return fmt.Errorf("RTM_NEWNEXTHOP message % x: %w", payload, err)
		}
		d.nhs = append(d.nhs, nh)
	case nexthop.RTMNewNexthopBucket:
		bk, err := nexthop.ParseBucket(payload)
		if err != nil {
			return fmt.Errorf("RTM_NEWNEXTHOPBUCKET message % x: %w", payload, err)
		}
		d.buckets = append(d.buckets, bk)
	}
	return nil
}

// dumpReply reads the reply to one dump request.
type dumpReply struct {
	seq         uint32
	interrupted bool
	onMsg       func(typ uint16, payload []byte) error
}

// add reads one datagram of the reply and reports whether it ended the
// dump. Messages with another sequence number, left over from an earlier
// dump, are skipped; the others, apart from NLMSG_DONE and NLMSG_ERROR, go
// to onMsg, whose error ends the dump.
func (d *dumpReply) add(b []byte) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return true, fmt.Errorf("netlink message header truncated to %d bytes", len(b))
		}
		mlen := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		seq := binary.NativeEndian.Uint32(b[8:12])
		if mlen < unix.NLMSG_HDRLEN || mlen > len(b) {
			return true, fmt.Errorf("netlink message of type %d claims %d bytes, has %d", typ, mlen, len(b))
		}
		payload := b[unix.NLMSG_HDRLEN:mlen]
		b = b[min(nlmsgAlign(mlen), len(b)):]
		if seq != d.seq {
			continue
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			d.interrupted = true
		}
		switch typ {
		case unix.NLMSG_DONE:
			// A dump that fails part way ends with the error here.
			if len(payload) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(payload)); errno < 0 {
					return true, newNLError(errno, flags, payload[4:])
				}
			}
			if d.interrupted {
				return true, errDumpInterrupted
			}
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return true, errors.New("netlink error message truncated")
			}
			errno := int32(binary.NativeEndian.Uint32(payload))
			if errno == 0 {
				// An acknowledgement; a dump ends with NLMSG_DONE.
				continue
			}
			return true, newNLError(errno, flags, errorTLVs(flags, payload))
		default:
			if err := d.onMsg(typ, payload); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// errorTLVs returns the extended-ack attributes of an NLMSG_ERROR payload:
// they follow the error code and the request (its header only when the
// kernel capped it).
func errorTLVs(flags uint16, payload []byte) []byte {
	p := payload[4:]
	if len(p) < unix.NLMSG_HDRLEN {
		return nil
	}
	skip := unix.NLMSG_HDRLEN
	if flags&unix.NLM_F_CAPPED == 0 {
		skip = nlmsgAlign(int(binary.NativeEndian.Uint32(p[0:4])))
	}
	if skip > len(p) {
		return nil
	}
	return p[skip:]
}

// nlError is an error the kernel answered a request with (NLMSG_ERROR, or
// the NLMSG_DONE of a failed dump), with its extended-ack message if any.
type nlError struct {
	Errno syscall.Errno
	// Msg is NLMSGERR_ATTR_MSG, or "".
	Msg string
}

// newNLError builds an nlError from a negative error code and the
// extended-ack attributes tlvs, read when flags has NLM_F_ACK_TLVS.
func newNLError(errno int32, flags uint16, tlvs []byte) *nlError {
	e := &nlError{Errno: syscall.Errno(-errno)}
	if flags&unix.NLM_F_ACK_TLVS == 0 {
		return e
	}
	for len(tlvs) >= 4 {
		alen := int(binary.NativeEndian.Uint16(tlvs[0:2]))
		typ := binary.NativeEndian.Uint16(tlvs[2:4])
		if alen < 4 || alen > len(tlvs) {
			break
		}
		if typ == unix.NLMSGERR_ATTR_MSG {
			v := tlvs[4:alen]
			if i := slices.Index(v, 0); i >= 0 {
				v = v[:i]
			}
			e.Msg = string(v)
		}
		tlvs = tlvs[min(nlmsgAlign(alen), len(tlvs)):]
	}
	return e
}

func (e *nlError) Error() string {
	if e.Msg != "" {
		return e.Errno.Error() + ": " + e.Msg
	}
	return e.Errno.Error()
}

// Unwrap returns the syscall.Errno.
func (e *nlError) Unwrap() error { return e.Errno }

// unsupported reports whether e is how a kernel without nexthop support
// answers RTM_GETNEXTHOP: EOPNOTSUPP (unknown message type), or EINVAL
// without an extended-ack message (with one, the kernel understood the
// request and rejected it).
func (e *nlError) unsupported() bool {
	return e.Errno == syscall.EOPNOTSUPP || (e.Errno == syscall.EINVAL && e.Msg == "")
}
