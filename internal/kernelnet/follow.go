package kernelnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/vtepd/vtep/internal/sys"
)

// dumpWatch follows kernel objects of one kind (nexthops, multicast
// routes) by dumping all of them each time a notification says something
// changed. Two NETLINK_ROUTE sockets do it: one joined to the notification
// groups, one that carries the dumps.
//
// The notifications only trigger a new dump: the ones already queued are
// read first, so a burst of changes costs one dump, and a lost
// notification (the socket's receive buffer overflowed, ENOBUFS) costs
// nothing more. A dump interrupted by a change is dropped; that change's
// notification brings the next one. When poll says so of the last dump,
// the objects are also dumped every bucketPoll, and fn hears of them only
// when they changed.
//
// Both sockets are created in the namespace of the thread that calls start
// and belong to it for their whole life; the goroutine that reads them may
// run on any thread. After any other read or dump error, onError hears
// about it, and a second later the sockets are made again in that same
// namespace and fn hears the full state.
type dumpWatch[T any] struct {
	what   string   // for errors: "nexthops"
	groups []uint32 // RTNLGRP_* to join
	// dump dumps the objects, trying up to tries times while the dump is
	// interrupted.
	dump func(c *nlConn, tries int) (T, error)
	// poll reports whether the objects must be dumped again every
	// bucketPoll; nil is never.
	poll func(T) bool

	ns sys.NetNS // the namespace being watched

	mu     sync.Mutex // guards following
	notes  *nlConn    // joined to groups
	dumps  *nlConn    // carries the dumps
	closed bool       // ctx is done: open makes no more sockets
}

// start opens the sockets, dumps, and starts the goroutine that calls fn
// with that dump and then with every change until ctx is done. It returns
// once the first call of fn has returned.
func (w *dumpWatch[T]) start(ctx context.Context, fn func(T), onError func(error)) error {
	if onError == nil {
		onError = func(error) {}
	}
	ns, err := sys.CurrentNetNS()
	if err != nil {
		return fmt.Errorf("kernelnet: watch %s: %w", w.what, err)
	}
	w.ns = ns
	if err := w.open(); err != nil {
		ns.Close()
		if errors.Is(err, errNoNexthops) {
			return err
		}
		return fmt.Errorf("kernelnet: watch %s: %w", w.what, err)
	}
	v, err := w.dump(w.dumps, dumpTries)
	if err != nil {
		w.shutdown()
		ns.Close()
		return fmt.Errorf("kernelnet: watch %s: dump: %w", w.what, err)
	}
	ready := make(chan struct{})
	go w.routine(ctx, v, fn, onError, ready)
	<-ready
	return nil
}

// open makes both sockets in w.ns, the subscription first so that a dump
// made after it misses no change.
func (w *dumpWatch[T]) open() error {
	var notes, dumps *nlConn
	err := w.ns.Do(func() error {
		var err error
		if notes, err = dialRoute(w.groups...); err != nil {
			return err
		}
		dumps, err = dialRoute()
		return err
	})
	if err != nil {
		notes.close()
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		notes.close()
		dumps.close()
		return context.Canceled
	}
	w.notes, w.dumps = notes, dumps
	return nil
}

// closeConns closes the sockets, which makes a blocked read return.
func (w *dumpWatch[T]) closeConns() {
	w.mu.Lock()
	w.notes.close()
	w.dumps.close()
	w.notes, w.dumps = nil, nil
	w.mu.Unlock()
}

// shutdown closes the sockets for good; it runs when ctx is done.
func (w *dumpWatch[T]) shutdown() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.closeConns()
}

// routine calls fn with v, closes ready, then follows the notifications
// until ctx is done. It reopens the sockets after an error.
func (w *dumpWatch[T]) routine(ctx context.Context, v T, fn func(T), onError func(error), ready chan<- struct{}) {
	defer w.ns.Close()
	defer w.shutdown()
	stop := context.AfterFunc(ctx, w.shutdown)
	defer stop()

	fn(v)
	close(ready)
	dumpFirst := false
	for {
		err := w.follow(ctx, fn, v, dumpFirst)
		if ctx.Err() != nil {
			return
		}
		onError(fmt.Errorf("kernelnet: watch %s: %w", w.what, err))
		w.closeConns()
		for {
			if !waitRetry(ctx) {
				return
			}
			err := w.open()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				break
			}
			onError(fmt.Errorf("kernelnet: watch %s: reopen: %w", w.what, err))
		}
		dumpFirst = true
	}
}

// follow waits for notifications and calls fn with a new dump after each
// batch, dumping once before the first wait if dumpFirst, until a read or
// a dump fails (also when ctx is done, since that closes the sockets).
// While w.poll holds for last, the dump fn has seen, it also dumps every
// bucketPoll and calls fn when anything differs.
func (w *dumpWatch[T]) follow(ctx context.Context, fn func(T), last T, dumpFirst bool) error {
	w.mu.Lock()
	notes, dumps := w.notes, w.dumps
	w.mu.Unlock()
	if notes == nil {
		return os.ErrClosed
	}
	for {
		polled := false
		if !dumpFirst {
			var deadline time.Time
			if w.poll != nil && w.poll(last) {
				deadline = time.Now().Add(bucketPoll)
			}
			if err := notes.f.SetReadDeadline(deadline); err != nil {
				return err
			}
			err := notes.wait()
			polled = errors.Is(err, os.ErrDeadlineExceeded)
			if err != nil && !polled {
				return err
			}
		}
		dumpFirst = false
		// No retry: the change that interrupts a dump has been
		// notified, and the next wait returns at once.
		v, err := w.dump(dumps, 1)
		if errors.Is(err, errDumpInterrupted) || errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if polled && reflect.DeepEqual(v, last) {
			continue
		}
		last = v
		fn(v)
	}
}
