// Package fastpath is vtepd's optional eBPF data path (`vtepd -ebpf on`).
//
// Transmit (TX): a tc program on the egress of a link's TAP device encapsulates the
// frames sent to a known unicast MAC address in the kernel, as the
// kernel's vxlan_xmit_one would, and hands the outer packet to the
// underlay with bpf_redirect_neigh. Those frames never reach vtepd: no TAP
// read, no copy to userspace and back, no thread wake-up.
//
// The program only takes what it can send exactly as vtepd would; vtepd
// decides which destinations those are and writes them into the program's
// table (TX.Set). Every other frame passes on to the TAP queue and vtepd:
// broadcast and multicast, unknown destinations, non-IP EtherTypes (ARP),
// VLAN-tagged frames, frames longer than the path allows, a frame already
// encapsulated, and any frame the kernel's helpers refuse.
//
// A GSO super-frame stays one packet: bpf_skb_adjust_room marks it a UDP
// tunnel GSO packet (SKB_GSO_UDP_TUNNEL), so it is cut into datagrams by
// the device that has to, and crosses a veth whole, as the kernel's vxlan
// sends it.
//
// Like `-tunnel-gso on`, the packets skip netfilter's OUTPUT and
// POSTROUTING hooks (bpf_redirect_neigh goes to the neighbour output
// directly).
//
// Receive (RX): a tc program on the ingress of the underlay devices
// decapsulates a link's VXLAN packets from known sources into the TAP's
// receive path; see RX.
package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/vtepd/vtep/header"
)

// TX is the transmit program attached to one TAP device, with its table.
type TX struct {
	dests *ebpf.Map
	used  *ebpf.Map // MAC addresses sent to since the last Used
	stats *ebpf.Map
	prog  *ebpf.Program
	link  link.Link
}

// AttachTX loads the transmit program with a table of at most maxDests
// destinations and attaches it to the egress of interface ifindex (tcx,
// Linux 6.6+). The table starts empty: until Set, every frame passes.
func AttachTX(ifindex, maxDests int) (*TX, error) {
	t := &TX{}
	var err error
	t.dests, err = newMACTable("vtep_tx_dests", "destination table", destValueLen, maxDests)
	if err != nil {
		return nil, err
	}
	t.used, err = newMACTable("vtep_tx_used", "used table", 4, maxDests)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.stats, err = newStatsMap("vtep_tx_stats")
	if err != nil {
		t.Close()
		return nil, err
	}
	t.prog, err = loadProgram("vtep_tx", "transmit program", txProgram(t.dests.FD(), t.used.FD(), t.stats.FD()))
	if err != nil {
		t.Close()
		return nil, err
	}
	t.link, err = link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: t.prog, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("fastpath: attach to the egress of interface %d (tcx, Linux 6.6+): %w", ifindex, err)
	}
	return t, nil
}

// Set sends the frames to mac to d.
func (t *TX) Set(mac header.MAC, d Dest) error {
	v, err := d.encode()
	if err != nil {
		return err
	}
	k := key(mac)
	return t.dests.Update(k[:], v[:], ebpf.UpdateAny)
}

// Delete hands the frames to mac back to vtepd. A MAC address not in the
// table is no error.
func (t *TX) Delete(mac header.MAC) error {
	return errors.Join(deleteKey(t.dests, mac), deleteKey(t.used, mac))
}

// Used returns the MAC addresses the program sent frames to since the last
// call, and clears their marks: what vxlan_find_mac_tx would have refreshed
// the "used" time of.
func (t *TX) Used() ([]header.MAC, error) { return drainMarks(t.used) }

// drainMarks returns the MAC addresses in a table of marks (markOnce) and
// deletes them. A mark the program sets meanwhile is either returned now
// or kept for the next call.
func drainMarks(m *ebpf.Map) ([]header.MAC, error) {
	var (
		out []header.MAC
		k   [destKeyLen]byte
		v   uint32
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, header.MAC(k[:6]))
	}
	if err := it.Err(); err != nil {
		return out, err
	}
	var errs []error
	for _, mac := range out {
		errs = append(errs, deleteKey(m, mac))
	}
	return out, errors.Join(errs...)
}

// markOnce returns instructions that put the key at stack offset keyOff
// into the hash table marks (value: a u32 1, stored at oneOff) unless it
// is there already, then go on at label next, which must follow them.
// Marks are a table of their own, not a field of an entry that Set may
// replace under the program: a mark is never lost or misplaced. It
// clobbers r0-r5.
func markOnce(marks int, keyOff, oneOff int16, next string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, marks),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, next),
		asm.Mov.Imm(asm.R2, 1),
		asm.StoreMem(asm.RFP, oneOff, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, marks),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(oneOff)),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
	}
}

