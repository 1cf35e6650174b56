package nstest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestPollRetriesUntilNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		calls := 0
		err := Poll(t.Context(), func() error {
			calls++
			if time.Since(start) < time.Second {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Calls at 0, 5, 15, 35, 75, 155ms, then every 100ms: the first at or
		// after 1s is the 15th (1055ms).
		if calls != 15 {
			t.Errorf("calls = %d, want 15 (backoff 5ms doubling to 100ms)", calls)
		}
	})
}

func TestPollTimesOutWithLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err := Poll(ctx, func() error { return errors.New("still down") })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if got := err.Error(); got != "context deadline exceeded (last error: still down)" {
			t.Errorf("err = %q", got)
		}
	})
}

func TestPollStopsOnPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("process exited")
		calls := 0
		err := Poll(t.Context(), func() error {
			calls++
			if calls == 3 {
				return Permanent(boom)
			}
			return errors.New("not yet")
		})
		if err != boom || calls != 3 {
			t.Errorf("err = %v after %d calls, want %v after 3", err, calls, boom)
		}
		if Permanent(nil) != nil {
			t.Error("Permanent(nil) != nil")
		}
	})
}
