package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/fastpath"
	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/nexthop"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// system is what the daemon needs from the operating system besides the
// datapath: creating a link's interface, reading and changing interfaces,
// addresses and neighbour entries. linuxSystem is the real one; tests use
// an in-memory one.
type system interface {
	// OpenTAP creates the interface that carries a link.
	OpenTAP(name string, mac header.MAC, mtu int) (dev tap.Device, ifindex int, err error)
	// Opener opens the underlay sockets.
	Opener() vtep.Opener
	LinkByName(name string) (kernelnet.Link, error)
	LinkByIndex(i int) (kernelnet.Link, error)
	SetUp(i int, up bool) error
	SetMTU(i, mtu int) error
	SetMAC(i int, m header.MAC) error
	AddAddr(i int, p netip.Prefix) error
	DelAddr(i int, p netip.Prefix) error
	SetNeigh(i int, ip netip.Addr, m header.MAC, router bool) error
	DelNeigh(i int, ip netip.Addr) error
	// Qdisc returns the kind of the root qdisc of interface i, or "".
	Qdisc(i int) string
	// Nexthops dumps the kernel's nexthops (`ip nexthop show`).
	Nexthops() ([]nexthop.Nexthop, error)
	// RouteDevice returns the output interface of the route to dst from
	// src (`ip route get DST from SRC`).
	RouteDevice(dst, src netip.Addr) (int, error)
	// ReportMulticast has the kernel's multicast routing ask its daemon
	// for a route for the outer packet pkt, as sent out of oif
	// (underlay.MulticastReporter).
	ReportMulticast(pkt []byte, oif int) error
	// SendMulticast sends the whole outer packet pkt out of oif as it is,
	// not looped back (underlay.MulticastReporter.Send).
	SendMulticast(pkt []byte, oif int) error
}

// Nexthops dumps the nexthops of vtepd's network namespace.
func (*linuxSystem) Nexthops() ([]nexthop.Nexthop, error) { return kernelnet.DumpNexthops() }

// ReportMulticast reports pkt through the system's multicast reporter.
func (s *linuxSystem) ReportMulticast(pkt []byte, oif int) error {
	if s.mcrep == nil {
		return errors.New("vtepd: no multicast reporter")
	}
	return s.mcrep.Report(pkt, oif)
}

// SendMulticast sends pkt through the system's multicast reporter.
func (s *linuxSystem) SendMulticast(pkt []byte, oif int) error {
	if s.mcrep == nil {
		return errors.New("vtepd: no multicast reporter")
	}
	return s.mcrep.Send(pkt, oif)
}

// linuxSystem is the system of the network namespace vtepd runs in.
type linuxSystem struct {
	*kernelnet.Handle
	offload bool
	workers int // TAP queues per link, UDP sockets per port
	batch   int // frames per read (0: the packages' default)
	// pinCPUs, if not nil, is the CPU of each worker (-pin on): TAP
	// queues and sockets wait in their threads, and datagrams are steered
	// by source port, which vtep senders choose by worker.
	pinCPUs []int
	socks   sockRegistry
	mcrep   *underlay.MulticastReporter
	// log, if not nil, gets a warning once when steering fails.
	log         *slog.Logger
	steerWarned atomic.Bool
}

var _ system = (*linuxSystem)(nil)

// OpenTAP creates a non-persistent TAP with one queue per worker
// (IFF_MULTI_QUEUE when there are several): it disappears when the link is
// deleted or the daemon exits.
func (s *linuxSystem) OpenTAP(name string, mac header.MAC, mtu int) (tap.Device, int, error) {
	mode := tap.OffloadAuto
	if !s.offload {
		mode = tap.OffloadOff
	}
	// A TAP's transmit queue is the ring of frames the kernel hands to
	// vtepd; the default 1000 overflows under TCP without offloads
	// (measured: 8-11k retransmits per 5 s stream, 0 with 10000).
	t, err := tap.Open(tap.Options{Name: name, MAC: mac, MTU: mtu, Offload: mode, Queues: max(s.workers, 1), BatchSize: s.batch, TxQueueLen: tapTxQueueLen, WaitInThread: s.pinCPUs != nil})
	if err != nil {
		return nil, 0, err
	}
	return multiQueueTAP{t}, t.Index(), nil
}

// tapTxQueueLen is the transmit queue length vtepd gives its TAPs.
const tapTxQueueLen = 10000

// multiQueueTAP presents a Linux TAP's queues to the datapath
// (vtep.MultiQueue): one transmit routine per queue, and receive worker w
// writes to queue w.
type multiQueueTAP struct{ *tap.Linux }

var _ vtep.MultiQueue = multiQueueTAP{}

func (t multiQueueTAP) Queues() []tap.Device {
	qs := make([]tap.Device, t.NumQueues())
	for i := range qs {
		qs[i] = t.Queue(i)
	}
	return qs
}

// steerPorts returns the SO_REUSEPORT group size to steer by source port
// (underlay.Options.SteerBySourcePort): the workers, when pinned and more
// than one; 0 leaves the kernel's flow hash.
func (s *linuxSystem) steerPorts() int {
	if s.workers < 2 || s.pinCPUs == nil {
		return 0
	}
	return s.workers
}

// Opener opens one UDP socket per worker and (family, port, receive
// flags), bound to the wildcard address as the kernel's vxlan socket is;
// with several workers they share the port with SO_REUSEPORT, so that the
// kernel spreads flows over them by their outer addresses and ports.
func (s *linuxSystem) Opener() vtep.Opener {
	return vtep.OpenerFunc(func(k vtep.SocketKey) (underlay.Conn, error) {
		fam := 4
		if k.IPv6 {
			fam = 6
		}
		dev := ""
		if k.Bind != 0 {
			l, err := s.LinkByIndex(k.Bind)
			if err != nil {
				return nil, fmt.Errorf("binding to the VRF of the lower device: %w", err)
			}
			dev = l.Name
		}
		c, err := underlay.ListenUDP(underlay.Options{
			Family:            fam,
			Port:              k.Port,
			Device:            dev,
			ReusePort:         s.workers > 1,
			ZeroChecksum6RX:   k.Flags&config.FlagUDPZeroCsum6RX != 0,
			DisableGRO:        !s.offload,
			DisableGSO:        !s.offload,
			BatchSize:         s.batch,
			WaitInThread:      s.pinCPUs != nil,
			SteerBySourcePort: s.steerPorts(),
		})
		s.socks.opened(k, s.workers, c, err)
		if err != nil {
			return nil, err
		}
		if s.steerPorts() != 0 && !c.SteeredBySourcePort() && s.log != nil && !s.steerWarned.Swap(true) {
			s.log.Warn("the kernel refused steering datagrams by source port (SO_ATTACH_REUSEPORT_CBPF); they are spread by flow hash", "port", k.Port)
		}
		return c, nil
	})
}

// kernelPath is vtep.FastPath on Linux: package fastpath's tc programs on
// a link's TAP and underlay devices, and routes from the kernel's routing
// table.
type kernelPath struct{}

func (kernelPath) AttachTX(name string) (vtep.FastTX, error) {
	tx, err := fastpath.AttachTXByName(name)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

func (kernelPath) LoadRX(name string, cfg fastpath.RXConfig) (vtep.FastRX, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("fastpath: %w", err)
	}
	cfg.Overlay = ifi.Index
	rx, err := fastpath.LoadRX(cfg, 4096)
	if err != nil {
		return nil, err
	}
	return rx, nil
}

func (kernelPath) Route(dst netip.Addr) (ifindex, mtu int) { return fastpath.Route(dst) }
