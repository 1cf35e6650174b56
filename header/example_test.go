package header_test

import (
	"fmt"
	"net/netip"

	"github.com/vtepd/vtep/header"
)

// Build an encapsulated frame in one buffer: the inner Ethernet frame is
// already in place, and the outer headers are written in front of it with
// the Fields structs, as the transmit path does in its headroom.
func Example_encapsulate() {
	inner := []byte{
		0x02, 0, 0, 0, 1, 2, 0x02, 0, 0, 0, 1, 1, 0x08, 0x06, // inner Ethernet, ARP
	}
	const outer = header.EthernetSize + header.IPv4MinimumSize + header.UDPSize + header.VXLANSize
	buf := make([]byte, outer+len(inner))
	copy(buf[outer:], inner)

	header.Ethernet(buf).Encode(&header.EthernetFields{
		Destination: header.MustParseMAC("02:00:00:00:00:02"),
		Source:      header.MustParseMAC("02:00:00:00:00:01"),
		Type:        header.EtherTypeIPv4,
	})
	ip := header.IPv4(buf[header.EthernetSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(buf) - header.EthernetSize),
		Flags:       header.IPv4FlagDontFragment,
		TTL:         64,
		Protocol:    header.UDPProtocolNumber,
		SrcAddr:     netip.MustParseAddr("192.0.2.1"),
		DstAddr:     netip.MustParseAddr("192.0.2.2"),
	})
	ip.SetChecksum(ip.CalculateChecksum())
	udp := header.UDP(ip[header.IPv4MinimumSize:])
	udp.Encode(&header.UDPFields{
		SrcPort: 49152,
		DstPort: header.VXLANPort,
		Length:  uint16(len(udp)),
	})
	header.VXLAN(udp[header.UDPSize:]).Encode(&header.VXLANFields{VNI: 42})
	udp.SetChecksum(udp.CalculateChecksum(ip.PseudoHeaderSum(header.UDPProtocolNumber, udp.Length())))

	// Read it back.
	vx := header.VXLAN(header.UDP(header.IPv4(buf[header.EthernetSize:]).Payload()).Payload())
	fmt.Println("IPv4 checksum valid:", ip.IsChecksumValid())
	fmt.Println("UDP checksum valid:", udp.IsChecksumValid(ip.PseudoHeaderSum(header.UDPProtocolNumber, udp.Length())))
	fmt.Printf("VXLAN header: % x\n", []byte(vx[:header.VXLANSize]))
	fmt.Println("VNI:", vx.VNI(), "I flag:", vx.IFlag())
	fmt.Println("inner destination:", header.Ethernet(vx[header.VXLANSize:]).DestinationAddress())
	// Output:
	// IPv4 checksum valid: true
	// UDP checksum valid: true
	// VXLAN header: 08 00 00 00 00 00 2a 00
	// VNI: 42 I flag: true
	// inner destination: 02:00:00:00:01:02
}

// A receiver applies the kernel's reserved-bits rule with Uint64: the
// packet is dropped when it sets a bit no enabled feature claims.
func ExampleVXLAN_Uint64() {
	gbpHeader := header.VXLAN{0x88, 0x08, 0x00, 0xff, 0x00, 0x00, 0x0a, 0x00}

	plain := ^header.VXLANUsedBitsDefault
	withGBP := ^(header.VXLANUsedBitsDefault | header.VXLANUsedBitsGBP)
	fmt.Printf("reserved bits of a plain device: %#016x\n", plain)
	fmt.Println("drop on a plain device:", gbpHeader.Uint64()&plain != 0)
	fmt.Println("drop on a gbp device:", gbpHeader.Uint64()&withGBP != 0)
	fmt.Printf("skb->mark: %#x\n", gbpHeader.GBPMark())
	// Output:
	// reserved bits of a plain device: 0xf7ffffff000000ff
	// drop on a plain device: true
	// drop on a gbp device: false
	// skb->mark: 0x800ff
}

