package fdb

import "strconv"

// EventType says what happened to an entry.
type EventType uint8

// Event types. The kernel sends RTM_NEWNEIGH for Added, Learned, Updated and
// Migrated, and RTM_DELNEIGH for the rest.
const (
	EventAdded         EventType = iota + 1 // created by Add/Append/Replace or the default remote
	EventLearned                            // created by Learn
	EventUpdated                            // state, flags or remotes changed by a request
	EventMigrated                           // Learn rewrote the first remote's IP
	EventDeleted                            // destroyed by Delete, Flush or FlushDown
	EventRemoteDeleted                      // one remote removed; the entry remains
	EventAged                               // destroyed by ageing (state STALE)
	EventMDBAdded                           // an MDB remote was added (RTM_NEWMDB)
	EventMDBReplaced                        // an MDB remote was replaced (RTM_NEWMDB)
	EventMDBDeleted                         // an MDB remote was deleted (RTM_DELMDB)
)

var eventNames = [...]string{"", "added", "learned", "updated", "migrated", "deleted", "remote-deleted", "aged",
	"mdb-added", "mdb-replaced", "mdb-deleted"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t != 0 {
		return eventNames[t]
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Deleted reports whether the event is an RTM_DELNEIGH or RTM_DELMDB.
func (t EventType) Deleted() bool {
	return t == EventDeleted || t == EventRemoteDeleted || t == EventAged || t == EventMDBDeleted
}

// IsMDB reports whether the event is about the MDB rather than the FDB.
func (t EventType) IsMDB() bool { return t >= EventMDBAdded && t <= EventMDBDeleted }

// Event reports a change to the table. Events are sent while the table's
// lock is held, so one subscriber sees them in the order they happened.
type Event struct {
	Type  EventType
	Key   Key
	State State
	Flags Flags
	// Remote is the remote the event is about: the new one for Added,
	// Learned and Migrated, the appended or replacing one (else the first)
	// for Updated, the removed one for RemoteDeleted, the first one for
	// Deleted and Aged.
	Remote Remote
	// Prev is the remote that Migrated or a replacing Updated overwrote.
	Prev Remote
	// Remotes is the entry's remote list after the change (before it, for
	// Deleted and Aged). It is shared and must not be modified.
	Remotes []Remote
	// NHID is the nexthop group of a nexthop entry, which has no remotes
	// (Remote is then zero); 0 otherwise.
	NHID uint32
	// MDB is, for the MDB event types, the entry with the one remote
	// the event is about (vxlan_mdb_remote_notify); Key, State, Flags
	// and the remotes above are then zero. It is shared and must not be
	// modified.
	MDB *MDBEntry
	// Time is the table clock at the change.
	Time int64
}

type subscriber struct {
	ch chan Event
}

// Subscribe returns a channel that receives events, buffered to n. Sending
// never blocks the table: when the buffer is full the event is dropped and
// counted (see [Table.EventsDropped]). cancel unsubscribes and closes the
// channel; it may be called more than once.
func (t *Table) Subscribe(n int) (events <-chan Event, cancel func()) {
	if n < 0 {
		n = 0
	}
	s := &subscriber{ch: make(chan Event, n)}
	t.mu.Lock()
	t.subs = append(t.subs, s)
	t.mu.Unlock()
	return s.ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, x := range t.subs {
			if x == s {
				t.subs = append(t.subs[:i:i], t.subs[i+1:]...)
				close(s.ch)
				return
			}
		}
	}
}

// EventsDropped returns how many events were dropped because a subscriber's
// buffer was full, summed over all subscribers ever.
func (t *Table) EventsDropped() uint64 { return t.eventsDropped.Load() }

func (t *Table) emitLocked(e *Entry, typ EventType, r, prev Remote, now int64) {
	if len(t.subs) == 0 {
		return
	}
	ev := Event{
		Type:    typ,
		Key:     e.key,
		State:   e.State(),
		Flags:   e.Flags(),
		Remote:  r,
		Prev:    prev,
		Remotes: e.Remotes(),
		NHID:    e.NHID(),
		Time:    now,
	}
	t.sendLocked(ev)
}

// sendLocked offers ev to every subscriber; t.mu is held.
func (t *Table) sendLocked(ev Event) {
	for _, s := range t.subs {
		select {
		case s.ch <- ev:
		default:
			t.eventsDropped.Add(1)
		}
	}
}
