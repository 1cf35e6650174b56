package nstest

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/vtepd/vtep/header"
)

// Veth describes a veth pair between two namespaces.
type Veth struct {
	// NameA and NameB are the interface names on each side; "" means "veth0".
	NameA, NameB string
	// AddrsA and AddrsB are added to each side (IPv6 with nodad).
	AddrsA, AddrsB []netip.Prefix
	// MTU, if non-zero, is set on both sides.
	MTU int
}

// AddVeth creates a veth pair with one end in a and the other in b, adds the
// addresses and sets both ends up. The pair goes away with the namespaces.
// It returns the interface names (NameA, NameB) actually used.
func AddVeth(t testing.TB, a, b *NS, cfg Veth) (nameA, nameB string) {
	t.Helper()
	nameA, nameB = cfg.NameA, cfg.NameB
	if nameA == "" {
		nameA = "veth0"
	}
	if nameB == "" {
		nameB = "veth0"
	}
	// Created inside a with its peer placed straight into b, so no name is
	// ever visible in the root namespace (other tests may use the same ones).
	a.IP(t, "link", "add", nameA, "type", "veth", "peer", "name", nameB, "netns", b.Name)
	if cfg.MTU != 0 {
		a.IP(t, "link", "set", nameA, "mtu", strconv.Itoa(cfg.MTU))
		b.IP(t, "link", "set", nameB, "mtu", strconv.Itoa(cfg.MTU))
	}
	a.AddAddr(t, nameA, cfg.AddrsA...)
	b.AddAddr(t, nameB, cfg.AddrsB...)
	a.LinkUp(t, nameA)
	b.LinkUp(t, nameB)
	return nameA, nameB
}

// VXLAN describes a kernel vxlan device, in the words of
// `ip link add NAME type vxlan …`.
type VXLAN struct {
	// Name is the device name; "" means "vx0".
	Name string
	// VNI is the device VNI (`id`).
	VNI header.VNI
	// DstPort is the UDP destination port; 0 means 4789 (the kernel's own
	// default would be 8472, so it is always given explicitly).
	DstPort uint16
	// Local is the source address (`local`), if valid.
	Local netip.Addr
	// Remote is the default destination (`remote`), if valid.
	Remote netip.Addr
	// Group is a multicast group (`group`), if valid.
	Group netip.Addr
	// Dev is the underlay device (`dev`), if non-empty.
	Dev string
	// NoLearning adds `nolearning`.
	NoLearning bool
	// TTL, if non-zero, is the outer TTL (`ttl`).
	TTL int
	// MTU, if non-zero, is set with `mtu`.
	MTU int
	// Extra is appended verbatim to the `ip link add` arguments.
	Extra []string
	// Addrs are added to the device (IPv6 with nodad) before it is set up.
	Addrs []netip.Prefix
}

// Args returns the `ip link add` arguments for the device.
func (v VXLAN) Args() []string {
	name := v.Name
	if name == "" {
		name = "vx0"
	}
	port := v.DstPort
	if port == 0 {
		port = 4789
	}
	args := []string{"link", "add", name}
	if v.MTU != 0 {
		args = append(args, "mtu", strconv.Itoa(v.MTU))
	}
	args = append(args, "type", "vxlan", "id", strconv.FormatUint(uint64(v.VNI), 10),
		"dstport", strconv.FormatUint(uint64(port), 10))
	if v.Local.IsValid() {
		args = append(args, "local", v.Local.String())
	}
	if v.Remote.IsValid() {
		args = append(args, "remote", v.Remote.String())
	}
	if v.Group.IsValid() {
		args = append(args, "group", v.Group.String())
	}
	if v.Dev != "" {
		args = append(args, "dev", v.Dev)
	}
	if v.TTL != 0 {
		args = append(args, "ttl", strconv.Itoa(v.TTL))
	}
	if v.NoLearning {
		args = append(args, "nolearning")
	}
	return append(args, v.Extra...)
}

// AddVXLAN creates a kernel vxlan device in the namespace, adds its
// addresses and sets it up. It returns the device name.
func (ns *NS) AddVXLAN(t testing.TB, v VXLAN) string {
	t.Helper()
	args := v.Args()
	name := args[2]
	ns.IP(t, args...)
	ns.AddAddr(t, name, v.Addrs...)
	ns.LinkUp(t, name)
	return name
}

// AppendFlood adds all-zeros flood entries for dev towards each destination
// (`bridge fdb append 00:00:00:00:00:00 dev DEV dst IP`), the head-end
// replication list that the kernel floods BUM traffic to.
func (ns *NS) AppendFlood(t testing.TB, dev string, dsts ...netip.Addr) {
	t.Helper()
	for _, dst := range dsts {
		ns.Bridge(t, "fdb", "append", header.ZeroMAC.String(), "dev", dev, "dst", dst.String())
	}
}

// TxChecksumOff turns off transmit checksum offload on dev
// (`ethtool -K DEV tx off`), so that the kernel finishes every checksum
// before the packet leaves dev.
//
// A veth hands packets to its peer with checksums still "partial"
// (CHECKSUM_PARTIAL): the kernel's vxlan leaves the inner TCP/UDP checksum
// for the device to fill in, and a veth never does, because the receiving
// kernel treats such packets as already verified. A userspace VTEP reading
// the packet from a UDP socket therefore sees an unfinished inner checksum
// (only the pseudo-header sum); vtepd recognises and completes those on
// receive (vtep/csum.go), so this is not needed for interoperation. Use it
// to have the kernel send complete checksums instead, e.g. to test both
// cases.
func (ns *NS) TxChecksumOff(t testing.TB, dev string) {
	t.Helper()
	RequireTools(t, "ethtool")
	ns.Run(t, "ethtool", "-K", dev, "tx", "off")
}