func ExampleEthernet_PayloadOffset() {
	frame := header.Ethernet{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1,
		0x88, 0xa8, 0x00, 0x64, // S-tag, VID 100
		0x81, 0x00, 0x00, 0xc8, // C-tag, VID 200
		0x86, 0xdd, // IPv6
	}
	et, off, ok := frame.PayloadOffset()
	fmt.Printf("EtherType %#04x at offset %d (ok=%v)\n", et, off, ok)
	for i := 0; ; i++ {
		tag, ok := frame.VLANTagAt(i)
		if !ok {
			break
		}
		fmt.Printf("tag %d: TPID %#04x VID %d\n", i, tag.TPID(), tag.ID())
	}
	// Output:
	// EtherType 0x86dd at offset 22 (ok=true)
	// tag 0: TPID 0x88a8 VID 100
	// tag 1: TPID 0x8100 VID 200
}

func ExampleIPv6_UpperLayer() {
	pkt := make(header.IPv6, header.IPv6FixedSize+8+8)
	pkt.Encode(&header.IPv6Fields{
		PayloadLength: 16,
		NextHeader:    header.IPv6HopByHopProtocolNumber,
		HopLimit:      1,
		SrcAddr:       netip.MustParseAddr("fe80::1"),
		DstAddr:       netip.MustParseAddr("ff02::16"),
	})
	// Hop-by-Hop Options: next header ICMPv6, length 0 (8 bytes), Router
	// Alert, then the start of an ICMPv6 message.
	copy(pkt[header.IPv6FixedSize:], []byte{header.ICMPv6ProtocolNumber, 0, 5, 2, 0, 0, 1, 0, 143})
	proto, off, ok := pkt.UpperLayer()
	fmt.Println(proto, off, ok)
	// Output: 58 48 true
}

func ExampleParseTCPOptions() {
	// The options of a Linux SYN: MSS, SACK-Permitted, Timestamps, NOP,
	// Window Scale.
	opts := header.AppendTCPMSSOption(nil, 1460)
	opts = header.AppendTCPSACKPermittedOption(opts)
	opts = append(opts, header.TCPOptionTimestamps, header.TCPOptionTimestampsLength, 0, 0, 0, 1, 0, 0, 0, 0)
	opts = header.AppendTCPOption(opts, header.TCPOptionNOP, nil)
	opts = header.AppendTCPWindowScaleOption(opts, 7)

	s := header.ParseTCPOptions(opts)
	fmt.Println("MSS", s.MSS, "wscale", s.WindowScale, "sack", s.SACKPermitted, "tsval", s.TSVal)
	// Output: MSS 1460 wscale 7 sack true tsval 1
}

func ExampleNDPOptions_LinkLayerAddress() {
	ns := make(header.NDPNeighborSolicit, header.NDPNeighborSolicitSize+header.NDPLinkLayerAddressOptionSize)
	ns.Encode(&header.NDPNeighborSolicitFields{
		TargetAddress: netip.MustParseAddr("2001:db8::2"),
		Options: header.AppendNDPLinkLayerAddressOption(nil,
			header.NDPOptionSourceLinkLayerAddress, header.MustParseMAC("02:00:00:00:00:01")),
	})
	fmt.Println(ns.IsValid(), ns.TargetAddress())
	fmt.Println(ns.Options().LinkLayerAddress(header.NDPOptionSourceLinkLayerAddress))
	// Output:
	// true 2001:db8::2
	// 02:00:00:00:00:01 true
}

func ExampleVirtioNetHdr() {
	// The header a TAP reads for a TCP/IPv4 super-frame (MSS 1448).
	hdr := make(header.VirtioNetHdr, header.VirtioNetHdrSize)
	hdr.Encode(&header.VirtioNetHdrFields{
		Flags:      header.VirtioNetHdrFlagNeedsCsum,
		GSOType:    header.VirtioNetHdrGSOTCPv4,
		HdrLen:     header.EthernetSize + header.IPv4MinimumSize + header.TCPMinimumSize,
		GSOSize:    1448,
		CsumStart:  header.EthernetSize + header.IPv4MinimumSize,
		CsumOffset: 16,
	})
	fmt.Printf("% x\n", []byte(hdr))
	// Output: 01 01 36 00 a8 05 22 00 10 00
}
