// Package kernelnet is vtepd's view of the kernel's network configuration
// over rtnetlink (github.com/vishvananda/netlink): the interfaces that
// carry vtep links, their neighbour tables, and the host's addresses.
//
// A [Handle] performs the few changes vtepd makes to interfaces it owns
// (up/down, MTU, address, `ip addr add`, `ip neigh add ... nud permanent`)
// and reads interface attributes for `vtep link show`. The Watch functions
// subscribe to RTM_NEWLINK/RTM_DELLINK, RTM_NEWNEIGH/RTM_DELNEIGH and
// RTM_NEWADDR/RTM_DELADDR in the network namespace of the calling thread,
// so that what a user does to an interface directly (`ip link set vx0
// down`, `ip neigh add`, `ip link del vx0`) reaches the daemon, exactly
// where the kernel's vxlan driver would look. A [NeighTable] keeps the
// neighbour entries of the daemon's links for proxy ARP/ND and route
// short-circuit.
//
// Everything here runs on the control path; nothing is per packet except
// NeighTable.Lookup, which takes a read lock and does not allocate.
package kernelnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/vtepd/vtep/header"
)

// Errors.
var (
	// ErrNotFound is returned for an interface that does not exist. It
	// matches syscall.ENODEV.
	ErrNotFound error = &notFound{}
)

type notFound struct{}

func (*notFound) Error() string { return "kernelnet: no such interface" }
func (*notFound) Unwrap() error { return syscall.ENODEV }

// OpError is a failed netlink request.
type OpError struct {
	Op   string // e.g. "set mtu"
	Link string // interface name or "if<index>"
	Err  error
}

func (e *OpError) Error() string { return fmt.Sprintf("kernelnet: %s %s: %v", e.Op, e.Link, e.Err) }

// Unwrap returns the underlying error (often a syscall.Errno).
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op string, ifindex int, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Link: fmt.Sprintf("if%d", ifindex), Err: err}
}

// Link is an interface as rtnetlink reports it.
type Link struct {
	Index int
	Name  string
	// Flags are the IFF_* flags (ifi_flags).
	Flags uint32
	MTU   int
	// MasterIndex is the index of the interface's master (a bridge), or 0.
	MasterIndex int
	// OperState is the operational state as ip prints it: UNKNOWN,
	// NOTPRESENT, DOWN, LOWERLAYERDOWN, TESTING, DORMANT or UP.
	OperState   string
	TxQLen      int
	MAC         header.MAC
	Promiscuity int
	AllMulti    int
	NumTxQueues int
	NumRxQueues int
	// Kind is the rtnl link kind ("tuntap", "veth", "vxlan", ...).
	Kind string
}

// IsUp reports whether the interface is administratively up (IFF_UP).
func (l *Link) IsUp() bool { return l.Flags&syscall.IFF_UP != 0 }

var operStates = [...]string{"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"}

func linkOf(nl netlink.Link) Link {
	a := nl.Attrs()
	l := Link{
		Index: a.Index, Name: a.Name, Flags: a.RawFlags, MTU: a.MTU, MasterIndex: a.MasterIndex,
		OperState: "UNKNOWN", TxQLen: a.TxQLen, Promiscuity: a.Promisc, AllMulti: a.Allmulti,
		NumTxQueues: a.NumTxQueues, NumRxQueues: a.NumRxQueues, Kind: nl.Type(),
	}
	if int(a.OperState) < len(operStates) {
		l.OperState = operStates[a.OperState]
	}
	if len(a.HardwareAddr) == 6 {
		copy(l.MAC[:], a.HardwareAddr)
	}
	return l
}

// Handle makes rtnetlink requests in the network namespace it was opened
// in.
type Handle struct {
	nh *netlink.Handle
}

// Open returns a handle for the network namespace of the calling thread.
func Open() (*Handle, error) {
	nh, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("kernelnet: open rtnetlink: %w", err)
	}
	return &Handle{nh: nh}, nil
}

// Close releases the handle.
func (h *Handle) Close() { h.nh.Close() }

// isNotFound reports whether err is netlink's "link not found".
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV)
}

// LinkByName returns the interface called name, or an error matching
// ErrNotFound.
func (h *Handle) LinkByName(name string) (Link, error) {
	nl, err := h.nh.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return Link{}, fmt.Errorf("kernelnet: %s: %w", name, ErrNotFound)
		}
		return Link{}, &OpError{Op: "get link", Link: name, Err: err}
	}
	return linkOf(nl), nil
}

// LinkByIndex returns the interface with index i, or an error matching
// ErrNotFound.
func (h *Handle) LinkByIndex(i int) (Link, error) {
	nl, err := h.nh.LinkByIndex(i)
	if err != nil {
		if isNotFound(err) {
			return Link{}, fmt.Errorf("kernelnet: if%d: %w", i, ErrNotFound)
		}
		return Link{}, opErr("get link", i, err)
	}
	return linkOf(nl), nil
}