// deleteKey deletes mac's entry from table m, if there is one.
func deleteKey(m *ebpf.Map, mac header.MAC) error {
	k := key(mac)
	if err := m.Delete(k[:]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// MACs returns the MAC addresses in the table.
func (t *TX) MACs() ([]header.MAC, error) {
	var (
		out []header.MAC
		k   [destKeyLen]byte
		v   [destValueLen]byte
	)
	it := t.dests.Iterate()
	for it.Next(&k, &v) {
		out = append(out, header.MAC(k[:6]))
	}
	return out, it.Err()
}

// Stats returns the program's counters.
func (t *TX) Stats() (Stats, error) { return readStats(t.stats) }

// newMACTable returns a hash table keyed by MAC address (key), with
// values of valueSize bytes; what names it in errors.
func newMACTable(name, what string, valueSize, maxEntries int) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: name, Type: ebpf.Hash,
		KeySize: destKeyLen, ValueSize: uint32(valueSize), MaxEntries: uint32(maxEntries),
	})
	if err != nil {
		return nil, fmt.Errorf("fastpath: %s: %w", what, err)
	}
	return m, nil
}

// loadProgram loads a tc program; what names it in errors.
func loadProgram(name, what string, insns asm.Instructions) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: ebpf.SchedCLS, License: "GPL", Instructions: insns,
	})
	if err != nil {
		return nil, fmt.Errorf("fastpath: load the %s: %w", what, err)
	}
	return prog, nil
}

// newStatsMap returns a program's counters: packets and bytes per CPU.
func newStatsMap(name string) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: name, Type: ebpf.PerCPUArray,
		KeySize: 4, ValueSize: statsValueLen, MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("fastpath: counters: %w", err)
	}
	return m, nil
}

// readStats sums the counters of newStatsMap over the CPUs.
func readStats(m *ebpf.Map) (Stats, error) {
	var per [][statsValueLen]byte
	if err := m.Lookup(uint32(0), &per); err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, c := range per {
		s.Packets += binary.NativeEndian.Uint64(c[0:])
		s.Bytes += binary.NativeEndian.Uint64(c[8:])
	}
	return s, nil
}

