package header

// Header sizes in bytes.
const (
	// EthernetSize is the length of an untagged Ethernet II header:
	// destination MAC (6), source MAC (6), EtherType (2). The frame check
	// sequence is never part of the frames vtep sees.
	EthernetSize = 14
	// EthernetMinimumSize is an alias of EthernetSize, for symmetry with the
	// other views.
	EthernetMinimumSize = EthernetSize
	// VLANTagSize is the length of one 802.1Q or 802.1ad tag: the tag
	// protocol identifier (2) and the tag control information (2).
	VLANTagSize = 4
	// ARPSize is the length of an ARP packet for Ethernet and IPv4:
	// 8 fixed bytes + 2*(6+4) address bytes.
	ARPSize = 28
	// IPv4MinimumSize is the length of an IPv4 header without options (IHL 5).
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the largest IPv4 header: IHL is 4 bits,
	// counting 32-bit words, so 15*4 = 60 bytes.
	IPv4MaximumHeaderSize = 60
	// IPv4AddressSize is the length of an IPv4 address.
	IPv4AddressSize = 4
	// IPv6FixedSize is the length of the fixed IPv6 header (RFC 8200 §3).
	IPv6FixedSize = 40
	// IPv6MinimumSize is an alias of IPv6FixedSize.
	IPv6MinimumSize = IPv6FixedSize
	// IPv6AddressSize is the length of an IPv6 address.
	IPv6AddressSize = 16
	// UDPSize is the length of the UDP header (RFC 768).
	UDPSize = 8
	// UDPMinimumSize is an alias of UDPSize.
	UDPMinimumSize = UDPSize
	// TCPMinimumSize is the length of a TCP header without options
	// (Data Offset 5).
	TCPMinimumSize = 20
	// TCPMaximumHeaderSize is the largest TCP header: Data Offset is
	// 4 bits, counting 32-bit words, so 15*4 = 60 bytes.
	TCPMaximumHeaderSize = 60
	// ICMPv4MinimumSize is the length of the ICMPv4 header including the
	// 4-byte "rest of header" word (RFC 792).
	ICMPv4MinimumSize = 8
	// ICMPv6MinimumSize is the length of the ICMPv6 header including the
	// first 4 bytes of the message body (RFC 4443 §2.1).
	ICMPv6MinimumSize = 8
	// VXLANSize is the length of the VXLAN header (RFC 7348 §5), and of the
	// VXLAN-GPE header.
	VXLANSize = 8
)

// EtherType values (IEEE 802 numbers) that vtep interprets.
const (
	EtherTypeIPv4   = 0x0800
	EtherTypeARP    = 0x0806
	EtherType8021Q  = 0x8100 // Customer VLAN tag (C-tag)
	EtherTypeIPv6   = 0x86DD
	EtherType8021AD = 0x88A8 // Service VLAN tag (S-tag, "QinQ")
	// EtherTypeTransparentEthernetBridging is the EtherType of an
	// encapsulated Ethernet frame, as used by GRE and Geneve.
	EtherTypeTransparentEthernetBridging = 0x6558
	// EtherTypeMinimum is the smallest value that is an EtherType; smaller
	// values in the type field are 802.3 lengths (IEEE 802.3 §3.2.6).
	EtherTypeMinimum = 0x0600
)

// IP protocol numbers (the IPv4 "Protocol" and IPv6 "Next Header" field).
const (
	IPv6HopByHopProtocolNumber           = 0
	ICMPv4ProtocolNumber                 = 1
	IPv4ProtocolNumber                   = 4 // IP in IP
	TCPProtocolNumber                    = 6
	UDPProtocolNumber                    = 17
	IPv6ProtocolNumber                   = 41 // IPv6 in IP
	IPv6RoutingProtocolNumber            = 43
	IPv6FragmentProtocolNumber           = 44
	ESPProtocolNumber                    = 50
	AHProtocolNumber                     = 51
	ICMPv6ProtocolNumber                 = 58
	IPv6NoNextHeaderProtocolNumber       = 59
	IPv6DestinationOptionsProtocolNumber = 60
)
