// Package header provides zero-copy views of the wire formats a VXLAN
// tunnel endpoint reads and writes: Ethernet with 802.1Q/802.1ad tags, ARP,
// IPv4, IPv6 and its extension headers, UDP, TCP, ICMPv4, ICMPv6 with
// neighbor discovery, VXLAN (RFC 7348) with the Group Policy, Remote
// Checksum Offload and Generic Protocol Extension variants, and the
// virtio-net header a TAP device prepends when IFF_VNET_HDR is set. It also
// defines the value types [MAC] and [VNI].
//
// # Views
//
// Each format is a named byte slice, for example [IPv4] or [VXLAN]. A view
// is the packet: converting a []byte to a view costs nothing, reading a
// field reads the bytes in place and writing a field writes them in place.
// Nothing is decoded ahead of time and nothing is copied, so a datapath can
// walk an outer Ethernet/IPv4/UDP/VXLAN stack and the inner frame behind it
// without allocating.
//
// Every view follows the same pattern, modelled on gVisor's tcpip/header:
//
//   - Offsets of fields are unexported constants; sizes that callers need
//     are exported (IPv4MinimumSize, VXLANSize, ...).
//   - Getters and setters are named after the RFC field they access, and
//     their doc comments quote that name ("Time to Live").
//   - An XxxFields struct holds every field of the header as plain values.
//     The view's Encode method writes a header from it, and its Fields
//     method reads one back. Fields and Encode are for construction and
//     tests; they may copy and, for variable-length parts, allocate.
//   - IsValid checks that the slice is long enough for every accessor and
//     that the header's own length fields are consistent. It does not
//     enforce policy (the VXLAN I flag, checksums, a neighbor solicitation's
//     hop limit): that belongs to the caller, which counts the drop.
//
// # The bounds-check contract
//
// Accessors do not check lengths. They index the slice directly and panic
// when it is too short, like any out-of-range slice expression. Call
// IsValid once where untrusted bytes enter the program; after it returns
// true, every accessor on that view is safe and cheap. Walkers over
// variable-length parts (VLAN tags, IPv6 extension headers, TCP and NDP
// options) are the exception: they check every step and report malformed
// input with a false ok result instead of panicking, because their bounds
// cannot be validated up front by a single length test.
//
// Multi-byte fields are big-endian (network order), except in
// [VirtioNetHdr], whose fields are little-endian as a TAP device writes
// them on little-endian hosts.
//
// Addresses are returned as [net/netip.Addr] values, which are comparable
// and do not allocate. Each address getter also has a Slice variant that
// returns the bytes in place, for checksums and hashing.
//
// # Checksums
//
// CalculateChecksum methods return the value to store in the checksum field:
// they treat the field itself as zero, so they can be called on a header
// that already carries a checksum. IsChecksumValid methods verify the
// stored value. Transport-layer methods take the folded pseudo-header sum
// from [IPv4.PseudoHeaderSum] or [IPv6.PseudoHeaderSum]. The arithmetic is
// in package github.com/vtepd/vtep/checksum.
//
// # Kernel behaviour
//
// Where the Linux kernel interprets a field in a specific way (reserved
// VXLAN bits, ECN on decapsulation, IPv6 fragments in ipv6_skip_exthdr,
// TCP option parsing), the doc comment cites the kernel function, and the
// tests are named after the behaviour.
package header
