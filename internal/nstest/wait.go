package nstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Poll interval bounds: the first retry comes quickly, later ones back off.
const (
	pollMinInterval = 5 * time.Millisecond
	pollMaxInterval = 100 * time.Millisecond
)

// permanentError marks an error that stops [Poll] at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that [Poll] and [WaitFor] give up at once instead
// of retrying (for example when the process being waited for has exited).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Poll calls cond until it returns nil, returns an error wrapped with
// [Permanent], or ctx is done. The interval starts at 5ms and doubles up to
// 100ms. On timeout the error names ctx's error and the last error cond
// returned.
func Poll(ctx context.Context, cond func() error) error {
	interval := pollMinInterval
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if pe, ok := errors.AsType[permanentError](err); ok {
			return pe.err
		}
		if werr := sleepCtx(ctx, interval); werr != nil {
			return fmt.Errorf("%w (last error: %v)", werr, err)
		}
		interval = min(2*interval, pollMaxInterval)
	}
}

// WaitFor polls cond (see [Poll]) for at most timeout and fails the test,
// naming what was awaited, if it does not return nil in time.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Poll(ctx, cond); err != nil {
		t.Fatalf("nstest: waiting %v for %s: %v", timeout, what, err)
	}
}
