// Package fdb is the forwarding database of one VXLAN link, with the
// semantics of the Linux kernel vxlan driver (drivers/net/vxlan/vxlan_core.c).
//
// A [Table] maps a [Key] — an inner Ethernet address and, in external
// (collect-metadata) mode, a source VNI — to an [Entry]: NUD state bits,
// NTF flags, and an ordered list of [Remote] tunnel endpoints. The all-zeros
// MAC names the default destination entry; its remotes receive broadcast,
// unknown-unicast and multicast frames by head-end replication, in list
// order.
//
// # Control plane
//
// [Table.Update] is the kernel's vxlan_fdb_add + vxlan_fdb_update for
// RTM_NEWNEIGH; [Table.Add], [Table.Append] and [Table.Replace] are the
// three `bridge fdb` verbs (NLM_F_CREATE with NLM_F_EXCL, NLM_F_APPEND or
// NLM_F_REPLACE). [Table.Delete] is vxlan_fdb_delete, [Table.Flush] is
// vxlan_fdb_delete_bulk (`bridge fdb flush`) and [Table.FlushDown] is what
// vxlan_stop does when the link goes down. [Table.SetDefaultRemote] handles
// the default entry across `ip link set … type vxlan remote|group …` the way
// vxlan_changelink does (append the new remote, then delete the old one, so
// other appended remotes survive). Errors are the kernel's errnos as
// sentinels ([ErrExist], [ErrNotFound], [ErrNotSupported], …) wrapped in an
// [*OpError] whose text is what iproute2 prints.
//
// # Datapath
//
// [Table.Lookup] (TX) and [Table.Learn] (RX, the kernel's vxlan_snoop) never
// take a lock for the common case: entries live in an open-addressing hash
// index whose slots are published with atomic stores and never rewritten
// with another key while that index generation is live, and each entry's
// remote list is an immutable slice swapped by pointer (copy on write).
// Writers serialise on one mutex. Lookups and learning of a known address do
// not allocate. Timestamps on the hot path come from a coarse clock with
// millisecond resolution (like jiffies) that [Table.Tick] (call it once per
// batch) and [Table.Run] refresh; an entry's "used" and "updated" words are
// stored only when that clock has moved, as vxlan_find_mac_tx and
// vxlan_snoop do, so a hot entry's cache line is not written per packet.
//
// # Ageing
//
// Dynamic entries (neither NUD_PERMANENT nor NUD_NOARP, and not
// NTF_EXT_LEARNED) are destroyed when updated+ageing <= now, as in
// vxlan_cleanup. This package follows the newer kernel ([NEW] in the
// reference notes, kernel-patches/bpf 05c63a3e): entries age on their
// "updated" time, which every received frame from that address refreshes
// (vxlan_snoop), so receive-only traffic keeps an entry alive. Linux 6.12
// instead ages on "used", which only transmit lookups refresh. [Table.Run]
// sweeps every [AgeSweepInterval] (10 s, FDB_AGE_INTERVAL), or earlier when
// an entry is due sooner, as the kernel re-arms its timer. An ageing time of
// 0 means 300 s (vxlan_config_validate).
//
// # Differences from the kernel, on purpose
//
//   - Outside external mode the key's VNI is always the device VNI, as in
//     Linux 6.12. (The newer kernel stores a user-supplied src_vni in the key
//     but looks entries up under the device VNI, so such an entry can never
//     be found again.)
//   - Nexthop (nhid) entries follow Linux 6.18: the group is checked as
//     vxlan_fdb_nh_update does (see [Config].Nexthops), dynamic nexthop
//     entries are accepted and aged, learning never overrides them. A dst
//     appended to a multicast nexthop entry is ignored; the kernel keeps it
//     in a list that neither transmit nor a dump reads.
//   - The kernel's vxlan_snoop migrates an entry without holding the hash
//     lock; here migration and creation by learning take the table lock and
//     re-check the entry, so a lost race is resolved as if the other frame
//     had come first.
//   - The caller decides whether the link is up; Learn does not check
//     netif_running.
package fdb
