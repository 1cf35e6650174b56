package nstest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// TransferResult is the outcome of a [TransferTCP].
type TransferResult struct {
	// SentBytes and ReceivedBytes count the payload each side saw.
	SentBytes, ReceivedBytes int64
	// SentSHA256 and ReceivedSHA256 are the SHA-256 of the bytes written
	// by the sender and of the bytes read by the receiver.
	SentSHA256, ReceivedSHA256 [sha256.Size]byte
	// Elapsed is the time from connect to the receiver's EOF.
	Elapsed time.Duration
}

// OK reports whether the receiver got exactly what was sent.
func (r TransferResult) OK() bool {
	return r.SentBytes == r.ReceivedBytes && r.SentSHA256 == r.ReceivedSHA256
}

// BitsPerSecond is the goodput of the transfer.
func (r TransferResult) BitsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.ReceivedBytes) * 8 / r.Elapsed.Seconds()
}

// TransferTCP sends size bytes of deterministic pseudo-random data (seeded
// by seed) over one TCP connection from a namespace to a listener at dst in
// another, and returns the byte counts and SHA-256 sums seen at both ends.
// dst's port may be 0 to pick a free one. Both sockets are created in their
// namespaces with [NS.Do]; the copying runs in ordinary goroutines. ctx
// bounds the whole transfer.
func TransferTCP(ctx context.Context, from, to *NS, dst netip.AddrPort, size int64, seed uint64) (TransferResult, error) {
	var res TransferResult
	l, err := to.Listen("tcp", dst.String())
	if err != nil {
		return res, fmt.Errorf("nstest: transfer: listen in %s: %w", to.Name, err)
	}
	defer l.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(CommandTimeout)
	}
	l.(*net.TCPListener).SetDeadline(deadline)
	addr := l.Addr().String()

	type recvResult struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	recvc := make(chan recvResult, 1)
	go func() {
		var r recvResult
		defer func() { recvc <- r }()
		c, err := l.Accept()
		if err != nil {
			r.err = fmt.Errorf("accept: %w", err)
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		r.n, r.err = io.Copy(h, c)
		h.Sum(r.sum[:0])
	}()

	start := time.Now()
	c, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		l.Close()
		<-recvc
		return res, fmt.Errorf("nstest: transfer: dial %s from %s: %w", addr, from.Name, err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.Close(); l.Close() })
	defer stop()

	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8(seedBytes(seed)), size)
	res.SentBytes, err = io.CopyBuffer(io.MultiWriter(c, h), src, make([]byte, 128<<10))
	h.Sum(res.SentSHA256[:0])
	if err == nil {
		err = c.(*net.TCPConn).CloseWrite()
	}
	r := <-recvc
	res.Elapsed = time.Since(start)
	res.ReceivedBytes, res.ReceivedSHA256 = r.n, r.sum
	if err != nil || r.err != nil {
		return res, fmt.Errorf("nstest: transfer %s → %s: %w", from.Name, addr,
			errors.Join(wrapNonNil("send", err), wrapNonNil("receive", r.err)))
	}
	return res, nil
}

func wrapNonNil(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}
