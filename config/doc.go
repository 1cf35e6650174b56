// Package config describes VXLAN devices the way Linux does: the options
// of `ip link add NAME type vxlan ...`, with the kernel's defaults,
// validation and change rules and iproute2's grammar and output, plus the
// daemon's YAML configuration file.
//
// # Links
//
// A [Link] is plain, comparable data: one device's configuration, with no
// reference to the running system. The zero value of each field means the
// kernel's default, so options that default to on are stored inverted
// (NoLearning, NoUDPCsum, NoLocalBypass). [Link.Canonical] fills in what
// the kernel fills in at creation (dstport, ageing) so that equal devices
// compare equal; everything this package returns is canonical.
//
// vtep differs from the kernel in one default on purpose: the UDP
// destination port is [DefaultPort] (4789, as RFC 7348 §5 asks), not
// [KernelDefaultPort] (8472). Every other default, and the kernel's
// quirks, are kept: ageing 0 means 300 seconds, srcport 0 0 means the
// local port range [DefaultSrcPortMin, DefaultSrcPortMax), "ttl 64" on a
// "ttl inherit" device keeps inheriting, and reserved_bits defaults to the
// complement of the bits in use.
//
// # iproute2
//
// [ParseArgs] parses the words after `type vxlan` exactly as iproute2's
// vxlan_parse_opt does (abbreviations, aliases, C number syntax, duplicate
// detection), [Link.Args] prints them back, and [Link.Change] applies
// `ip link set NAME type vxlan ...` with the kernel's changelink rules.
// [Link.Details] and [Link.DetailsStyle] print the vxlan line of
// `ip -d link show`, and [Link.MarshalJSON] the object of `ip -d -j link
// show`. Errors carry iproute2's and the kernel's own messages, and match
// the class sentinels [ErrArgument], [ErrDuplicate], [ErrIncomplete],
// [ErrUnknownKeyword], [ErrInvalid] and [ErrCannotChange].
//
// vtep adds to iproute2's grammar where the kernel has a setting iproute2
// cannot express or puts elsewhere: "flowlabel inherit"
// (IFLA_VXLAN_LABEL_POLICY), and "mtu" and "address" after `type vxlan`.
// One extension has no kernel counterpart: "gbpmark MARK" on a "gbp"
// device ([Link.GBPMark]). A kernel vxlan device turns skb->mark, set by
// netfilter, into the Group Based Policy header; frames that reach vtep
// through a TAP carry no mark, so gbpmark supplies the one every frame of
// the device is sent with. It prints as "gbpmark 0x…" and, in JSON,
// "gbp_mark", and can be changed with `link set NAME type vxlan gbpmark N`.
//
// # Configuration file
//
// [ParseFile] and [LoadFile] read the daemon's YAML file ([File]): links
// given as iproute2 argument strings, static FDB entries, MDB remotes and
// neighbours, checked up front with line numbers (the MDB's own rules are
// the driver's, checked when the daemon applies the file).
//
// Sources: iproute2 ip/iplink_vxlan.c at ee2a4a86 (and 6.1.0 for
// [StyleLegacy]); Linux drivers/net/vxlan/vxlan_core.c (vxlan_validate,
// vxlan_nl2conf, vxlan_config_validate, vxlan_changelink, vxlan_fill_info)
// and include/net/vxlan.h.
package config
