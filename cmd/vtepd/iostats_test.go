package main

import (
	"errors"
	"regexp"
	"testing"

	"github.com/vtepd/vtep/gro"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// TestIOCounterNames: the TAP's and the underlay's counters have stable,
// unique snake_case names, in a fixed number, each carrying its field.
func TestIOCounterNames(t *testing.T) {
	var g gro.Stats
	g.SuperFrames = 7
	g.Flushes[gro.ReasonBatchEnd] = 11
	g.Bypassed[gro.ReasonNotGROable] = 13
	g.SegmentsHist[gro.NumSegmentBuckets-1] = 17
	out := appendTAPCounters(nil, tap.StatsSnapshot{ReadFrames: 3, WriteErrors: 5}, g)
	out = appendUDPCounters(out, underlay.StatsSnapshot{TxGSOSends: 19, RxCoalesced: 23, TxFallback: 29})
	if len(out) != numTAPCounters+numUDPCounters {
		t.Fatalf("%d counters, want %d", len(out), numTAPCounters+numUDPCounters)
	}
	snake := regexp.MustCompile(`^(tap|udp)_[a-z0-9]+(_[a-z0-9]+)*$`)
	seen := map[string]uint64{}
	for _, c := range out {
		if !snake.MatchString(c.Name) {
			t.Errorf("counter name %q is not snake_case with a tap_ or udp_ prefix", c.Name)
		}
		if _, dup := seen[c.Name]; dup {
			t.Errorf("counter %q twice", c.Name)
		}
		seen[c.Name] = c.Value
	}
	for name, want := range map[string]uint64{
		"tap_read_frames": 3, "tap_write_errors": 5, "tap_gro_super_frames": 7,
		"tap_gro_flush_batch_end": 11, "tap_gro_bypass_not_groable": 13, "tap_gro_segs_33_64": 17,
		"udp_gso_sends": 19, "udp_gro_splits": 23, "udp_raw_fallback_sends": 29, "udp_tx_errors": 0,
	} {
		if got, ok := seen[name]; !ok || got != want {
			t.Errorf("%s = %d (present %v), want %d", name, got, ok, want)
		}
	}
}

// TestSockRegistryFollowsHostOpens: the registry's list for a key is the
// set of sockets the datapath holds: vtep.Host opens workers sockets per
// key (acquireSocketLocked), closes them all if one fails, and opens a new
// set after the last link released the old one.
func TestSockRegistryFollowsHostOpens(t *testing.T) {
	const workers = 2
	k := vtep.SocketKey{Port: 4789}
	k6 := vtep.SocketKey{IPv6: true, Port: 4789}
	var r sockRegistry
	c := func() *underlay.LinuxConn { return new(underlay.LinuxConn) }
	a, b := c(), c()
	r.opened(k, workers, a, nil)
	r.opened(k, workers, b, nil)
	if got := r.get(k); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("first set: %p", got)
	}
	if got := r.get(k6); len(got) != 0 {
		t.Fatalf("other key: %p", got)
	}
	// Released and opened again: a new set replaces the old.
	n1, n2 := c(), c()
	r.opened(k, workers, n1, nil)
	if got := r.get(k); len(got) != 1 || got[0] != n1 {
		t.Fatalf("reopening: %p", got)
	}
	r.opened(k, workers, n2, nil)
	// A failed open: the datapath closes the set.
	r.opened(k6, workers, c(), nil)
	r.opened(k6, workers, nil, errTest)
	if got := r.get(k6); len(got) != 0 {
		t.Fatalf("after a failed open: %p", got)
	}
	d := c()
	r.opened(k6, workers, d, nil)
	if got := r.get(k6); len(got) != 1 || got[0] != d {
		t.Fatalf("after a failed open and a retry: %p", got)
	}
	if got := r.get(k); len(got) != 2 || got[0] != n1 || got[1] != n2 {
		t.Fatalf("second set: %p", got)
	}
}

var errTest = errors.New("test error")

// TestLinkStatsWithoutIOLayer: a system without the I/O counters (the
// in-memory one) shows only the datapath's.
func TestLinkStatsWithoutIOLayer(t *testing.T) {
	var s system = &memSystem{}
	if _, ok := s.(ioCounterer); ok {
		t.Fatal("memSystem has I/O counters")
	}
	var l system = &linuxSystem{}
	if _, ok := l.(ioCounterer); !ok {
		t.Fatal("linuxSystem has no I/O counters")
	}
}
