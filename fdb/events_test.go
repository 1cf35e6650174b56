package fdb

import (
	"slices"
	"testing"
	"time"
)

func drain(ch <-chan Event) []Event {
	var out []Event
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func types(evs []Event) []EventType {
	var out []EventType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestEventsForEachKindOfChange(t *testing.T) {
	// The kernel notifies RTM_NEWNEIGH on create/update/migrate
	// (vxlan_fdb_notify) and RTM_DELNEIGH per removed remote on destroy.
	tb, c := newTable(t, nil)
	ch, cancel := tb.Subscribe(64)
	defer cancel()

	wantErr(t, tb.Add(static(zero, ip1)), nil)               // added
	wantErr(t, tb.Append(static(zero, ip2)), nil)            // updated (remote appended)
	wantErr(t, tb.Append(static(zero, ip2)), nil)            // no change: no event
	tb.Learn(macA, devVNI, ip1, 0)                           // learned
	tb.Learn(macA, devVNI, ip1, 0)                           // known: no event
	tb.Learn(macA, devVNI, ip2, 0)                           // migrated
	wantErr(t, tb.Delete(Request{MAC: zero, Dst: ip1}), nil) // remote-deleted
	wantErr(t, tb.Delete(Request{MAC: zero}), nil)           // deleted
	c.advance(time.Hour)
	tb.Sweep(c.now()) // aged

	evs := drain(ch)
	want := []EventType{EventAdded, EventUpdated, EventLearned, EventMigrated, EventRemoteDeleted, EventDeleted, EventAged}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v; want %v", got, want)
	}
	if evs[1].Remote != rem(ip2) || len(evs[1].Remotes) != 2 {
		t.Errorf("append event %+v", evs[1])
	}
	if evs[3].Remote != rem(ip2) || evs[3].Prev != rem(ip1) {
		t.Errorf("migrate event %+v", evs[3])
	}
	if evs[4].Remote != rem(ip1) || len(evs[4].Remotes) != 1 {
		t.Errorf("remote-deleted event %+v", evs[4])
	}
	if evs[6].State != StateStale || evs[6].Key.MAC != macA || evs[6].Time != c.now() {
		t.Errorf("aged event %+v", evs[6])
	}
	for _, ev := range evs[:4] {
		if ev.Type.Deleted() {
			t.Errorf("%v reported as deleted", ev.Type)
		}
	}
}

func TestEventsNeverBlockAndCountDrops(t *testing.T) {
	tb, _ := newTable(t, nil)
	ch, cancel := tb.Subscribe(2)
	for i := range 10 {
		mac := macA
		mac[5] = byte(i)
		tb.Learn(mac, devVNI, ip1, 0)
	}
	if got := len(drain(ch)); got != 2 {
		t.Fatalf("buffered %d events; want 2", got)
	}
	if tb.EventsDropped() != 8 {
		t.Fatalf("EventsDropped = %d; want 8", tb.EventsDropped())
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed by cancel")
	}
	tb.Learn(macB, devVNI, ip1, 0) // no subscriber: nothing to send to
	if tb.EventsDropped() != 8 {
		t.Fatal("events counted after cancel")
	}
}

func TestEventsForFlushAndFlushDown(t *testing.T) {
	tb := flushFixture(t, nil)
	ch, cancel := tb.Subscribe(64)
	defer cancel()
	tb.FlushDown() // macC (dynamic) goes
	if got := types(drain(ch)); !slices.Equal(got, []EventType{EventDeleted}) {
		t.Fatalf("FlushDown events %v", got)
	}
	if _, err := tb.Flush(FlushFilter{Dst: ip1}); err != nil {
		t.Fatal(err)
	}
	// macMC loses ip1, macA (only ip1) destroyed, zero loses ip1.
	got := types(drain(ch))
	if !slices.Equal(got, []EventType{EventRemoteDeleted, EventDeleted, EventRemoteDeleted}) {
		t.Fatalf("Flush events %v", got)
	}
}
