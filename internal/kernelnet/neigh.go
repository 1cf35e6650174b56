package kernelnet

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/vtepd/vtep/header"
)

// Neigh is a neighbour entry: the link-layer address and NUD state of an
// IP address on a link.
type Neigh struct {
	MAC header.MAC
	// State holds NUD_* bits.
	State  uint16
	Router bool
}

// NeighEntry is a Neigh with its key, for listing.
type NeighEntry struct {
	Link string
	IP   netip.Addr
	Neigh
}

type neighKey struct {
	link string
	ip   netip.Addr
}

// NeighTable holds the neighbour entries of the daemon's links, keyed by
// link name, as the kernel keeps one table per net_device. It is safe for
// concurrent use; Lookup takes a read lock and does not allocate.
type NeighTable struct {
	mu sync.RWMutex // guards following
	m  map[neighKey]Neigh
}

// NewNeighTable returns an empty table.
func NewNeighTable() *NeighTable {
	return &NeighTable{m: make(map[neighKey]Neigh)}
}

// Lookup returns the entry for ip on link.
func (t *NeighTable) Lookup(link string, ip netip.Addr) (Neigh, bool) {
	t.mu.RLock()
	n, ok := t.m[neighKey{link, ip}]
	t.mu.RUnlock()
	return n, ok
}

// Set adds or replaces the entry for ip on link.
func (t *NeighTable) Set(link string, ip netip.Addr, n Neigh) {
	t.mu.Lock()
	t.m[neighKey{link, ip.Unmap()}] = n
	t.mu.Unlock()
}

// Delete removes the entry for ip on link.
func (t *NeighTable) Delete(link string, ip netip.Addr) {
	t.mu.Lock()
	delete(t.m, neighKey{link, ip.Unmap()})
	t.mu.Unlock()
}

// DeleteLink removes every entry of link.
func (t *NeighTable) DeleteLink(link string) {
	t.mu.Lock()
	for k := range t.m {
		if k.link == link {
			delete(t.m, k)
		}
	}
	t.mu.Unlock()
}

// Clear removes every entry.
func (t *NeighTable) Clear() {
	t.mu.Lock()
	clear(t.m)
	t.mu.Unlock()
}

// List returns the entries of link, or of every link if link is "", sorted
// by link and address (IPv4 first).
func (t *NeighTable) List(link string) []NeighEntry {
	t.mu.RLock()
	out := make([]NeighEntry, 0, len(t.m))
	for k, n := range t.m {
		if link == "" || k.link == link {
			out = append(out, NeighEntry{Link: k.link, IP: k.ip, Neigh: n})
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b NeighEntry) int {
		if c := strings.Compare(a.Link, b.Link); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out
}
