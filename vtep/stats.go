package vtep

import (
	"strconv"
	"sync/atomic"

	"github.com/vtepd/vtep/header"
)

// DropReason names why the datapath dropped a packet. Each reason is a
// counter in [Stats]; most correspond to a kernel skb_drop_reason, named
// in the constant's comment.
type DropReason uint8

// Drop reasons. Receive reasons come first, in the order vxlan_rcv checks
// them.
const (
	// DropTooShort: the outer packet is shorter than its IP, UDP and VXLAN
	// headers, or the inner frame is shorter than an Ethernet header
	// (pskb_may_pull in vxlan_rcv and __iptunnel_pull_header).
	DropTooShort DropReason = iota
	// DropOuterInvalid: the outer IP or UDP header is inconsistent (bad
	// version, lengths, not UDP). A kernel socket never delivers these.
	DropOuterInvalid
	// DropUDPChecksum: a non-zero outer UDP checksum is wrong, or an IPv6
	// one is zero without udp6zerocsumrx (UDP_CSUM, in the UDP layer).
	DropUDPChecksum
	// DropInvalidHeader: the VXLAN I flag is clear, or a reserved bit is
	// set (VXLAN_INVALID_HDR / TUNNEL_INVALID_HDR).
	DropInvalidHeader
	// DropVNINotFound: no link has the packet's VNI on this socket
	// (VXLAN_VNI_NOT_FOUND / TUNNEL_NOT_FOUND).
	DropVNINotFound
	// DropGPEInvalid: a VXLAN-GPE header without P, with a version other
	// than 0, with O set, or with an unknown next protocol
	// (vxlan_parse_gpe_proto; NOT_SPECIFIED).
	DropGPEInvalid
	// DropRemcsumTruncated: a remote checksum offload start/offset points
	// past the packet (vxlan_remcsum's pskb_may_pull).
	DropRemcsumTruncated
	// DropLocalMAC: the inner source MAC is the link's own (LOCAL_MAC).
	DropLocalMAC
	// DropMACInvalidSource: learning found a multicast or zero source MAC
	// (MAC_INVALID_SOURCE).
	DropMACInvalidSource
	// DropEntryExists: learning found a static entry for the source MAC
	// pointing at another VTEP (VXLAN_ENTRY_EXISTS).
	DropEntryExists
	// DropInnerTruncated: the inner IPv4/IPv6 header is cut short
	// (pskb_inet_may_pull; rx_length_errors).
	DropInnerTruncated
	// DropECN: RFC 6040 decapsulation of CE into a Not-ECT packet
	// (IP_TUNNEL_ECN; rx_frame_errors).
	DropECN
	// DropDevReady: the link is administratively down (DEV_READY).
	DropDevReady
	// DropOverlayFull: the overlay port refused the frame (the kernel's
	// netif_rx/gro_cells backlog drop; rx_dropped).
	DropOverlayFull

	// DropNoTXTarget: no FDB entry and no all-zeros entry for the
	// destination, or an entry without remotes (NO_TX_TARGET).
	DropNoTXTarget
	// DropTXInfo: an external link got a frame without tunnel metadata
	// (TUNNEL_TXINFO).
	DropTXInfo
	// DropTXHeaderTruncated: an IPv4/IPv6 frame too short for its network
	// header, or an ARP request too short, on transmit
	// (skb_vlan_inet_prepare HDR_TRUNC; tx_dropped).
	DropTXHeaderTruncated
	// DropRemoteAny: the remote is 0.0.0.0 or :: ("bridge-local") and
	// route short-circuit did not apply (vxlan_xmit_one; tx_dropped).
	DropRemoteAny
	// DropBypassNoLink: local bypass found no local link with the VNI
	// (encap_bypass_if_local, TUNNEL_NOT_FOUND; tx_errors).
	DropBypassNoLink
	// DropNoRoute: no outer source address of the link's family or a
	// remote of the wrong family (IP_OUTNOROUTES; tx_carrier_errors).
	DropNoRoute
	// DropGPEProtocol: a raw GPE frame whose protocol has no GPE next
	// protocol value (vxlan_build_gpe_hdr -EPFNOSUPPORT; tx_errors).
	DropGPEProtocol
	// DropUnderlayWrite: the underlay refused the packet (ip_local_out
	// failing; tx_dropped).
	DropUnderlayWrite
	// DropTXTooBig: the frame does not fit in an outer packet (an IPv4
	// total length or IPv6 payload length over 65535); tx_dropped.
	DropTXTooBig
	// DropTXDevDown: a frame was read from the overlay port of a link that
	// is administratively down. The kernel never transmits on a down
	// device; no device counter is bumped.
	DropTXDevDown
	// DropMDBNoRemote: the frame's MDB entry has no remote it may be sent
	// to: all are blocked, or INCLUDE remotes of a (*, G)
	// (vxlan_mdb_xmit, VXLAN_NO_REMOTE). No device counter is bumped.
	DropMDBNoRemote
	// DropNexthopNoPath: the frame's FDB entry points to a nexthop group
	// that no longer exists or has no gateway to choose (vxlan_xmit_nh;
	// tx_dropped).
	DropNexthopNoPath
	// DropMCRouteUnrouted: a link with mcroute sent a packet to a group
	// that multicast routing sends nowhere: the entry has no outgoing
	// interface whose TTL threshold is below the packet's TTL
	// (ip_mr_output_finish), or there is no cache entry while the route's
	// device is a vif and the packet could not be held for the routing
	// daemon's answer (no MulticastReporter; 4 packets of its (S, G) or 10
	// (S, G)s already waiting: ipmr_cache_unresolved), or it was held and
	// no route came within 10 s (ipmr_expire_process), or the route that
	// came has another incoming interface (ip_mr_forward). No device
	// counter is bumped.
	DropMCRouteUnrouted
	// DropMCRouteTooBig: a multicast-routed copy with DF set is longer
	// than the MTU of its outgoing interface's route (ipmr_prepare_xmit,
	// IPSTATS_MIB_FRAGFAILS). No device counter is bumped.
	DropMCRouteTooBig

	// NumDropReasons is the number of drop reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropTooShort:          "too_short",
	DropOuterInvalid:      "outer_invalid",
	DropUDPChecksum:       "udp_csum",
	DropInvalidHeader:     "invalid_hdr",
	DropVNINotFound:       "vni_not_found",
	DropGPEInvalid:        "gpe_invalid",
	DropRemcsumTruncated:  "remcsum_truncated",
	DropLocalMAC:          "local_mac",
	DropMACInvalidSource:  "mac_invalid_source",
	DropEntryExists:       "entry_exists",
	DropInnerTruncated:    "inner_truncated",
	DropECN:               "ecn",
	DropDevReady:          "dev_ready",
	DropOverlayFull:       "overlay_full",
	DropNoTXTarget:        "no_tx_target",
	DropTXInfo:            "tx_info_missing",
	DropTXHeaderTruncated: "tx_hdr_truncated",
	DropRemoteAny:         "remote_any",
	DropBypassNoLink:      "bypass_no_link",
	DropNoRoute:           "no_route",
	DropGPEProtocol:       "gpe_protocol",
	DropUnderlayWrite:     "underlay_write",
	DropTXTooBig:          "tx_too_big",
	DropTXDevDown:         "tx_dev_down",
	DropMDBNoRemote:       "mdb_no_remote",
	DropNexthopNoPath:     "nexthop_no_path",
	DropMCRouteUnrouted:   "mcroute_unrouted",
	DropMCRouteTooBig:     "mcroute_too_big",
}

