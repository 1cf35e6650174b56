package kernelnet

import (
	"context"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vtepd/vtep/header"
)

// LinkEvent is an RTM_NEWLINK or RTM_DELLINK notification.
type LinkEvent struct {
	Link    Link
	Deleted bool
	// Resync announces that the subscription was lost and is being made
	// again: interfaces deleted in between are not reported, and the ones
	// that exist follow as ordinary events. Link is empty.
	Resync bool
}

// NeighEvent is an RTM_NEWNEIGH or RTM_DELNEIGH notification for an IPv4
// or IPv6 neighbour (ARP or ND cache entry).
type NeighEvent struct {
	Ifindex int
	IP      netip.Addr
	MAC     header.MAC
	// State holds NUD_* bits.
	State   uint16
	Router  bool
	Deleted bool
	// Resync announces a new subscription: what the consumer holds may be
	// stale, and the current entries follow.
	Resync bool
}

// AddrEvent is an RTM_NEWADDR or RTM_DELADDR notification.
type AddrEvent struct {
	Addr
	Deleted bool
	// Resync announces a new subscription; the current addresses follow.
	Resync bool
}

// subscription is one netlink subscription: a channel of updates and the
// channel that ends it.
type subscription[U any] struct {
	ch   chan U
	done chan struct{}
}

// watchBuffer is the length of each subscription's channel.
const watchBuffer = 1024

// retryDelay is how long a failed resubscription waits before the next
// attempt.
const retryDelay = time.Second

// waitRetry waits retryDelay; it returns false, at once, when ctx is done
// first.
func waitRetry(ctx context.Context) bool {
	t := time.NewTimer(retryDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watch runs a subscription until ctx is done, resubscribing (with a
// resync event) when the kernel ends it, for instance after the socket's
// receive buffer overflowed. It returns once the first subscription is
// made, or with its error.
func watch[U any](ctx context.Context, start func(s subscription[U], onErr func(error)) error,
	handle func(U), resync func(), onError func(error)) error {
	if onError == nil {
		onError = func(error) {}
	}
	open := func() (subscription[U], error) {
		s := subscription[U]{ch: make(chan U, watchBuffer), done: make(chan struct{})}
		if err := start(s, onError); err != nil {
			close(s.done)
			return s, err
		}
		return s, nil
	}
	s, err := open()
	if err != nil {
		return err
	}
	go func() {
		for {
			if !drain(ctx, s, handle) {
				return
			}
			for {
				resync()
				if s, err = open(); err == nil {
					break
				}
				onError(err)
				if !waitRetry(ctx) {
					return
				}
			}
		}
	}()
	return nil
}

// drain handles updates until the subscription ends (false if because ctx
// is done).
func drain[U any](ctx context.Context, s subscription[U], handle func(U)) bool {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return false
		case u, ok := <-s.ch:
			if !ok {
				return ctx.Err() == nil
			}
			handle(u)
		}
	}
}

// WatchLinks calls fn for each interface of the calling thread's network
// namespace and then for each change, from one goroutine, until ctx is
// done. onError (may be nil) hears about lost subscriptions.
func WatchLinks(ctx context.Context, fn func(LinkEvent), onError func(error)) error {
	return watch(ctx, func(s subscription[netlink.LinkUpdate], cb func(error)) error {
		return netlink.LinkSubscribeWithOptions(s.ch, s.done, netlink.LinkSubscribeOptions{
			ListExisting: true, ErrorCallback: cb, ReceiveBufferSize: 1 << 20,
		})
	}, func(u netlink.LinkUpdate) {
		if u.Link == nil {
			return
		}
		ev := LinkEvent{Link: linkOf(u.Link), Deleted: u.Header.Type == syscall.RTM_DELLINK}
		// The update's ifinfomsg carries the flags of this message.
		ev.Link.Flags = u.IfInfomsg.Flags
		fn(ev)
	}, func() { fn(LinkEvent{Resync: true}) }, onError)
}

// WatchNeighs calls fn for each IPv4 and IPv6 neighbour entry and then for
// each change, from one goroutine, until ctx is done.
func WatchNeighs(ctx context.Context, fn func(NeighEvent), onError func(error)) error {
	return watch(ctx, func(s subscription[netlink.NeighUpdate], cb func(error)) error {
		return netlink.NeighSubscribeWithOptions(s.ch, s.done, netlink.NeighSubscribeOptions{
			ListExisting: true, ErrorCallback: cb, ReceiveBufferSize: 1 << 20,
		})
	}, func(u netlink.NeighUpdate) {
		if u.Family != syscall.AF_INET && u.Family != syscall.AF_INET6 {
			return
		}
		ip, ok := netip.AddrFromSlice(u.IP)
		if !ok {
			return
		}
		ev := NeighEvent{
			Ifindex: u.LinkIndex, IP: ip.Unmap(), State: uint16(u.State),
			Router: u.Flags&ntfRouter != 0, Deleted: u.Type == syscall.RTM_DELNEIGH,
		}
		if len(u.HardwareAddr) == 6 {
			copy(ev.MAC[:], u.HardwareAddr)
		}
		fn(ev)
	}, func() { fn(NeighEvent{Resync: true}) }, onError)
}

// WatchAddrs calls fn for each address and then for each change, from one
// goroutine, until ctx is done.
func WatchAddrs(ctx context.Context, fn func(AddrEvent), onError func(error)) error {
	return watch(ctx, func(s subscription[netlink.AddrUpdate], cb func(error)) error {
		return netlink.AddrSubscribeWithOptions(s.ch, s.done, netlink.AddrSubscribeOptions{
			ListExisting: true, ErrorCallback: cb, ReceiveBufferSize: 1 << 20,
		})
	}, func(u netlink.AddrUpdate) {
		p, ok := prefixOf(&u.LinkAddress)
		if !ok {
			return
		}
		fn(AddrEvent{Addr: Addr{Ifindex: u.LinkIndex, Prefix: p}, Deleted: !u.NewAddr})
	}, func() { fn(AddrEvent{Resync: true}) }, onError)
}
