package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/vtep"
)

// subscriberBuffer is how many events a monitor may fall behind before it
// loses some.
const subscriberBuffer = 1024

// hub fans events out to monitor subscribers without ever blocking the
// links that produce them: a subscriber whose buffer is full loses the
// event, which is counted.
type hub struct {
	mu     sync.Mutex // guards following
	subs   map[*subscriber]struct{}
	closed bool

	dropped atomic.Uint64
}

type subscriber struct {
	ch chan control.Event
	f  control.EventFilter
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

// subscribe returns a channel of the events that pass f, closed when ctx
// is done or the hub closes.
func (h *hub) subscribe(ctx context.Context, f control.EventFilter) <-chan control.Event {
	s := &subscriber{ch: make(chan control.Event, subscriberBuffer), f: f}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		if _, ok := h.subs[s]; ok {
			delete(h.subs, s)
			close(s.ch)
		}
		h.mu.Unlock()
	}()
	return s.ch
}

// publish sends ev to every subscriber that wants it and has room.
func (h *hub) publish(ev control.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.f.Match(&ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			h.dropped.Add(1)
		}
	}
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

// eventKinds maps FDB events to monitor kinds.
var eventKinds = map[fdb.EventType]control.EventKind{
	fdb.EventAdded:         control.EventAdded,
	fdb.EventLearned:       control.EventLearned,
	fdb.EventUpdated:       control.EventUpdated,
	fdb.EventMigrated:      control.EventMigrated,
	fdb.EventDeleted:       control.EventDeleted,
	fdb.EventRemoteDeleted: control.EventRemoteDeleted,
	fdb.EventAged:          control.EventAged,
	fdb.EventMDBAdded:      control.EventAdded,
	fdb.EventMDBReplaced:   control.EventUpdated,
	fdb.EventMDBDeleted:    control.EventDeleted,
}

// forwardEvents publishes a link's FDB events and miss notifications until
// the returned function is called or the link is deleted.
func (d *daemon) forwardEvents(dl *dlink) (stop func()) {
	t := dl.link.FDB()
	fdbEvents, cancelFDB := t.Subscribe(subscriberBuffer)
	misses, cancelMisses := dl.link.SubscribeMisses(subscriberBuffer)
	name := dl.name
	go func() {
		for fdbEvents != nil || misses != nil {
			select {
			case ev, ok := <-fdbEvents:
				if !ok {
					fdbEvents = nil
					continue
				}
				d.hub.publish(d.fdbEvent(dl, t, ev))
			case m, ok := <-misses:
				if !ok {
					misses = nil
					continue
				}
				d.hub.publish(missEvent(name, m))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancelFDB()
			cancelMisses()
		})
	}
}

// fdbEvent converts an FDB event into a monitor event.
func (d *daemon) fdbEvent(dl *dlink, t *fdb.Table, ev fdb.Event) control.Event {
	dev := dl.name
	if ev.MDB != nil {
		d.mu.Lock()
		es := control.MDBEntries(dl.index, dev, t, []fdb.MDBEntry{*ev.MDB}, d.ifnameLocked)
		d.mu.Unlock()
		return control.Event{Time: time.Now(), Kind: eventKinds[ev.Type], Dev: dev, MDB: &es[0]}
	}
	n := t.EventNeigh(ev)
	via := ""
	if n.Ifindex != 0 {
		d.mu.Lock()
		via = d.ifnameLocked(n.Ifindex)
		d.mu.Unlock()
	}
	e := control.EntryFromNeigh(dev, n, via)
	out := control.Event{Time: time.Now(), Kind: eventKinds[ev.Type], Dev: dev, FDB: &e}
	if ev.Type == fdb.EventMigrated {
		out.PrevDst = ev.Prev.IP
	}
	return out
}

// missEvent converts a miss notification into a monitor event.
func missEvent(dev string, m vtep.Miss) control.Event {
	ev := control.Event{Time: time.Now(), Dev: dev}
	if m.Kind == vtep.L3Miss {
		ev.Kind, ev.IP = control.EventL3Miss, m.IP
	} else {
		ev.Kind, ev.MAC = control.EventL2Miss, m.MAC
	}
	return ev
}