// String returns the counter name of r, e.g. "vni_not_found".
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "DropReason(" + strconv.Itoa(int(r)) + ")"
}

// Stats are a link's counters. The first group mirrors the kernel's
// rtnl_link_stats64 fields that a vxlan device uses, counted in the same
// places; Drops has one counter per DropReason, counted whether or not the
// kernel also bumps a device counter for it. All fields are atomic and may
// be read at any time; use Snapshot for a consistent-looking copy.
type Stats struct {
	RXPackets      atomic.Uint64
	RXBytes        atomic.Uint64
	RXErrors       atomic.Uint64
	RXDropped      atomic.Uint64
	RXFrameErrors  atomic.Uint64
	RXLengthErrors atomic.Uint64

	TXPackets       atomic.Uint64
	TXBytes         atomic.Uint64
	TXErrors        atomic.Uint64
	TXDropped       atomic.Uint64
	TXCarrierErrors atomic.Uint64

	// ProxyARPReplies and ProxyNAReplies count replies built by proxy
	// ARP/ND; ProxyConsumed counts requests consumed (answered or not).
	ProxyARPReplies atomic.Uint64
	ProxyNAReplies  atomic.Uint64
	ProxyConsumed   atomic.Uint64
	// L2Misses and L3Misses count miss notifications; MissesDropped
	// counts notifications no subscriber had room for.
	L2Misses      atomic.Uint64
	L3Misses      atomic.Uint64
	MissesDropped atomic.Uint64
	// Bypassed counts frames delivered to a local link without
	// encapsulation (local bypass and RSC to a bridge-local remote).
	Bypassed atomic.Uint64
	// PMTUExceeded counts frames whose network packet was larger than the
	// path MTU to their remote less the encapsulation (the condition of
	// skb_tunnel_check_pmtu); PMTUErrors counts the ICMP Fragmentation
	// Needed / ICMPv6 Packet Too Big errors built for them and delivered
	// back through the link.
	PMTUExceeded atomic.Uint64
	PMTUErrors   atomic.Uint64
	// TXSuperPackets counts TCP super-frames sent whole as tunnel GSO
	// packets (HostOptions.Injector); each also counts once in TXPackets.
	TXSuperPackets atomic.Uint64
	// TXFastPackets and TXFastBytes count the frames the kernel transmit
	// path sent (HostOptions.FastPath), a GSO super-frame once; they are
	// also counted in TXPackets and TXBytes, up to a second late.
	TXFastPackets atomic.Uint64
	TXFastBytes   atomic.Uint64
	// RXFastPackets and RXFastBytes count the frames the kernel receive
	// path delivered (HostOptions.FastPath), a GSO super-packet once; they
	// are also counted in RXPackets and RXBytes, up to a second late.
	RXFastPackets atomic.Uint64
	RXFastBytes   atomic.Uint64
	// Learned and Migrated count FDB entries created and moved by learning.
	Learned  atomic.Uint64
	Migrated atomic.Uint64
	// RXChecksumPartial counts received frames whose inner TCP/UDP
	// checksum was partial (a kernel peer's CHECKSUM_PARTIAL that a veth
	// passed on unfinished): handed to the overlay port as partial, or
	// completed for a port without metadata.
	RXChecksumPartial atomic.Uint64
	// RXGBP counts received packets that carried a GBP header on a gbp
	// link; RXGBPLastMark holds the mark (policy ID | D<<22 | A<<19) of
	// the latest one, since a TAP cannot carry skb->mark to the kernel.
	RXGBP         atomic.Uint64
	RXGBPLastMark atomic.Uint64

	Drops [NumDropReasons]atomic.Uint64
}

