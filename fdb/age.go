package fdb

import (
	"context"
	"time"
)

// Sweep destroys the dynamic entries whose updated+ageing <= now
// (vxlan_cleanup): entries that are neither PERMANENT nor NOARP and not
// NTF_EXT_LEARNED. Their state becomes STALE and an EventAged is sent for
// each. It returns the number destroyed and when the next sweep is due:
// now+AgeSweepInterval, or earlier if a surviving entry expires before
// that.
func (t *Table) Sweep(now int64) (aged int, next int64) {
	t.advance(now)
	age := t.ageing.Load()
	next = now + int64(AgeSweepInterval)
	t.mu.Lock()
	defer t.mu.Unlock()
	var nx *Entry
	for e := t.head; e != nil; e = nx {
		nx = e.next
		if e.State().IsStatic() || e.Flags()&FlagExtLearned != 0 {
			continue
		}
		timeout := e.updated.Load() + age
		if timeout <= now {
			e.setStateFlags(StateStale, e.Flags())
			t.destroyLocked(e)
			t.emitLocked(e, EventAged, e.firstOrZero(), Remote{}, now)
			aged++
		} else if timeout < next {
			next = timeout
		}
	}
	return aged, next
}

// Run keeps the table's timers until ctx is done: it sweeps (see
// [Table.Sweep]) AgeSweepInterval after it starts and then whenever the
// previous sweep said the next one is due, at once when the ageing time
// changes, and refreshes the hot-path clock every CoarseTick. It uses the
// time package's timers, so it works inside a testing/synctest bubble; the
// table's Clock must advance with them.
func (t *Table) Run(ctx context.Context) {
	sweep := time.NewTimer(AgeSweepInterval)
	defer sweep.Stop()
	tick := time.NewTicker(CoarseTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Tick()
		case <-t.kick:
			sweep.Reset(0)
		case <-sweep.C:
			now := t.clock()
			_, next := t.Sweep(now)
			sweep.Reset(time.Duration(next - now))
		}
	}
}
