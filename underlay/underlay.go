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
