package underlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vtepd/vtep/internal/sys"
)

// Injector sends whole VXLAN super-packets: one inner TSO super-frame under
// one set of outer IP, UDP and VXLAN headers, as the kernel's own vxlan
// hands to its underlay (SKB_GSO_UDP_TUNNEL). A UDP socket cannot send
// those, so they go through a TAP of their own that offers tunnel GSO
// (TUN_F_UDP_TUNNEL_GSO, Linux 6.17+): a tc program on its ingress
// (RedirectNeighProgram) hands each packet to bpf_redirect_neigh, which
// routes it out of the interface named in its Ethernet header and fills in
// the link-layer addresses from the neighbour table. The packet is cut into
// MTU-sized datagrams only by the device that has to (the NIC, or software
// GSO in front of one that cannot); over a veth it crosses whole, and a
// receiving UDP socket gets it as one datagram.
//
// Packets sent this way leave through the interface's queueing discipline
// but skip the host's IP output path: netfilter's OUTPUT and POSTROUTING
// hooks do not see them.
type Injector struct {
	files []*os.File
	name  string
	index int
	prog  *os.File
	link  *os.File

	mu   sync.Mutex
	nl   *netlink.Handle
	oifs map[netip.Addr]oifEntry

	sent, errs atomic.Uint64
}

type oifEntry struct {
	oif int
	at  time.Time
}

// OpenInjector creates the injection TAP with one queue per sender (one fd
// each) and attaches its redirect program. It fails on kernels without
// tunnel GSO in TAPs or without tcx.
func OpenInjector(queues int) (*Injector, error) {
	queues = max(queues, 1)
	off := sys.TUN_F_CSUM | sys.TUN_F_TSO4 | sys.TUN_F_TSO6 | sys.TUN_F_UDP_TUNNEL_GSO | sys.TUN_F_UDP_TUNNEL_GSO_CSUM
	files, name, err := sys.OpenTAPQueues("vtepgso%d", queues, TunnelHdrLen, off)
	if err != nil {
		return nil, fmt.Errorf("tunnel GSO device: %w", err)
	}
	j := &Injector{files: files, name: name, oifs: make(map[netip.Addr]oifEntry)}
	fail := func(err error) (*Injector, error) {
		j.Close()
		return nil, err
	}
	h, err := netlink.NewHandle(syscall.NETLINK_ROUTE)
	if err != nil {
		return fail(fmt.Errorf("tunnel GSO device: netlink: %w", err))
	}
	j.nl = h
	l, err := h.LinkByName(name)
	if err != nil {
		return fail(fmt.Errorf("tunnel GSO device %s: %w", name, err))
	}
	j.index = l.Attrs().Index
	// No addresses, no IPv6: nothing is sent to it or routed through it.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
	if err := h.LinkSetUp(l); err != nil {
		return fail(fmt.Errorf("tunnel GSO device %s: setting up: %w", name, err))
	}
	j.prog, err = sys.LoadSchedCLS("vtep_redirect", sys.RedirectNeighProgram())
	if err != nil {
		return fail(fmt.Errorf("tunnel GSO device %s: %w", name, err))
	}
	j.link, err = sys.AttachTCXIngress(j.prog, j.index)
	if err != nil {
		return fail(fmt.Errorf("tunnel GSO device %s: %w", name, err))
	}
	return j, nil
}

// Name returns the injection TAP's name.
func (j *Injector) Name() string { return j.name }

// Queues returns the number of queues.
func (j *Injector) Queues() int { return len(j.files) }

// Write sends pkt through queue q (modulo the number of queues). pkt is a
// TunnelHdrLen-byte virtio_net_hdr_v1_hash_tunnel (PutTunnelHdr), an
// Ethernet header whose destination address names the output interface
// (PutOifMAC), and the outer IP packet.
func (j *Injector) Write(q int, pkt []byte) error {
	if len(j.files) == 0 {
		return net.ErrClosed
	}
	f := j.files[q%len(j.files)]
	_, err := sys.Write(f.Fd(), pkt)
	if err != nil {
		j.errs.Add(1)
		return os.NewSyscallError("write", err)
	}
	j.sent.Add(1)
	return nil
}

// Stats returns how many packets were written and how many writes failed.
func (j *Injector) Stats() (sent, errs uint64) { return j.sent.Load(), j.errs.Load() }

// oifTTL is how long a route lookup's answer is kept.
const oifTTL = time.Second

// Oif returns the output interface of the route to dst (0 when there is
// none). Answers are kept for a second.
func (j *Injector) Oif(dst netip.Addr) int {
	now := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if e, ok := j.oifs[dst]; ok && now.Sub(e.at) < oifTTL {
		return e.oif
	}
	oif := 0
	if j.nl != nil {
		if rs, err := j.nl.RouteGet(net.IP(dst.AsSlice())); err == nil && len(rs) > 0 {
			oif = rs[0].LinkIndex
		}
	}
	if len(j.oifs) >= 4096 {
		clear(j.oifs)
	}
	j.oifs[dst] = oifEntry{oif, now}
	return oif
}

// Close removes the injection TAP and detaches its program.
func (j *Injector) Close() error {
	var errs []error
	if j.link != nil {
		errs = append(errs, j.link.Close())
	}
	if j.prog != nil {
		errs = append(errs, j.prog.Close())
	}
	for _, f := range j.files {
		errs = append(errs, f.Close())
	}
	j.files = nil
	j.mu.Lock()
	if j.nl != nil {
		j.nl.Close()
		j.nl = nil
	}
	j.mu.Unlock()
	return errors.Join(errs...)
}
