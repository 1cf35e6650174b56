package vtep

import (
	"net/netip"
	"sync"

	"github.com/vtepd/vtep/header"
)

// NUDState holds neighbour cache state bits (NUD_*,
// include/uapi/linux/neighbour.h).
type NUDState uint16

// Neighbour states.
const (
	NUDIncomplete NUDState = 0x01
	NUDReachable  NUDState = 0x02
	NUDStale      NUDState = 0x04
	NUDDelay      NUDState = 0x08
	NUDProbe      NUDState = 0x10
	NUDFailed     NUDState = 0x20
	NUDNoARP      NUDState = 0x40
	NUDPermanent  NUDState = 0x80

	// NUDConnected is the set of states in which proxy ARP/ND answers
	// (NUD_CONNECTED).
	NUDConnected = NUDPermanent | NUDNoARP | NUDReachable
)

// Neighbor is an entry of the neighbour (ARP/ND) table of a link.
type Neighbor struct {
	// MAC is the link-layer address (the kernel's neigh->ha).
	MAC header.MAC
	// State is the NUD state.
	State NUDState
	// Router is the neighbour's NTF_ROUTER flag. The vxlan driver takes the
	// Router bit of proxied neighbour advertisements from the FDB entry of
	// MAC, not from here; the field is kept for completeness.
	Router bool
}

// Neighbors is a neighbour table: the IPv4 ARP and IPv6 ND caches of the
// links of a Host, as the kernel keeps them per net_device. Proxy ARP/ND
// and route short-circuit look addresses up in it (neigh_lookup(tbl, ip,
// vxlan_dev)). Implementations must be safe for concurrent use; the
// datapath calls LookupNeighbor per frame, so it should not allocate.
type Neighbors interface {
	// LookupNeighbor returns the entry for ip on the link named link.
	LookupNeighbor(link string, ip netip.Addr) (Neighbor, bool)
}

// MemNeighbors is an in-memory Neighbors, safe for concurrent use.
type MemNeighbors struct {
	mu sync.RWMutex // guards following
	m  map[neighKey]Neighbor
}

type neighKey struct {
	link string
	ip   netip.Addr
}

var _ Neighbors = (*MemNeighbors)(nil)

// NewMemNeighbors returns an empty table.
func NewMemNeighbors() *MemNeighbors {
	return &MemNeighbors{m: make(map[neighKey]Neighbor)}
}

// Set adds or replaces the entry for ip on link.
func (t *MemNeighbors) Set(link string, ip netip.Addr, n Neighbor) {
	t.mu.Lock()
	t.m[neighKey{link, ip.Unmap()}] = n
	t.mu.Unlock()
}

// Delete removes the entry for ip on link.
func (t *MemNeighbors) Delete(link string, ip netip.Addr) {
	t.mu.Lock()
	delete(t.m, neighKey{link, ip.Unmap()})
	t.mu.Unlock()
}

// LookupNeighbor implements Neighbors.
func (t *MemNeighbors) LookupNeighbor(link string, ip netip.Addr) (Neighbor, bool) {
	t.mu.RLock()
	n, ok := t.m[neighKey{link, ip}]
	t.mu.RUnlock()
	return n, ok
}
