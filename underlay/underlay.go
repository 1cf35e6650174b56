// Package underlay is the transport side of a vtep link: a batch interface
// that sends and receives outer IP packets carrying UDP (VXLAN), with a Linux
// implementation over UDP sockets and an in-memory network for tests.
//
// Buffers hold whole outer packets: an IPv4 or IPv6 header, a UDP header and
// the UDP payload. The datapath builds the outer headers itself so that they
// are exact and testable in memory; a socket-based implementation turns them
// into socket addresses and ancillary data (TOS/traffic class, TTL/hop limit,
// source address) and, on receive, rebuilds them from what recvmsg reports.
package underlay

import "net/netip"

// Conn is one underlay socket: bound to a UDP port for one address family.
//
// Ownership: bufs belong to the caller and are not kept after a call returns.
type Conn interface {
	// Read reads up to len(bufs) packets into bufs[i][offset:], setting
	// sizes[i]. It blocks until at least one packet is available. After
	// Close it returns an error wrapping net.ErrClosed.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write sends the packets bufs[i][offset:] and returns how many were sent.
	Write(bufs [][]byte, offset int) (n int, err error)
	// BatchSize is the preferred number of buffers to pass to Read.
	BatchSize() int
	// LocalPort is the UDP port the Conn is bound to.
	LocalPort() uint16
	// JoinGroup joins a multicast group on the interface with index ifindex
	// (0: let the system choose).
	JoinGroup(group netip.Addr, ifindex int) error
	// LeaveGroup leaves a group joined with JoinGroup.
	LeaveGroup(group netip.Addr, ifindex int) error
	// Close releases the Conn; blocked Reads return.
	Close() error
}

// RxInfo is what a Conn knows about a received packet beyond its bytes.
type RxInfo struct {
	// Verified says the packet carried a non-zero UDP checksum that the
	// Conn (the kernel) verified, so the whole VXLAN payload, inner frame
	// included, is intact.
	Verified bool
	// Ifindex is the interface the packet arrived on (the kernel's
	// skb->dev->ifindex), 0 when unknown. The VNI lookup of IPv6
	// link-local links and FDB learning from link-local sources use it.
	Ifindex int
}

// InfoReader is an optional interface of a Conn: ReadInfo is Read that also
// fills info[i] for packet i. len(info) >= len(bufs).
type InfoReader interface {
	ReadInfo(bufs [][]byte, sizes []int, info []RxInfo, offset int) (n int, err error)
}

// ViaWriter is an optional interface of a Conn: WriteVia is Write where
// oifs[i], when not 0, is the interface packet i must leave by (the route
// lookup's output interface, flowi_oif, which the kernel's vxlan takes
// from the remote's `via` or the link's `dev`). An IPv6 link-local
// destination needs it to say which link it is on. len(oifs) >= len(bufs).
type ViaWriter interface {
	WriteVia(bufs [][]byte, oifs []int, offset int) (n int, err error)
}
