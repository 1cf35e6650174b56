package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/vtepd/vtep/header"
)

// RXConfig is what one link's receive program takes: the VXLAN packets
// to Local, UDP port Port, VNI VNI, decapsulated onto the overlay device
// with index Overlay.
type RXConfig struct {
	Local   netip.Addr // IPv4
	Port    uint16
	VNI     header.VNI
	Overlay int
}

// RX is one link's receive program: a tc program on the ingress of the
// underlay devices it is attached to (Attach) that decapsulates the
// link's VXLAN packets in the kernel and hands the inner frames to the
// overlay device's receive path (bpf_redirect with BPF_F_INGRESS), as
// vxlan_rcv hands them to the vxlan device. Those packets never reach
// vtepd.
//
// It takes a packet only when vtepd would deliver it unchanged, and
// learning would change nothing: a plain (unfragmented, option-less,
// checksum-correct) IPv4 packet to Local, UDP to Port with a zero or
// verified checksum, a VXLAN header with the I flag alone and the link's
// VNI, outer ECN not-ECT or ECT(0) (RFC 6040: nothing to change inside;
// INET_ECN_decapsulate copies CE inward and ECT(1) over ECT(0)), an inner frame
// long enough for its network header (and for 20 bytes after its Ethernet
// header, which bpf_skb_adjust_room insists on), and an inner source MAC address in
// the table behind the packet's outer source address (Set). Every other
// packet passes on to the stack and vtepd's socket: unknown and moved
// sources (vtepd learns them), other VNIs and flags, fragments,
// CE and ECT(1) packets, and UDP GRO trains (SKB_GSO_UDP_L4), which hold more
// than one VXLAN packet.
//
// Learning still sees the sources: the program marks an entry it used,
// and Seen returns and clears the marks, so that vtepd can refresh the
// FDB entries' "updated" times (vxlan_snoop's refresh) and ageing goes on.
//
// A decapsulated GSO packet keeps the tunnel GSO marks the kernel would
// clear (iptunnel_pull_offloads): no BPF helper clears them. Delivered
// locally, or bridged into a veth, that changes nothing; see the README
// for routing it on to a NIC.
type RX struct {
	cfg   RXConfig
	srcs  *ebpf.Map
	seen  *ebpf.Map // MAC addresses used since the last Seen
	stats *ebpf.Map
	prog  *ebpf.Program
	links map[int]link.Link // by underlay ifindex
}

// source table value (srcValueLen bytes): the remote's IPv4 address as on
// the wire, zero for any.
const srcValueLen = 4