// Close detaches the program and frees its table.
func (t *TX) Close() error {
	var errs []error
	if t.link != nil {
		errs = append(errs, t.link.Close())
	}
	if t.prog != nil {
		errs = append(errs, t.prog.Close())
	}
	for _, m := range []*ebpf.Map{t.dests, t.used, t.stats} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// Offsets in struct __sk_buff (include/uapi/linux/bpf.h).
const (
	skbLen         = 0
	skbVlanPresent = 20
	skbGSOSize     = 176
)

// bpf_skb_adjust_room arguments.
const (
	adjRoomMAC       = 1
	adjRoomFixedGSO  = 1 << 0
	adjRoomEncapL3v4 = 1 << 1
	adjRoomEncapL4   = 1 << 4 // BPF_F_ADJ_ROOM_ENCAP_L4_UDP
	adjRoomEncapEth  = 1 << 6
	adjRoomL2Shift   = 56
	encapFlags       = adjRoomFixedGSO | adjRoomEncapL3v4 | adjRoomEncapL4 | adjRoomEncapEth | header.EthernetSize<<adjRoomL2Shift

	tcxNext = -1 // TCX_NEXT: on to the next program, then the device
	tcShot  = 2  // TC_ACT_SHOT
)

// Stack layout of the transmit program: buf holds the 50 bytes it writes
// after the frame's Ethernet header (outer IPv4, UDP, VXLAN, and the
// frame's own Ethernet header, which becomes the inner one), and two
// bytes past them; key is the table key.
const (
	stBuf   = -64            // buf[0:20] IPv4, [20:28] UDP, [28:36] VXLAN, [36:50] inner Ethernet
	stInner = stBuf + 36     // the frame's first 16 bytes are loaded here
	stEType = stInner + 12   // its EtherType
	stNet   = stInner + 14   // its first two network-header bytes
	stKey   = -72            // 8 bytes
	stOne   = -80            // a u32 1, the used table's value
	newLen  = HeaderLen + 14 // bytes inserted after the outer Ethernet header
)

// txProgram returns the transmit program (see the package comment).
// Registers: r6 the skb, r7 the table value, r8 the frame's length, r9 its
// EtherType as loaded (host order of the wire bytes).
func txProgram(dests, used, stats int) asm.Instructions {
	const (
		etIPv4 = 0x0008 // 08 00 read as a little-endian u16
		etIPv6 = 0xdd86 // 86 dd
	)
	p := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, skbVlanPresent, asm.Word),
		asm.JNE.Imm(asm.R2, 0, "pass"), // a VLAN tag outside the frame
		asm.LoadMem(asm.R8, asm.R6, skbLen, asm.Word),
		asm.JLT.Imm(asm.R8, header.EthernetSize+header.IPv4MinimumSize, "pass"),

		// The Ethernet header and two bytes of the network header.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stInner),
		asm.Mov.Imm(asm.R4, 16),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, stInner, asm.Byte),
		asm.And.Imm(asm.R2, 1),
		asm.JNE.Imm(asm.R2, 0, "pass"), // broadcast, multicast: vtepd floods
		asm.LoadMem(asm.R9, asm.RFP, stEType, asm.Half),
		asm.JEq.Imm(asm.R9, etIPv4, "ip"),
		asm.JNE.Imm(asm.R9, etIPv6, "pass"),

		// Look the destination up.
		asm.Mov.Imm(asm.R2, 0).WithSymbol("ip"),
		asm.StoreMem(asm.RFP, stKey, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, stInner, asm.Word),
		asm.StoreMem(asm.RFP, stKey, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, stInner+4, asm.Half),
		asm.StoreMem(asm.RFP, stKey+4, asm.R2, asm.Half),
		asm.LoadMapPtr(asm.R1, dests),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R7, asm.R0),

		// Length: a plain frame whole, a super-frame by its segments (at
		// least 54 bytes of headers each), within MaxLen; and the outer
		// IPv4 length must fit its field.
		asm.LoadMem(asm.R3, asm.R7, valMaxLen, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R2, 0, "plain"),
		asm.Add.Imm(asm.R2, header.EthernetSize+header.IPv4MinimumSize+header.TCPMinimumSize),
		asm.JGT.Reg(asm.R2, asm.R3, "pass"),
		asm.Ja.Label("fits"),
		asm.JGT.Reg(asm.R8, asm.R3, "pass").WithSymbol("plain"),
		asm.Mov.Reg(asm.R2, asm.R8).WithSymbol("fits"),
		asm.Add.Imm(asm.R2, HeaderLen),
		asm.JGT.Imm(asm.R2, 0xffff, "pass"),

		// The outer headers from the template.
		asm.LoadMem(asm.R2, asm.R7, 0, asm.DWord),
		asm.StoreMem(asm.RFP, stBuf, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 8, asm.DWord),
		asm.StoreMem(asm.RFP, stBuf+8, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 16, asm.DWord),
		asm.StoreMem(asm.RFP, stBuf+16, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 24, asm.DWord),
		asm.StoreMem(asm.RFP, stBuf+24, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 32, asm.Word),
		asm.StoreMem(asm.RFP, stBuf+32, asm.R2, asm.Word),

		// ECN (ip_tunnel_ecn_encap, INET_ECN_encapsulate): the outer
		// ECN field is the inner one, with CE sent as ECT(0).
		asm.JEq.Imm(asm.R9, etIPv4, "ecn4"),
		asm.LoadMem(asm.R2, asm.RFP, stNet, asm.Byte),
		asm.And.Imm(asm.R2, 0x0f),
		asm.LSh.Imm(asm.R2, 4),
		asm.LoadMem(asm.R3, asm.RFP, stNet+1, asm.Byte),
		asm.RSh.Imm(asm.R3, 4),
		asm.Or.Reg(asm.R2, asm.R3),
		asm.Ja.Label("ecn"),
		asm.LoadMem(asm.R2, asm.RFP, stNet+1, asm.Byte).WithSymbol("ecn4"),
		asm.And.Imm(asm.R2, 3).WithSymbol("ecn"),
		asm.JNE.Imm(asm.R2, 3, "ecnset"),
		asm.Mov.Imm(asm.R2, 2),
		asm.LoadMem(asm.R3, asm.RFP, stBuf+1, asm.Byte).WithSymbol("ecnset"),
		asm.Or.Reg(asm.R3, asm.R2),
		asm.StoreMem(asm.RFP, stBuf+1, asm.R3, asm.Byte),

		// IPv4 total length and identification.
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Add.Imm(asm.R2, HeaderLen),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.StoreMem(asm.RFP, stBuf+2, asm.R2, asm.Half),
		asm.FnGetPrandomU32.Call(),
		asm.StoreMem(asm.RFP, stBuf+4, asm.R0, asm.Half),
	}
	p = append(p, ipv4HeaderSum(stBuf, "")...) // the header checksum: its complement
	p = append(p,
		asm.Xor.Imm(asm.R0, 0xffff),
		asm.StoreMem(asm.RFP, stBuf+10, asm.R0, asm.Half),

		// UDP source port (udp_flow_src_port): the flow hash, with its
		// low half folded in, scaled into the range.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnGetHashRecalc.Call(),
		asm.Mov.Reg32(asm.R0, asm.R0),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LSh.Imm32(asm.R2, 16),
		asm.Xor.Reg32(asm.R0, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, valPortSpan, asm.Half),
		asm.Mul.Reg(asm.R0, asm.R2),
		asm.RSh.Imm(asm.R0, 32),
		asm.LoadMem(asm.R2, asm.R7, valPortMin, asm.Half),
		asm.Add.Reg(asm.R0, asm.R2),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.RFP, stBuf+20, asm.R0, asm.Half),
		// UDP length.
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Add.Imm(asm.R2, HeaderLen-header.IPv4MinimumSize),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.StoreMem(asm.RFP, stBuf+24, asm.R2, asm.Half),

		// Make room after the Ethernet header and fill it.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, newLen),
		asm.Mov.Imm(asm.R3, adjRoomMAC),
		asm.LoadImm(asm.R4, encapFlags, asm.DWord),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, header.EthernetSize),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stBuf),
		asm.Mov.Imm(asm.R4, newLen),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),
	)
	// Mark the destination used (the key still holds its MAC address),
	// then count the frame's length.
	p = append(p, markOnce(used, stKey, stOne, "count")...)
	p = append(p, count(stats, stKey, "count", 0, "send")...)
	return append(p,

		// Out of the route's interface, link-layer header from the
		// neighbour table.
		asm.LoadMem(asm.R1, asm.R7, valIfindex, asm.Word).WithSymbol("send"),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRedirectNeigh.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcShot).WithSymbol("drop"),
		asm.Return(),
	)
}

