// Package interop holds root-only tests that run vtep next to the Linux
// kernel's own vxlan driver and check that the two cannot be told apart on
// the wire.
//
// Every test builds a small lab out of network namespaces: one namespace per
// VTEP host, joined by veth pairs to a switch namespace that holds a Linux
// bridge (the underlay). A host's overlay device is named vx0 and is either a
// kernel vxlan device (`ip link add vx0 type vxlan …`) or a vtep link, a TAP
// created by a vtepd running in that namespace (`vtep link add vx0 type vxlan
// …`). The same test code drives both kinds through the same iproute2
// grammar, so each scenario runs twice: kernel↔kernel, which proves the
// harness and records what the kernel does, and vtep↔kernel, which is the
// interop check proper.
//
// The scenarios follow the kernel's selftests, rewritten in Go:
// tools/testing/selftests/net/forwarding/vxlan_bridge_1d.sh (flooding,
// static unicast, envelope TTL and TOS, the RFC 6040 ECN tables, learning
// and ageing), vxlan_bridge_1d_port_8472.sh and vxlan_bridge_1d_ipv6.sh
// (ports and IPv6 underlay), l2_tos_ttl_inherit.sh (envelope TOS and TTL,
// inherited or fixed, for IPv4, IPv6 and ARP payloads, untagged and
// 802.1Q-tagged), and the GBP mark mapping of
// drivers/net/vxlan/vxlan_core.c (vxlan_build_gbp_hdr, vxlan_parse_gbp_hdr).
// A TAP carries no skb->mark, so a vtep link sends the mark of its
// `gbpmark` option (vtep's extension to the grammar) and shows received
// policies in its rx_gbp and rx_gbp_last_mark counters.
// What mausezahn and tc flower counters do in the selftests is done here
// with AF_PACKET sockets opened inside the namespaces: frames are injected
// into a device and captured frames are parsed with the header package.
// What VLAN devices do (the kernels this runs on have none) is done with
// tcx eBPF programs that push and pop tags on vx0 (vlan_test.go).
//
// The package contains only tests. They need root (network namespaces,
// veth, TAP) and iproute2; they skip with a message saying so otherwise.
// TestMain builds cmd/vtepd and cmd/vtep once (or uses $VTEP_BIN_DIR); the
// vtep variants skip while those commands are not in the tree.
package interop