// LoadRX loads the receive program for cfg with a table of at most
// maxSrcs source MAC addresses. It is attached to nothing yet.
func LoadRX(cfg RXConfig, maxSrcs int) (*RX, error) {
	if !cfg.Local.Is4() {
		return nil, fmt.Errorf("fastpath: receive: local address %v: only IPv4", cfg.Local)
	}
	if cfg.Overlay <= 0 {
		return nil, fmt.Errorf("fastpath: receive: no overlay device")
	}
	r := &RX{cfg: cfg, links: map[int]link.Link{}}
	var err error
	r.srcs, err = newMACTable("vtep_rx_srcs", "source table", srcValueLen, maxSrcs)
	if err != nil {
		return nil, err
	}
	r.seen, err = newMACTable("vtep_rx_seen", "seen table", 4, maxSrcs)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.stats, err = newStatsMap("vtep_rx_stats")
	if err != nil {
		r.Close()
		return nil, err
	}
	r.prog, err = loadProgram("vtep_rx", "receive program", rxProgram(cfg, r.srcs.FD(), r.seen.FD(), r.stats.FD()))
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Config returns the configuration the program was loaded with.
func (r *RX) Config() RXConfig { return r.cfg }

// Attach attaches the program to the ingress of underlay interface
// ifindex (tcx, Linux 6.6+). Attaching twice is no error.
func (r *RX) Attach(ifindex int) error {
	if _, ok := r.links[ifindex]; ok {
		return nil
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: r.prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("fastpath: attach to the ingress of interface %d (tcx, Linux 6.6+): %w", ifindex, err)
	}
	r.links[ifindex] = l
	return nil
}

// Detach detaches the program from interface ifindex.
func (r *RX) Detach(ifindex int) error {
	l, ok := r.links[ifindex]
	if !ok {
		return nil
	}
	delete(r.links, ifindex)
	return l.Close()
}

// Attached returns the interfaces the program is attached to, in order.
func (r *RX) Attached() []int {
	return slices.Sorted(maps.Keys(r.links))
}

// Set lets the program take frames from mac arriving from remote (an IPv4
// address), or from any address when remote is the zero Addr.
func (r *RX) Set(mac header.MAC, remote netip.Addr) error {
	var v [srcValueLen]byte
	switch {
	case remote.Is4():
		a := remote.As4()
		copy(v[:4], a[:])
	case remote.IsValid():
		return fmt.Errorf("fastpath: receive: remote %v: only IPv4", remote)
	}
	k := key(mac)
	return r.srcs.Update(k[:], v[:], ebpf.UpdateAny)
}

// Delete hands the frames from mac back to vtepd. A MAC address not in the
// table is no error.
func (r *RX) Delete(mac header.MAC) error {
	return errors.Join(deleteKey(r.srcs, mac), deleteKey(r.seen, mac))
}

// Seen returns the MAC addresses whose entries the program used since the
// last call, and clears their marks.
func (r *RX) Seen() ([]header.MAC, error) { return drainMarks(r.seen) }

// Stats returns the program's counters: the frames it delivered, and
// their length after the inner Ethernet header.
func (r *RX) Stats() (Stats, error) { return readStats(r.stats) }

// Close detaches the program everywhere and frees its table.
func (r *RX) Close() error {
	var errs []error
	for i := range r.links {
		errs = append(errs, r.Detach(i))
	}
	if r.prog != nil {
		errs = append(errs, r.prog.Close())
	}
	for _, m := range []*ebpf.Map{r.srcs, r.seen, r.stats} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// More __sk_buff offsets, and helper arguments.
const (
	skbPktType         = 4
	fIngress           = 1                                                     // BPF_F_INGRESS
	adjRoomNoCsumReset = 1 << 5                                                // BPF_F_ADJ_ROOM_NO_CSUM_RESET
	csumQuery          = 0                                                     // BPF_CSUM_LEVEL_QUERY
	outerLen           = header.EthernetSize + HeaderLen + header.EthernetSize // 64: outer headers and the inner Ethernet header
	decapLen           = HeaderLen + header.EthernetSize                       // 50: removed after the outer Ethernet header
	rxBuf              = -66                                                   // the first 64 bytes of the packet; the outer IPv4 header 4-aligned
	rxEth              = rxBuf                                                 // outer Ethernet header
	rxIP               = rxBuf + header.EthernetSize                           // -52
	rxUDP              = rxIP + header.IPv4MinimumSize                         // -32
	rxVXLAN            = rxUDP + header.UDPSize                                // -24
	rxInner            = rxVXLAN + header.VXLANSize                            // -16
	rxKey              = -80
	rxOne              = -88 // a u32 1, the seen table's value
	innerMinIPv4       = outerLen + header.IPv4MinimumSize
	innerMinIPv6       = outerLen + header.IPv6FixedSize
)

// rxProgram returns the receive program (see RX). Registers: r6 the skb,
// r7 the source table value, r8 the packet's length. The stack accesses
// are naturally aligned, as the verifier insists.
func rxProgram(cfg RXConfig, srcs, seen, stats int) asm.Instructions {
	const (
		etIPv4 = 0x0008 // 08 00 read as a little-endian u16
		etIPv6 = 0xdd86
	)
	local := cfg.Local.As4()
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], cfg.Port)
	var vni [4]byte
	binary.BigEndian.PutUint32(vni[:], uint32(cfg.VNI)<<8)
	ne := binary.NativeEndian
	p := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, skbPktType, asm.Word),
		asm.JNE.Imm(asm.R2, 0, "pass"), // PACKET_HOST only, as ip_rcv
		asm.LoadMem(asm.R2, asm.R6, skbVlanPresent, asm.Word),
		asm.JNE.Imm(asm.R2, 0, "pass"),
		// bpf_skb_adjust_room leaves at least 20 bytes after the
		// Ethernet header: shorter inner frames go to vtepd.
		asm.LoadMem(asm.R8, asm.R6, skbLen, asm.Word),
		asm.JLT.Imm(asm.R8, innerMinIPv4, "pass"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, rxBuf),
		asm.Mov.Imm(asm.R4, outerLen),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),

		// Outer IPv4: no options, ECN not-ECT or ECT(0), the whole
		// packet, not a fragment, UDP, to Local.
		asm.LoadMem(asm.R2, asm.RFP, rxEth+12, asm.Half),
		asm.JNE.Imm(asm.R2, etIPv4, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxIP, asm.Byte),
		asm.JNE.Imm(asm.R2, 0x45, "pass"),
		// ECT(1) and CE: vtepd may change the inner ECN field
		// (INET_ECN_decapsulate: CE copied in, ECT(1) over ECT(0)).
		asm.LoadMem(asm.R2, asm.RFP, rxIP+1, asm.Byte),
		asm.And.Imm(asm.R2, 1),
		asm.JNE.Imm(asm.R2, 0, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxIP+2, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Sub.Imm(asm.R3, header.EthernetSize),
		asm.JNE.Reg(asm.R2, asm.R3, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxIP+6, asm.Half),
		asm.And.Imm(asm.R2, int32(ne.Uint16([]byte{0x3f, 0xff}))), // MF and the offset
		asm.JNE.Imm(asm.R2, 0, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxIP+9, asm.Byte),
		asm.JNE.Imm(asm.R2, header.UDPProtocolNumber, "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxIP+16, asm.Word),
		asm.JNE.Imm32(asm.R2, int32(ne.Uint32(local[:])), "pass"),

		// UDP: the port, the length, the checksum zero or verified.
		asm.LoadMem(asm.R2, asm.RFP, rxUDP+2, asm.Half),
		asm.JNE.Imm(asm.R2, int32(ne.Uint16(port[:])), "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxUDP+4, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Sub.Imm(asm.R3, header.EthernetSize+header.IPv4MinimumSize),
		asm.JNE.Reg(asm.R2, asm.R3, "pass"),

		// VXLAN: the I flag alone, the link's VNI, no reserved bits.
		asm.LoadMem(asm.R2, asm.RFP, rxVXLAN, asm.Word),
		asm.JNE.Imm32(asm.R2, int32(ne.Uint32([]byte{0x08, 0, 0, 0})), "pass"),
		asm.LoadMem(asm.R2, asm.RFP, rxVXLAN+4, asm.Word),
		asm.JNE.Imm32(asm.R2, int32(ne.Uint32(vni[:])), "pass"),

		// The inner network header must be there (pskb_inet_may_pull).
		// (IPv4's is there: see the length check above.)
		asm.LoadMem(asm.R2, asm.RFP, rxInner+12, asm.Half),
		asm.JNE.Imm(asm.R2, etIPv6, "innerok"),
		asm.JLT.Imm(asm.R8, innerMinIPv6, "pass"),

		// The source: in the table, behind this remote.
		asm.Mov.Imm(asm.R2, 0).WithSymbol("innerok"),
		asm.StoreMem(asm.RFP, rxKey, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, rxInner+6, asm.Half),
		asm.StoreMem(asm.RFP, rxKey, asm.R2, asm.Half),
		asm.LoadMem(asm.R2, asm.RFP, rxInner+8, asm.Half),
		asm.StoreMem(asm.RFP, rxKey+2, asm.R2, asm.Half),
		asm.LoadMem(asm.R2, asm.RFP, rxInner+10, asm.Half),
		asm.StoreMem(asm.RFP, rxKey+4, asm.R2, asm.Half),
		asm.LoadMapPtr(asm.R1, srcs),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, rxKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R2, asm.R7, 0, asm.Word),
		asm.JEq.Imm(asm.R2, 0, "srcok"),
		asm.LoadMem(asm.R3, asm.RFP, rxIP+12, asm.Word),
		asm.JNE.Reg32(asm.R2, asm.R3, "pass"),
	}
	// The outer header checksum (ip_rcv_core runs after tc).
	p = append(p, ipv4HeaderSum(rxIP, "srcok")...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0xffff, "pass"),

		// A non-zero UDP checksum must have been verified by the device
		// (CHECKSUM_UNNECESSARY); else the socket checks it.
		asm.LoadMem(asm.R2, asm.RFP, rxUDP+6, asm.Half),
		asm.JEq.Imm(asm.R2, 0, "csumok"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, csumQuery),
		asm.FnCsumLevel.Call(),
		asm.JSLT.Imm(asm.R0, 0, "pass"),

		// A UDP GRO train (SKB_GSO_UDP_L4) holds several VXLAN packets:
		// adjusting by nothing without BPF_F_ADJ_ROOM_FIXED_GSO refuses
		// it (as any GSO packet that is not TCP) and changes nothing
		// else. A tunnel GSO packet (TCP inside) is one.
		asm.LoadMem(asm.R2, asm.R6, skbGSOSize, asm.Word).WithSymbol("csumok"),
		asm.JEq.Imm(asm.R2, 0, "decap"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R3, adjRoomMAC),
		asm.Mov.Imm(asm.R4, adjRoomNoCsumReset),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),

		// Remove the outer IPv4, UDP and VXLAN headers and the inner
		// Ethernet header, then write the inner one over the outer.
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("decap"),
		asm.Mov.Imm(asm.R2, -decapLen),
		asm.Mov.Imm(asm.R3, adjRoomMAC),
		asm.Mov.Imm(asm.R4, adjRoomFixedGSO),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, rxInner),
		asm.Mov.Imm(asm.R4, header.EthernetSize),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),
	)
	// Mark the source seen.
	p = append(p, markOnce(seen, rxKey, rxOne, "count")...)
	// Count it: rx_bytes is the length after the inner Ethernet header.
	p = append(p, count(stats, rxKey, "count", outerLen, "deliver")...)
	return append(p,

		// Into the overlay device's receive path.
		asm.Mov.Imm(asm.R1, int32(cfg.Overlay)).WithSymbol("deliver"),
		asm.Mov.Imm(asm.R2, fIngress),
		asm.FnRedirect.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcShot).WithSymbol("drop"),
		asm.Return(),
	)
}
