// Package vtep is the VXLAN datapath: the receive (underlay → overlay) and
// transmit (overlay → underlay) pipelines of a set of VXLAN links, with the
// semantics of the Linux kernel's vxlan driver
// (drivers/net/vxlan/vxlan_core.c), so that a vtep host and a kernel VTEP
// interoperate on the wire and behave the same to their users.
//
// # Shape
//
// A [Host] stands for one network namespace. It holds the links by name,
// the underlay sockets they share, the host's own underlay addresses (for
// local bypass) and a neighbour table ([Neighbors], for proxy ARP/ND and
// route short-circuit; [MemNeighbors] is an in-memory one). Sockets come
// from an injected [Opener], so the in-memory network of package underlay
// and its Linux sockets plug in the same way.
//
// A [Link] is one VXLAN device, created by [Host.AddLink] from a
// config.Link (everything `ip link add NAME type vxlan …` can say) and a
// tap.Device as its overlay port. It has a forwarding database
// ([Link.FDB], an fdb.Table), counters ([Link.Stats], [Link.VNIStats]),
// L2/L3-miss notifications ([Link.SubscribeMisses]) and an administrative
// state ([Link.SetUp]). Its configuration is an immutable snapshot swapped
// atomically by [Link.Change], so the datapath reads it without locks.
//
// Links share a socket, as the kernel's vxlan_sock, when they have the same
// UDP port, address family and receive flags (config.RcvFlags: gbp, gpe,
// udp6zerocsumrx, remcsumrx, external, vnifilter); the socket
// demultiplexes received packets to links by VNI. A second link with a VNI
// already received on its socket is refused with a [*VNIInUseError]
// (EEXIST, vxlan_vni_in_use).
//
// # Goroutines and workers
//
// A socket is [HostOptions].Workers underlay Conns bound to the same port
// (SO_REUSEPORT), each with its own receive goroutine (routineReceive). A
// link has one transmit goroutine (routineTransmit) per queue of its
// overlay port (a [MultiQueue], such as a multi-queue TAP, or a single
// tap.Device), and one timer goroutine for FDB ageing. Receive worker w
// writes to overlay queue w (modulo the number of queues); transmit
// goroutine q writes to Conn q (modulo the number of Conns). Each
// goroutine owns its batch arrays and buffers, and each TAP queue its GRO
// engine, so the goroutines share only the tables (FDB, configuration
// snapshots, counters) and the per-queue write lock. A flow stays on one
// goroutine in each direction, and so in order: the kernel picks a TAP
// queue by flow hash, and the outer source port is a hash of the inner
// flow, which SO_REUSEPORT hashes to one Conn. Each Conn gets its own copy
// of a multicast datagram; only worker 0 delivers it.
//
// The goroutines start with AddLink and stop when the link is deleted
// ([Host.DelLink]) or the host closed ([Host.Close], which waits for all of
// them): closing the overlay port ends the transmit goroutines, closing the
// last link's socket ends the receive goroutines.
//
// # Buffers
//
// Every buffer reserves tap.Headroom bytes in front of the frame. Transmit
// reads a frame at the headroom and writes the outer IPv4 or IPv6, UDP and
// VXLAN headers in front of it, in place; receive reads an outer packet at
// the headroom and hands the overlay port a slice that starts
// tap.Headroom bytes before the inner frame. Each goroutine allocates its
// batch of buffers once; head-end replication copies a frame into spare
// buffers kept for the next batch. The steady state allocates nothing.
//
// Underlay buffers are whole outer IP packets: the datapath builds the
// outer headers itself (TTL, TOS and ECN, DF, identification, flow label,
// UDP checksum) and parses them on receive (outer source for learning,
// outer TOS for ECN decapsulation, UDP checksum rules).
//
// # Receive path (vxlan_rcv)
//
// For each outer packet, in the kernel's order; a drop increments the named
// counter of its [DropReason] and the device counters the kernel bumps:
//
//  1. Outer IP and UDP headers consistent (what a kernel socket guarantees),
//     UDP checksum: zero is accepted over IPv4 and, with udp6zerocsumrx,
//     over IPv6; a non-zero one is verified unless the Conn did
//     ([ChecksumVerifier]).
//  2. VXLAN header present, I flag set, VNI known on the socket (host
//     counters: too_short, invalid_hdr, vni_not_found).
//  3. Reserved bits: drop if header & reserved_bits (default: every bit not
//     claimed by the link's extensions); rx_frame_errors, rx_errors.
//  4. GPE: P=1, version 0, O=0, a known next protocol.
//  5. Remote checksum offload (remcsumrx): the inner checksum is left
//     partial for a port that carries metadata, or completed.
//  6. External mode: the outer headers become the frame's tunnel metadata.
//  7. GBP: the policy header becomes the frame's mark, D<<22 | A<<19 | ID.
//  8. Loop check: an inner source equal to the link's MAC is dropped
//     (local_mac).
//  9. Learning (vxlan_snoop): a multicast or zero source is dropped
//     (mac_invalid_source); a static entry elsewhere drops the frame
//     (entry_exists); otherwise the entry is created, refreshed or moved.
//  10. Inner IPv4/IPv6 header present (rx_length_errors).
//  11. RFC 6040 ECN decapsulation: CE over Not-ECT is dropped
//     (rx_frame_errors); CE and ECT(1) are propagated.
//  12. Link down: dev_ready, rx_dropped.
//  13. Inner checksums: a kernel peer sending over a veth leaves the inner
//     TCP/UDP checksum CHECKSUM_PARTIAL (the field holds the
//     pseudo-header sum) and no device finishes it. A field equal to the
//     pseudo-header sum whose checksum does not verify is handed to a
//     metadata port as partial (a vnet_hdr TAP's NEEDS_CSUM) or finished
//     here; rx_csum_partial counts them. Which inner checksums are
//     verified before the TAP's GRO merges frames: all of them, by the
//     GRO engine, except partial ones and those of a Conn that vouches
//     for the payload ([PayloadVerifier]: a non-zero outer UDP checksum
//     it verified covers the whole inner frame, as over IPv6 without
//     udp6zerocsumrx), whose complete checksums are handed on as partial.
//     Over IPv4 a zero outer checksum is legal and the socket API does not
//     say which datagrams had one, so inner checksums are always checked.
//     A TCP packet longer than the link's MTU is a peer's GSO burst that
//     crossed the underlay whole: it goes to a metadata port as one GSO
//     packet (tap.Meta.GSOType, GSOSize from the MTU), as vxlan_rcv keeps
//     a GSO skb, with its checksum partial (see csum.go).
//  14. Delivery to the overlay port in batches; rx_packets and rx_bytes
//     (past the inner Ethernet header, as after eth_type_trans).
//
// # Transmit path (vxlan_xmit, vxlan_xmit_one)
//
//  1. External mode: a frame without tunnel metadata is dropped
//     (tx_info_missing); metadata without "bridge" is sent where it says.
//  2. Proxy (arp_reduce, neigh_reduce): ARP requests and Neighbor
//     Solicitations are always consumed; a NUD_CONNECTED neighbour whose
//     MAC is not behind a bridge-local FDB entry is answered by a reply
//     written back to the overlay port (NA flags: R from the FDB entry's
//     router flag, S, O); an unknown one raises an L3 miss with l3miss.
//  3. FDB lookup by destination MAC; with rsc and an entry flagged router,
//     route short-circuit rewrites the MACs from the neighbour table and
//     looks up again.
//  4. No entry: the all-zeros entry, else an L2 miss (l2miss, unicast
//     destinations) and a no_tx_target drop (tx_dropped).
//  5. Head-end replication: every remote after the first gets a copy, in
//     list order, then the first remote gets the original, exactly the
//     kernel's order.
//  6. Per remote: a bridge-local remote is dropped (remote_any) unless
//     reached by route short-circuit, which delivers the frame back to the
//     link; a remote that is one of the host's addresses is delivered to
//     the local link with that VNI, port, family and receive flags without
//     encapsulation (local bypass, learning the source behind 127.0.0.1 or
//     ::1), unless nolocalbypass.
//  7. Outer headers: source port from the inner flow hash mapped into the
//     srcport range as udp_flow_src_port (package flow); TTL fixed, auto
//     (1 for a multicast remote, else [HostOptions].DefaultTTL) or inherit;
//     TOS fixed or inherit, with ECN encapsulated (inner CE → ECT(0)); DF
//     unset, set or inherit; IPv6 flow label fixed or inherit; UDP checksum
//     per udpcsum / udp6zerocsumtx; IPv4 identification from a per-socket
//     counter; GBP header from the frame's mark; GPE next protocol; remote
//     checksum offload for partial checksums with remcsumtx, else the inner
//     checksum is completed.
//  8. Outer packets are written in batches per socket; tx_packets and
//     tx_bytes (past the inner MAC header) count what the underlay took.
//
// # Frame metadata
//
// What the kernel keeps in the sk_buff next to the data travels in a
// tap.Meta when the overlay port implements tap.MetaDevice (the in-memory
// tap.Pipe does): the mark (skb->mark, carrying the GBP policy), a partial
// checksum's start and offset (CHECKSUM_PARTIAL, from a vnet_hdr TAP's
// NEEDS_CSUM), the protocol of a raw GPE packet, and external mode's
// tunnel metadata. A Linux TAP carries none of these; for GBP over such a
// port, [Link.SetDefaultMark] gives every frame without a mark one policy
// (the kernel has no such setting: there, marks come from netfilter).
//
// # Differences from the kernel
//
//   - Sockets are opened when a link is added, not when it is brought up;
//     a down link keeps receiving its VNI and counts the packets as
//     dev_ready drops, which the kernel only does in a race.
//   - Routes are not consulted: "local" addresses are [HostOptions].LocalAddrs,
//     the outer source is the link's local address or the host's first
//     address of the family, and TTL auto is DefaultTTL. The path MTU of
//     a remote comes from the Conn ([PathMTUer]), for the route out of
//     the remote's interface (via, the link's dev) as flowi_oif gives it.
//   - Nexthop FDB entries (`nhid`) pick a gateway with the kernel's hash
//     thresholds (nh_hthr_group_rebalance) over vtep's flow hash, so a
//     given flow may take another gateway than under the kernel, but every
//     frame of a flow takes the same one and flows split by weight.
//     Resilient groups use the kernel's bucket table (member of bucket
//     hash % buckets, nexthop_select_path_res), which vtepd dumps with the
//     nexthops and again every second while there are any, as the kernel
//     moves idle buckets without a notification; a flow keeps its gateway
//     while its bucket does. The nexthops are the kernel's, read from
//     vtepd's namespace ([Host.SetNexthops]).
//   - Path MTU (skb_tunnel_check_pmtu): on a routed link the kernel lowers
//     the PMTU of the frame's route; a TAP has no route of ours, so the
//     ICMP error the kernel builds on a bridge port is delivered on a
//     routed link too (and the frame is still sent, as there), which
//     gives the host's stack the same route exception for local senders.
//     The kernel skips the error for frames the bridge itself sent
//     (PACKET_HOST); a TAP cannot tell them apart, so they get it too.
//     VLAN-tagged and raw GPE frames, and frames with tunnel metadata,
//     are counted but get no error.
//   - IPv4 identification uses one counter per socket rather than the
//     kernel's hashed ip_idents buckets.
//   - Frames read while a link is down are dropped (tx_dev_down); the
//     kernel never transmits on a down device.
//   - With several workers the kernel's one socket is several sockets
//     sharing the port. Each gets its own copy of a multicast datagram and
//     only worker 0 delivers it (rx_multicast_copies counts the others); a
//     datagram to a broadcast address, which VXLAN does not use, would be
//     delivered once per worker.
package vtep