// Links returns every interface.
func (h *Handle) Links() ([]Link, error) {
	var nls []netlink.Link
	err := retryDump(func() error {
		var err error
		nls, err = h.nh.LinkList()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernelnet: list links: %w", err)
	}
	out := make([]Link, len(nls))
	for i, nl := range nls {
		out[i] = linkOf(nl)
	}
	return out, nil
}

// retryDump retries a dump interrupted by a concurrent change (netlink
// returns ErrDumpInterrupted since v1.2.1).
func retryDump(f func() error) error {
	var err error
	for range 10 {
		if err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func (h *Handle) link(i int) (netlink.Link, error) {
	nl, err := h.nh.LinkByIndex(i)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("kernelnet: if%d: %w", i, ErrNotFound)
		}
		return nil, opErr("get link", i, err)
	}
	return nl, nil
}

// SetUp sets interface i administratively up or down (`ip link set DEV
// up|down`).
func (h *Handle) SetUp(i int, up bool) error {
	nl, err := h.link(i)
	if err != nil {
		return err
	}
	if up {
		return opErr("set up", i, h.nh.LinkSetUp(nl))
	}
	return opErr("set down", i, h.nh.LinkSetDown(nl))
}

// SetMTU sets interface i's MTU.
func (h *Handle) SetMTU(i, mtu int) error {
	nl, err := h.link(i)
	if err != nil {
		return err
	}
	return opErr("set mtu", i, h.nh.LinkSetMTU(nl, mtu))
}

// SetMAC sets interface i's Ethernet address.
func (h *Handle) SetMAC(i int, m header.MAC) error {
	nl, err := h.link(i)
	if err != nil {
		return err
	}
	return opErr("set address", i, h.nh.LinkSetHardwareAddr(nl, net.HardwareAddr(m[:])))
}

// Qdisc returns the kind of interface i's root qdisc, or "".
func (h *Handle) Qdisc(i int) string {
	nl, err := h.nh.LinkByIndex(i)
	if err != nil {
		return ""
	}
	qs, err := h.nh.QdiscList(nl)
	if err != nil {
		return ""
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q.Type()
		}
	}
	return ""
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().Unmap()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// AddAddr adds address p to interface i (`ip addr add P dev DEV`).
func (h *Handle) AddAddr(i int, p netip.Prefix) error {
	nl, err := h.link(i)
	if err != nil {
		return err
	}
	return opErr("add address", i, h.nh.AddrAdd(nl, &netlink.Addr{IPNet: ipNet(p)}))
}

// DelAddr removes address p from interface i.
func (h *Handle) DelAddr(i int, p netip.Prefix) error {
	nl, err := h.link(i)
	if err != nil {
		return err
	}
	return opErr("delete address", i, h.nh.AddrDel(nl, &netlink.Addr{IPNet: ipNet(p)}))
}

// Addr is an address assigned to an interface.
type Addr struct {
	Ifindex int
	Prefix  netip.Prefix
}

// Addrs returns every address of every interface.
func (h *Handle) Addrs() ([]Addr, error) {
	var as []netlink.Addr
	err := retryDump(func() error {
		var err error
		as, err = h.nh.AddrList(nil, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernelnet: list addresses: %w", err)
	}
	out := make([]Addr, 0, len(as))
	for _, a := range as {
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, Addr{Ifindex: a.LinkIndex, Prefix: p})
		}
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// ntfRouter is NTF_ROUTER.
const ntfRouter = 0x80

// nudPermanent is NUD_PERMANENT.
const nudPermanent = 0x80

// SetNeigh adds or replaces a permanent neighbour entry on interface i
// (`ip neigh replace IP lladdr MAC dev DEV nud permanent [router]`).
func (h *Handle) SetNeigh(i int, ip netip.Addr, m header.MAC, router bool) error {
	ip = ip.Unmap()
	n := &netlink.Neigh{
		LinkIndex: i, Family: family(ip), State: nudPermanent,
		IP: net.IP(ip.AsSlice()), HardwareAddr: net.HardwareAddr(m[:]),
	}
	if router {
		n.Flags = ntfRouter
	}
	return opErr("set neighbour", i, h.nh.NeighSet(n))
}

// DelNeigh removes the neighbour entry for ip on interface i.
func (h *Handle) DelNeigh(i int, ip netip.Addr) error {
	ip = ip.Unmap()
	n := &netlink.Neigh{LinkIndex: i, Family: family(ip), IP: net.IP(ip.AsSlice())}
	return opErr("delete neighbour", i, h.nh.NeighDel(n))
}

func family(a netip.Addr) int {
	if a.Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}