// ipv4HeaderSum returns instructions that leave in r0 the folded ones'
// complement sum of the 20 bytes at stack offset off (bpf_csum_diff, then
// folded to 16 bits): 0xffff for a header with a right checksum. The first
// instruction carries symbol sym, if any. It clobbers r1-r5.
func ipv4HeaderSum(off int16, sym string) asm.Instructions {
	first := asm.Mov.Imm(asm.R1, 0)
	if sym != "" {
		first = first.WithSymbol(sym)
	}
	return asm.Instructions{
		first,
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Imm(asm.R4, header.IPv4MinimumSize),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnCsumDiff.Call(),
		asm.Mov.Reg32(asm.R0, asm.R0),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.RSh.Imm(asm.R2, 16),
		asm.And.Imm(asm.R0, 0xffff),
		asm.Add.Reg(asm.R0, asm.R2),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.RSh.Imm(asm.R2, 16),
		asm.And.Imm(asm.R0, 0xffff),
		asm.Add.Reg(asm.R0, asm.R2),
	}
}

// count returns instructions that add one packet, and r8 less less bytes,
// to the per-CPU counters of map stats (newStatsMap), with the u32 key 0
// written at stack offset keyOff; then they go on at label next. The
// first instruction carries symbol sym, if any. It clobbers r0-r5.
func count(stats int, keyOff int16, sym string, less int32, next string) asm.Instructions {
	first := asm.Mov.Imm(asm.R2, 0)
	if sym != "" {
		first = first.WithSymbol(sym)
	}
	p := asm.Instructions{
		first,
		asm.StoreMem(asm.RFP, keyOff, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, stats),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R2, asm.R8),
	}
	if less != 0 {
		p = append(p, asm.Sub.Imm(asm.R2, less))
	}
	return append(p, asm.StoreMem(asm.R0, 8, asm.R2, asm.DWord))
}

// AttachTXByName is AttachTX for the interface named name, with a table of
// 4096 destinations.
func AttachTXByName(name string) (*TX, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("fastpath: %w", err)
	}
	return AttachTX(ifi.Index, 4096)
}

// Route returns the output interface of the route to dst and the MTU a
// packet to dst may have on it (the route's, which holds a learned path
// MTU, else the interface's); ifindex 0 when there is no route.
func Route(dst netip.Addr) (ifindex, mtu int) {
	rs, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(rs) == 0 || rs[0].LinkIndex == 0 {
		return 0, 0
	}
	ifindex, mtu = rs[0].LinkIndex, rs[0].MTU
	if mtu == 0 {
		if l, err := netlink.LinkByIndex(ifindex); err == nil {
			mtu = l.Attrs().MTU
		}
	}
	return ifindex, mtu
}
