package fdb

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Ageing follows vxlan_cleanup ([NEW]: on f->updated), run by Table.Run as
// the kernel's age_timer (FDB_AGE_INTERVAL, re-armed for the earliest
// expiry).

// advance lets fake time pass inside a synctest bubble and waits for the
// table's goroutine to settle.
func advance(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}

// runTable starts tb.Run in the bubble and returns a function that stops it.
func runTable(tb *Table) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		tb.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

func present(tb *Table, k Key) bool { return tb.find(k) != nil }

func TestAgeingDynamicEntryAgesAt300sNotBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb, err := New(Config{VNI: devVNI, Remote: ip3})
		if err != nil {
			t.Fatal(err)
		}
		defer runTable(tb)()
		events, cancel := tb.Subscribe(16)
		defer cancel()
		k := tb.key(macA, devVNI)
		tb.Learn(macA, devVNI, ip1, 0) // t = 0
		advance(300*time.Second - time.Nanosecond)
		if !present(tb, k) {
			t.Fatal("aged before 300 s")
		}
		advance(time.Nanosecond)
		if present(tb, k) {
			t.Fatal("not aged at 300 s")
		}
		if ev := <-events; ev.Type != EventLearned {
			t.Fatalf("first event %v", ev.Type)
		}
		ev := <-events
		if ev.Type != EventAged || ev.Key != k || ev.State != StateStale || ev.Time != int64(300*time.Second) {
			t.Fatalf("event %+v", ev)
		}
		if tb.Len() != 1 {
			t.Fatalf("Len = %d; the default entry must stay", tb.Len())
		}
	})
}

func TestAgeingTimerRearmsForEarliestExpiry(t *testing.T) {
	// vxlan_cleanup: next_timer = min(jiffies + FDB_AGE_INTERVAL, earliest
	// timeout), so an entry learned at 5 s goes at 305 s, not 310 s.
	synctest.Test(t, func(t *testing.T) {
		tb, _ := New(Config{VNI: devVNI})
		defer runTable(tb)()
		advance(5 * time.Second)
		tb.Tick()
		k := tb.key(macA, devVNI)
		tb.Learn(macA, devVNI, ip1, 0)
		advance(300*time.Second - time.Millisecond)
		if !present(tb, k) {
			t.Fatal("aged early")
		}
		advance(time.Millisecond)
		if present(tb, k) {
			t.Fatal("not aged at 305 s")
		}
	})
}

func TestAgeingSweepsEveryTenSeconds(t *testing.T) {
	// With no entry due sooner, the sweep runs every FDB_AGE_INTERVAL:
	// after SetAgeing shortens the lifetime of an entry that is not yet
	// due, it goes at the next 10 s sweep.
	synctest.Test(t, func(t *testing.T) {
		tb, _ := New(Config{VNI: devVNI})
		defer runTable(tb)()
		k := tb.key(macA, devVNI)
		tb.Learn(macA, devVNI, ip1, 0)
		advance(5 * time.Second)
		tb.SetAgeing(10 * time.Second) // immediate sweep at 5 s: due at 10 s
		synctest.Wait()
		if !present(tb, k) {
			t.Fatal("aged before 10 s")
		}
		advance(5 * time.Second)
		if present(tb, k) {
			t.Fatal("not aged at 10 s")
		}
	})
}

func TestAgeingChangeSweepsImmediately(t *testing.T) {
	// vxlan_changelink: mod_timer(&vxlan->age_timer, jiffies) when the
	// ageing time changes on a running link.
	synctest.Test(t, func(t *testing.T) {
		tb, _ := New(Config{VNI: devVNI})
		defer runTable(tb)()
		k := tb.key(macA, devVNI)
		tb.Learn(macA, devVNI, ip1, 0)
		advance(50 * time.Second)
		tb.SetAgeing(30 * time.Second)
		synctest.Wait()
		if present(tb, k) {
			t.Fatal("entry older than the new ageing time survived the change")
		}
	})
}

func TestAgeingReceiveRefreshKeepsEntryTransmitDoesNot(t *testing.T) {
	// [NEW] ages on "updated", refreshed by vxlan_snoop on RX; TX lookups
	// only touch "used". (Linux 6.12 is the other way round.)
	synctest.Test(t, func(t *testing.T) {
		tb, _ := New(Config{VNI: devVNI})
		defer runTable(tb)()
		kA, kB := tb.key(macA, devVNI), tb.key(macB, devVNI)
		tb.Learn(macA, devVNI, ip1, 0)
		tb.Learn(macB, devVNI, ip2, 0)
		advance(200 * time.Second)
		tb.Tick()
		tb.Learn(macA, devVNI, ip1, 0)
		tb.Lookup(macB, devVNI)
		advance(100 * time.Second)
		if !present(tb, kA) || present(tb, kB) {
			t.Fatalf("at 300 s: A present %v (want true), B present %v (want false)", present(tb, kA), present(tb, kB))
		}
		advance(200 * time.Second)
		if present(tb, kA) {
			t.Fatal("A not aged 300 s after its last RX refresh")
		}
	})
}

func TestSweepNeverAgesStaticPermanentOrExternLearned(t *testing.T) {
	// vxlan_cleanup skips NUD_PERMANENT|NUD_NOARP and NTF_EXT_LEARNED.
	tb, c := newTable(t, func(cfg *Config) { cfg.Remote = ip3 })
	wantErr(t, tb.Add(static(macA, ip1)), nil)                                                          // permanent
	wantErr(t, tb.Add(Request{MAC: macB, State: StateNoARP | StateReachable, Dst: ip1}), nil)           // static
	wantErr(t, tb.Add(Request{MAC: macC, State: StateReachable, Flags: FlagExtLearned, Dst: ip1}), nil) // extern_learn
	wantErr(t, tb.Add(dynamic(macMC, ip1)), nil)                                                        // dynamic multicast
	c.advance(24 * time.Hour)
	aged, next := tb.Sweep(c.now())
	if aged != 1 {
		t.Fatalf("aged %d; want 1", aged)
	}
	if next != c.now()+int64(AgeSweepInterval) {
		t.Fatalf("next = %d; want now+10s", next)
	}
	if got := macs(tb); len(got) != 4 {
		t.Fatalf("left %v", got)
	}
	wantAbsent(t, tb, macMC)
}

func TestSweepUsesCustomAgeing(t *testing.T) {
	tb, c := newTable(t, func(cfg *Config) { cfg.Ageing = 30 * time.Second })
	tb.Learn(macA, devVNI, ip1, 0)
	c.advance(29 * time.Second)
	if aged, next := tb.Sweep(c.now()); aged != 0 || next != c.now()+int64(time.Second) {
		t.Fatalf("at 29 s: aged %d next %d", aged, next-c.now())
	}
	c.advance(time.Second)
	if aged, _ := tb.Sweep(c.now()); aged != 1 {
		t.Fatalf("at 30 s: aged %d", aged)
	}
}
