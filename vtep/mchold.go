package vtep

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vtepd/vtep/mroute"
)

// The kernel's limits on the packets it holds for multicast routing while
// the routing daemon is asked for a route (ipmr_cache_unresolved,
// ip6mr_cache_unresolved, ipmr_cache_alloc_unres).
const (
	// mcHoldEntries is how many (S, G) may wait at once, per family
	// (cache_resolve_queue_len >= 10: the packet is dropped).
	mcHoldEntries = 10
	// mcHoldPackets is how many packets one (S, G) holds (a queue longer
	// than 3 takes no more).
	mcHoldPackets = 4
	// mcHoldTime is how long an (S, G) waits from its first packet
	// (expires = jiffies + 10*HZ); its packets are then dropped.
	mcHoldTime = 10 * time.Second
)

// mcHold is the Host's unresolved queue (mfc_unres_queue): the packets of
// links with mcroute that multicast routing had no entry for, by (S, G),
// waiting for the routing daemon's answer.
type mcHold struct {
	mu      sync.Mutex // guards following
	entries []*mcUnres
	timer   *time.Timer // runs expire at the first expiry; nil until needed
	closed  bool
}

// mcUnres is one (S, G) waiting for a route.
type mcUnres struct {
	src, group netip.Addr
	expires    time.Time
	pkts       []mcHeld
}

// mcHeld is one held packet: the whole outer packet, complete but for the
// IPv4 header checksum, and what the datapath would have counted it as.
type mcHeld struct {
	l      *Link
	vs     *VNIStats
	oif    int // as given to RouteMulticast
	ttl    uint8
	pkt    []byte
	bytes  int // toward tx_bytes
	vbytes int // toward the VNI's
}

// hold queues a copy of pkt (see mcHeld) for the (S, G) src, group, as
// ipmr_cache_unresolved does, and reports whether the packet was held.
// Expired entries are dropped first.
func (h *Host) hold(p mcHeld, src, group netip.Addr) bool {
	q := &h.mchold
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.expireLocked(now)
	var e *mcUnres
	n := 0
	for _, c := range q.entries {
		if c.group.Is6() == group.Is6() {
			n++
		}
		if c.src == src && c.group == group {
			e = c
		}
	}
	if e == nil {
		if n >= mcHoldEntries {
			return false
		}
		e = &mcUnres{src: src, group: group, expires: now.Add(mcHoldTime)}
		q.entries = append(q.entries, e)
		if q.timer == nil {
			q.timer = time.AfterFunc(mcHoldTime, h.expireHeld)
		} else if len(q.entries) == 1 {
			q.timer.Reset(mcHoldTime)
		}
	}
	if len(e.pkts) >= mcHoldPackets {
		return false
	}
	p.pkt = slices.Clone(p.pkt)
	e.pkts = append(e.pkts, p)
	return true
}

// expireHeld drops the packets of the (S, G)s whose time is up
// (ipmr_expire_process) and rearms the timer for the next.
func (h *Host) expireHeld() {
	q := &h.mchold
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.expireLocked(time.Now())
	if len(q.entries) > 0 {
		q.timer.Reset(time.Until(q.entries[0].expires))
	}
}

// expireLocked drops the entries that expired by now; entries are in
// order of expiry.
func (q *mcHold) expireLocked(now time.Time) {
	i := 0
	for i < len(q.entries) && !now.Before(q.entries[i].expires) {
		for _, p := range q.entries[i].pkts {
			p.l.drop(DropMCRouteUnrouted, p.vs)
		}
		i++
	}
	q.entries = slices.Delete(q.entries, 0, i)
}

// closeHeld drops every held packet and stops the timer.
func (h *Host) closeHeld() {
	q := &h.mchold
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if q.timer != nil {
		q.timer.Stop()
	}
	for _, e := range q.entries {
		for _, p := range e.pkts {
			p.l.drop(DropMCRouteUnrouted, p.vs)
		}
	}
	q.entries = nil
}

// ResolveMulticast plays the packets held for multicast routing through
// the routes the MulticastRouter has now, as the kernel does when its
// daemon installs a cache entry (ipmr_mfc_add → ipmr_cache_resolve): for
// each waiting (S, G) the router's MulticastReporter.ResolveHeld decides,
// and the copies it names are sent with MulticastReporter.SendResolved,
// each with its TTL (hop limit) less one. Call it after every change of
// the routes; an (S, G) still unresolved keeps waiting. A copy the
// interface's MTU refuses counts as mcroute_too_big, a packet sent
// nowhere as mcroute_unrouted.
func (h *Host) ResolveMulticast() {
	r := h.mreport
	if r == nil {
		return
	}
	q := &h.mchold
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.expireLocked(time.Now())
	type resolved struct {
		mcHeld
		outs []int
	}
	var out []resolved
	var outs []int
	q.entries = slices.DeleteFunc(q.entries, func(e *mcUnres) bool {
		var done []resolved
		for _, p := range e.pkts {
			var act mroute.Action
			act, outs = r.ResolveHeld(outs[:0], e.src, e.group, p.oif, p.ttl)
			if act == mroute.Unresolved {
				return false
			}
			done = append(done, resolved{p, slices.Clone(outs)})
		}
		out = append(out, done...)
		return true
	})
	q.mu.Unlock()

	for _, p := range out {
		if len(p.outs) == 0 {
			p.l.drop(DropMCRouteUnrouted, p.vs)
			continue
		}
		for i, oif := range p.outs {
			pkt := p.pkt
			if i < len(p.outs)-1 {
				pkt = slices.Clone(pkt)
			}
			decrementTTL(pkt)
			switch err := r.SendResolved(pkt, oif); {
			case err == nil:
				p.l.stats.TXPackets.Add(1)
				p.l.stats.TXBytes.Add(uint64(p.bytes))
				p.vs.addTX(1, uint64(p.vbytes))
			case errors.Is(err, syscall.EMSGSIZE):
				p.l.drop(DropMCRouteTooBig, p.vs)
			default:
				p.l.drop(DropUnderlayWrite, p.vs)
			}
		}
	}
}

// decrementTTL takes one from the TTL or hop limit of an outer packet
// (ipmr_prepare_xmit, ip6mr_forward2) and makes an IPv4 header's
// checksum.
func decrementTTL(pkt []byte) {
	if pkt[0]>>4 == 6 {
		pkt[7]--
		return
	}
	pkt[8]--
	binary.BigEndian.PutUint16(pkt[10:], 0)
	binary.BigEndian.PutUint16(pkt[10:], ipv4HeaderChecksum(pkt))
}

// finishHeld completes an outer packet the datapath built for the
// transmit path so that it can leave later on its own: its IPv4
// identification from s's counter, and its UDP checksum when the pseudo-
// header sum is in place of it (partial, a Conn that offloads checksums).
func finishHeld(s *socket, ip []byte, v6, partial bool) {
	ulp := 20
	if v6 {
		ulp = 40
	} else {
		binary.BigEndian.PutUint16(ip[4:], uint16(s.ipID.Add(1)))
	}
	if partial {
		completeChecksum(ip, ulp, 6)
	}
}
