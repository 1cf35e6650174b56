package vtep

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtep/header"
)

// MissKind says which lookup missed.
type MissKind uint8

// Miss kinds.
const (
	// L2Miss: no FDB entry (and no all-zeros entry) for a unicast
	// destination MAC (vxlan_fdb_miss; `l2miss`).
	L2Miss MissKind = iota + 1
	// L3Miss: no neighbour entry for an IP address that proxy ARP/ND or
	// route short-circuit looked up (vxlan_ip_miss; `l3miss`).
	L3Miss
)

func (k MissKind) String() string {
	switch k {
	case L2Miss:
		return "l2miss"
	case L3Miss:
		return "l3miss"
	}
	return "miss?"
}

// MissVNI is the VNI the kernel puts in L3-miss notifications (NDA_VNI =
// VXLAN_N_VID, one past the largest VNI).
const MissVNI = 1 << 24

// Miss is an L2- or L3-miss notification: what the kernel sends as an
// RTM_GETNEIGH with state NUD_STALE on RTNLGRP_NEIGH, for a control plane
// to resolve by adding an FDB or neighbour entry.
type Miss struct {
	Kind MissKind
	// Link is the name of the link.
	Link string
	// MAC is the unknown destination (L2Miss; NDA_LLADDR).
	MAC header.MAC
	// IP is the unknown address (L3Miss; NDA_DST).
	IP netip.Addr
	// VNI is NDA_VNI: MissVNI for L3 misses; 0 for L2 misses, whose
	// notification carries the zero remote VNI (it is omitted from the
	// message only when the link's VNI is 0).
	VNI uint32
}

// missHub fans miss notifications out to subscribers without blocking the
// datapath.
type missHub struct {
	mu   sync.Mutex // guards writes to subs
	subs atomic.Pointer[[]chan Miss]
}

func (h *missHub) subscribe(n int) (<-chan Miss, func()) {
	ch := make(chan Miss, n)
	h.mu.Lock()
	old := h.load()
	next := append(append(make([]chan Miss, 0, len(old)+1), old...), ch)
	h.subs.Store(&next)
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			old := h.load()
			next := make([]chan Miss, 0, len(old))
			found := false
			for _, c := range old {
				if c != ch {
					next = append(next, c)
				} else {
					found = true
				}
			}
			h.subs.Store(&next)
			if found { // closeAll may have closed it already
				close(ch)
			}
			h.mu.Unlock()
		})
	}
}

func (h *missHub) load() []chan Miss {
	if p := h.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// send delivers m to every subscriber with room and returns how many had
// none. It holds mu so that a concurrent cancel cannot close a channel it
// is sending on; the lock is only contended by (un)subscribes.
func (h *missHub) send(m Miss) (dropped int) {
	if len(h.load()) == 0 {
		return 0
	}
	h.mu.Lock()
	for _, c := range h.load() {
		select {
		case c <- m:
		default:
			dropped++
		}
	}
	h.mu.Unlock()
	return dropped
}

// closeAll closes every subscriber channel (link deletion).
func (h *missHub) closeAll() {
	h.mu.Lock()
	for _, c := range h.load() {
		close(c)
	}
	empty := []chan Miss{}
	h.subs.Store(&empty)
	h.mu.Unlock()
}
