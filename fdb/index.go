package fdb

import (
	"math/bits"
	"sync/atomic"
)

// index is an open-addressing (linear probing) hash index from Key to
// *Entry whose lookups take no lock.
//
// Readers load Table.idx once and probe its slots with atomic loads. Writers
// hold Table.mu. The invariants that make this safe:
//
//   - A slot goes from empty to holding an entry (hash stored first, then
//     the entry pointer, so a reader that sees the pointer sees the hash),
//     and from holding an entry to the tombstone. It never holds a second
//     key while this index is published, so a probe never misses a key that
//     was present before the probe started and is still present.
//   - Growing, shrinking and purging tombstones build a new index and
//     publish it with one atomic store; the old one is never written again.
//     A reader still probing the old index sees a consistent past state,
//     like an RCU reader in the kernel.
//
// Probing compares the full 64-bit hash kept in the slot before touching the
// entry, so a miss costs about one cache line per probe, not one per
// colliding entry.
type index struct {
	slots []slot
	mask  uint64
	used  int // slots that are not empty (entries + tombstones)
	live  int // entries
}

type slot struct {
	hash atomic.Uint64
	e    atomic.Pointer[Entry]
}

// tombstone marks a slot whose entry was deleted.
var tombstone = new(Entry)

const minIndexSize = 16

func newIndex(size int) *index {
	if size < minIndexSize {
		size = minIndexSize
	}
	size = 1 << bits.Len(uint(size-1)) // round up to a power of two
	return &index{slots: make([]slot, size), mask: uint64(size - 1)}
}

// find returns the entry for k, or nil.
func (x *index) find(k Key, h uint64) *Entry {
	i := h & x.mask
	for {
		s := &x.slots[i]
		e := s.e.Load()
		if e == nil {
			return nil
		}
		if e != tombstone && s.hash.Load() == h && e.key == k {
			return e
		}
		i = (i + 1) & x.mask
	}
}

// insert adds e, which must not be present. The caller holds Table.mu and
// has made room (see hasRoom).
func (x *index) insert(e *Entry) {
	i := e.hash & x.mask
	for {
		s := &x.slots[i]
		if s.e.Load() == nil {
			s.hash.Store(e.hash)
			s.e.Store(e)
			x.used++
			x.live++
			return
		}
		i = (i + 1) & x.mask
	}
}

// remove replaces e's slot with a tombstone. The caller holds Table.mu.
func (x *index) remove(e *Entry) bool {
	i := e.hash & x.mask
	for {
		s := &x.slots[i]
		p := s.e.Load()
		if p == nil {
			return false
		}
		if p == e {
			s.e.Store(tombstone)
			x.live--
			return true
		}
		i = (i + 1) & x.mask
	}
}

// hasRoom reports whether one more insert keeps the used load factor at or
// below 3/4.
func (x *index) hasRoom() bool { return (x.used+1)*4 <= len(x.slots)*3 }

// tooSparse reports whether the index should shrink after deletions.
func (x *index) tooSparse() bool { return len(x.slots) > minIndexSize && x.live*8 < len(x.slots) }

// rebuilt returns a new index holding x's entries plus room for extra more,
// sized so that they fill between 1/4 and 1/2 of it.
func (x *index) rebuilt(extra int) *index {
	n := newIndex((x.live + extra) * 2)
	for i := range x.slots {
		e := x.slots[i].e.Load()
		if e != nil && e != tombstone {
			n.insert(e)
		}
	}
	return n
}