// Counter is one named counter value.
type Counter struct {
	Name  string
	Value uint64
}

// Snapshot is a copy of counters in a fixed order, for printing.
type Snapshot struct {
	Counters []Counter
}

// Get returns the value of the named counter; drop reasons are named
// "drop_" + DropReason.String().
func (s Snapshot) Get(name string) uint64 {
	for _, c := range s.Counters {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

// Map returns the counters as a map.
func (s Snapshot) Map() map[string]uint64 {
	m := make(map[string]uint64, len(s.Counters))
	for _, c := range s.Counters {
		m[c.Name] = c.Value
	}
	return m
}

// Snapshot copies the counters: the kernel's link statistics names first
// (rx_packets … tx_carrier_errors), then the datapath's own, then one
// "drop_<reason>" per DropReason.
func (st *Stats) Snapshot() Snapshot {
	c := make([]Counter, 0, 24+NumDropReasons)
	add := func(n string, v *atomic.Uint64) { c = append(c, Counter{n, v.Load()}) }
	add("rx_packets", &st.RXPackets)
	add("rx_bytes", &st.RXBytes)
	add("rx_errors", &st.RXErrors)
	add("rx_dropped", &st.RXDropped)
	add("rx_frame_errors", &st.RXFrameErrors)
	add("rx_length_errors", &st.RXLengthErrors)
	add("tx_packets", &st.TXPackets)
	add("tx_bytes", &st.TXBytes)
	add("tx_errors", &st.TXErrors)
	add("tx_dropped", &st.TXDropped)
	add("tx_carrier_errors", &st.TXCarrierErrors)
	add("proxy_arp_replies", &st.ProxyARPReplies)
	add("proxy_na_replies", &st.ProxyNAReplies)
	add("proxy_consumed", &st.ProxyConsumed)
	add("l2_misses", &st.L2Misses)
	add("l3_misses", &st.L3Misses)
	add("misses_dropped", &st.MissesDropped)
	add("bypassed", &st.Bypassed)
	add("tx_pmtu_exceeded", &st.PMTUExceeded)
	add("tx_pmtu_errors", &st.PMTUErrors)
	add("tx_tunnel_gso_packets", &st.TXSuperPackets)
	add("tx_ebpf_packets", &st.TXFastPackets)
	add("tx_ebpf_bytes", &st.TXFastBytes)
	add("rx_ebpf_packets", &st.RXFastPackets)
	add("rx_ebpf_bytes", &st.RXFastBytes)
	add("fdb_learned", &st.Learned)
	add("fdb_migrated", &st.Migrated)
	add("rx_csum_partial", &st.RXChecksumPartial)
	add("rx_gbp", &st.RXGBP)
	add("rx_gbp_last_mark", &st.RXGBPLastMark)
	for r := range NumDropReasons {
		add("drop_"+r.String(), &st.Drops[r])
	}
	return Snapshot{Counters: c}
}

// drop counts a drop: the named counter and the kernel device counters
// that vxlan_rcv/vxlan_xmit bump for that reason.
func (st *Stats) drop(r DropReason) {
	st.Drops[r].Add(1)
	switch r {
	case DropInvalidHeader, DropECN:
		st.RXFrameErrors.Add(1)
		st.RXErrors.Add(1)
	case DropInnerTruncated:
		st.RXLengthErrors.Add(1)
		st.RXErrors.Add(1)
	case DropOverlayFull:
		st.RXDropped.Add(1)
	case DropNoTXTarget, DropTXHeaderTruncated, DropRemoteAny, DropUnderlayWrite, DropTXTooBig, DropNexthopNoPath:
		st.TXDropped.Add(1)
	case DropBypassNoLink, DropGPEProtocol:
		st.TXErrors.Add(1)
	case DropNoRoute:
		st.TXCarrierErrors.Add(1)
		st.TXErrors.Add(1)
	}
}

// VNIStats are the per-VNI counters of a link, the kernel's
// VNIFILTER_ENTRY_STATS_* set (`bridge -s vni show`).
type VNIStats struct {
	RXPackets atomic.Uint64
	RXBytes   atomic.Uint64
	RXDrops   atomic.Uint64
	RXErrors  atomic.Uint64
	TXPackets atomic.Uint64
	TXBytes   atomic.Uint64
	TXDrops   atomic.Uint64
	TXErrors  atomic.Uint64
}

// VNISnapshot is a copy of one VNI's counters.
type VNISnapshot struct {
	VNI                                   header.VNI
	RXPackets, RXBytes, RXDrops, RXErrors uint64
	TXPackets, TXBytes, TXDrops, TXErrors uint64
}

func (v *VNIStats) snapshot(vni header.VNI) VNISnapshot {
	return VNISnapshot{
		VNI:       vni,
		RXPackets: v.RXPackets.Load(), RXBytes: v.RXBytes.Load(), RXDrops: v.RXDrops.Load(), RXErrors: v.RXErrors.Load(),
		TXPackets: v.TXPackets.Load(), TXBytes: v.TXBytes.Load(), TXDrops: v.TXDrops.Load(), TXErrors: v.TXErrors.Load(),
	}
}

// addTX counts transmitted packets; v may be nil.
func (v *VNIStats) addTX(pkts, bytes uint64) {
	if v != nil && pkts != 0 {
		v.TXPackets.Add(pkts)
		v.TXBytes.Add(bytes)
	}
}

// addRX counts received packets; v may be nil.
func (v *VNIStats) addRX(pkts, bytes uint64) {
	if v != nil && pkts != 0 {
		v.RXPackets.Add(pkts)
		v.RXBytes.Add(bytes)
	}
}

// drop counts r against the VNI the way vxlan_vnifilter_count is called
// next to the device counters.
func (v *VNIStats) drop(r DropReason) {
	if v == nil {
		return
	}
	switch r {
	case DropInvalidHeader, DropECN, DropInnerTruncated:
		v.RXErrors.Add(1)
	case DropDevReady, DropOverlayFull:
		v.RXDrops.Add(1)
	case DropNoTXTarget, DropTXHeaderTruncated, DropRemoteAny, DropUnderlayWrite, DropTXTooBig, DropNexthopNoPath:
		v.TXDrops.Add(1)
	case DropBypassNoLink, DropNoRoute, DropGPEProtocol:
		v.TXErrors.Add(1)
	}
}

// HostStats counts drops that happen before a packet is matched to a link:
// the kernel frees these packets with a drop reason but bumps no device
// counter.
type HostStats struct {
	Drops [NumDropReasons]atomic.Uint64
	// RXPackets counts outer packets read from the underlay.
	RXPackets atomic.Uint64
	// ReadErrors counts failed underlay and overlay reads.
	ReadErrors atomic.Uint64
	// MulticastCopies counts outer multicast packets ignored by every
	// receive worker but the first: each Conn bound to the port gets its
	// own copy of a multicast datagram (IP_MULTICAST_ALL), and the first
	// Conn's is the one delivered.
	MulticastCopies atomic.Uint64
}

// Snapshot copies the host counters ("rx_packets", "read_errors",
// "rx_multicast_copies", "drop_<reason>").
func (hs *HostStats) Snapshot() Snapshot {
	c := []Counter{{"rx_packets", hs.RXPackets.Load()}, {"read_errors", hs.ReadErrors.Load()},
		{"rx_multicast_copies", hs.MulticastCopies.Load()}}
	for r := range NumDropReasons {
		c = append(c, Counter{"drop_" + r.String(), hs.Drops[r].Load()})
	}
	return Snapshot{Counters: c}
}
