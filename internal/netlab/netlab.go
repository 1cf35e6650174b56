// Package netlab wires vtep Hosts into one simulated underlay network, in
// memory, for tests: no root, no sockets, no TAP devices.
//
// A [Lab] owns an [underlay.Network]. [Lab.AddHost] adds a simulated machine
// with underlay addresses and a [vtep.Host] whose sockets bind on that
// network; [Host.AddLink] creates a VXLAN link from `ip link add … type
// vxlan` words, with a [tap.Pipe] as its overlay port, and brings it up.
// Frames injected into a link's port come out of the ports of the links they
// are tunnelled to. Every underlay packet can be traced through
// Options.Trace, and the network's loss, reordering and duplication knobs
// apply to all of it.
//
// Tests that want determinism run the lab inside a testing/synctest bubble:
// after injecting frames, synctest.Wait returns once every datapath
// goroutine is blocked, that is, once every frame has been delivered or
// dropped, and FDB ageing runs on the bubble's fake clock. [NewForTest]
// closes the lab in t.Cleanup and then fails the test if any datapath
// goroutine is left.
//
// The package also has builders for the frames tests send (ARP, ICMP echo,
// UDP, TCP, Neighbor Solicitation) in frames.go. It is imported only by
// tests.
package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/flow"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// Options configures a Lab.
type Options struct {
	// Network configures the simulated underlay (faults, MTU, checksum
	// verification, multicast loopback).
	Network underlay.NetworkOptions
	// Trace, when set, is called for every packet the underlay sees (sent,
	// delivered, dropped), in addition to Network.Capture.
	Trace func(ev underlay.CaptureEvent)
	// HashSeed is the flow hash seed of every host; 0 means 1, so that
	// outer source ports are reproducible.
	HashSeed uint64
	// PipeQueueLen is the queue length of each overlay port in frames;
	// 0 means 1024.
	PipeQueueLen int
	// Host, when set, may adjust the options of each host before it is
	// created (its Opener, Neighbors and LocalAddrs are already set).
	Host func(name string, o *vtep.HostOptions)
	// Workers is each host's vtep.HostOptions.Workers: the underlay Conns
	// of a socket, which share their port (ListenConfig.ReusePort); 0
	// means 1.
	Workers int
	// Queues is the number of queues of each link's overlay port
	// (vtep.MultiQueue); 0 means 1. A frame sent into a link goes to the
	// queue its flow hashes to, as the kernel's TAP picks a queue by flow
	// hash (tun_select_queue), and what the link delivers on any queue
	// comes out of Link.Recv, TryRecv and Drain.
	Queues int
}

// Lab is a set of simulated hosts on one underlay network.
type Lab struct {
	// Net is the simulated underlay.
	Net  *underlay.Network
	opts Options

	mu     sync.Mutex // guards following
	hosts  []*Host
	closed bool
}

// New returns an empty lab. Close it when done (NewForTest does).
func New(opts Options) *Lab {
	if opts.HashSeed == 0 {
		opts.HashSeed = 1
	}
	no := opts.Network
	if trace, capture := opts.Trace, no.Capture; trace != nil {
		no.Capture = func(ev underlay.CaptureEvent) {
			if capture != nil {
				capture(ev)
			}
			trace(ev)
		}
	}
	return &Lab{Net: underlay.NewNetwork(no), opts: opts}
}

// NewForTest returns a lab that is closed in t.Cleanup, after which the
// test fails if a datapath goroutine (of package vtep, fdb, tap or
// underlay) is still running.
func NewForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	before := datapathGoroutines()
	lb := New(opts)
	t.Cleanup(func() {
		lb.Close()
		var left []string
		// Close waits for the datapath goroutines; the loop only lets
		// those that have signalled their exit finish returning.
		for range 1000 {
			left = slices.DeleteFunc(datapathGoroutines(), func(g string) bool { return slices.Contains(before, g) })
			if len(left) == 0 {
				return
			}
			runtime.Gosched()
		}
		t.Errorf("netlab: %d datapath goroutine(s) leaked:\n%s", len(left), strings.Join(left, "\n\n"))
	})
	return lb
}

// datapathGoroutines returns the stacks of the goroutines running code of
// the datapath packages, keyed by their "goroutine N" line.
func datapathGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, pkg := range []string{"vtep/vtep.(*", "vtep/fdb.(*", "vtep/tap.(*", "vtep/underlay.(*"} {
			if strings.Contains(g, "github.com/vtepd/"+pkg) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Close closes every host (deleting their links and sockets) and waits for
// their goroutines.
func (lb *Lab) Close() error {
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		return nil
	}
	lb.closed = true
	hosts := slices.Clone(lb.hosts)
	lb.mu.Unlock()
	var errs []error
	for _, h := range hosts {
		errs = append(errs, h.VTEP.Close())
	}
	return errors.Join(errs...)
}

// Host returns the host with the given name, or nil.
func (lb *Lab) Host(name string) *Host {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, h := range lb.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Host is a simulated machine: its underlay addresses, its vtep.Host and
// its neighbour table.
type Host struct {
	Name string
	Lab  *Lab
	// VTEP is the host's datapath.
	VTEP *vtep.Host
	// Underlay is the host's presence on the simulated network.
	Underlay *underlay.MemHost
	// Neighbors is the host's neighbour table (for proxy ARP/ND and RSC).
	Neighbors *vtep.MemNeighbors

	index int
	mu    sync.Mutex // guards following
	links []*Link
	macs  int
}

// AddHost adds a host that owns addrs (the first of each family is the
// outer source of its links).
func (lb *Lab) AddHost(name string, addrs ...netip.Addr) (*Host, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	mh, err := lb.Net.AddHost(name, addrs...)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: name, Lab: lb, Underlay: mh, Neighbors: vtep.NewMemNeighbors(), index: len(lb.hosts) + 1}
	o := vtep.HostOptions{
		Opener:     opener{mh, lb.opts.Workers > 1},
		Neighbors:  h.Neighbors,
		LocalAddrs: addrs,
		HashSeed:   lb.opts.HashSeed,
		MACs:       h.nextMAC,
		Workers:    lb.opts.Workers,
	}
	if lb.opts.Host != nil {
		lb.opts.Host(name, &o)
	}
	vh, err := vtep.NewHost(o)
	if err != nil {
		return nil, err
	}
	h.VTEP = vh
	lb.hosts = append(lb.hosts, h)
	return h, nil
}

// MustAddHost is AddHost for tests: addresses are strings and errors fail t.
func (lb *Lab) MustAddHost(t testing.TB, name string, addrs ...string) *Host {
	t.Helper()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	h, err := lb.AddHost(name, as...)
	if err != nil {
		t.Fatalf("netlab: AddHost %s: %v", name, err)
	}
	return h
}

// nextMAC gives link MACs 02:00:00:HH:00:NN (host HH, link NN) so that
// runs are reproducible.
func (h *Host) nextMAC() header.MAC {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.macs++
	return header.MAC{0x02, 0, 0, byte(h.index), 0, byte(h.macs)}
}

// opener opens Conns on a MemHost.
type opener struct {
	mh        *underlay.MemHost
	reusePort bool
}

func (o opener) Open(k vtep.SocketKey) (underlay.Conn, error) {
	return o.mh.Listen(underlay.ListenConfig{
		IPv6:                k.IPv6,
		Port:                k.Port,
		AcceptZeroChecksum6: k.Flags&config.FlagUDPZeroCsum6RX != 0,
		ReusePort:           o.reusePort,
	})
}

// multiPipe is a multi-queue overlay port made of Pipes (vtep.MultiQueue).
type multiPipe struct {
	*tap.Pipe // queue 0
	qs        []*tap.Pipe
}

func (m multiPipe) Queues() []tap.Device {
	ds := make([]tap.Device, len(m.qs))
	for i, q := range m.qs {
		ds[i] = q
	}
	return ds
}

func (m multiPipe) Close() error {
	for _, q := range m.qs {
		q.Close()
	}
	return nil
}

// Link is a VXLAN link on a simulated host with an in-memory overlay port.
type Link struct {
	*vtep.Link
	Host *Host
	// Port is the far end of the link's overlay port: frames injected
	// into it are transmitted, and frames the link receives come out of
	// Port.Out(). With Options.Queues > 1 it is queue 0 of Queues, and
	// the link's frames come out of Recv, TryRecv and Drain instead.
	Port *tap.Pipe
	// Queues are the far ends of every queue of the overlay port.
	Queues []*tap.Pipe

	seed uint64
	out  chan tap.Frame // the queues' output, merged; nil with one queue
}

// AddLink creates a link from the words that follow `ip link add NAME type
// vxlan` and brings it up.
func (h *Host) AddLink(name, args string) (*Link, error) { return h.addLink(name, args, true) }

// AddLinkDown is AddLink without bringing the link up.
func (h *Host) AddLinkDown(name, args string) (*Link, error) { return h.addLink(name, args, false) }

func (h *Host) addLink(name, args string, up bool) (*Link, error) {
	cfg, err := config.ParseArgs(strings.Fields(args))
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", name, err)
	}
	cfg.Name = name
	return h.AddLinkConfig(cfg, up)
}

// MustAddLink is AddLink for tests.
func (h *Host) MustAddLink(t testing.TB, name, args string) *Link {
	t.Helper()
	l, err := h.AddLink(name, args)
	if err != nil {
		t.Fatalf("netlab: %s: AddLink %s: %v", h.Name, name, err)
	}
	return l
}

// AddLinkConfig creates a link from cfg, brought up if up is true.
func (h *Host) AddLinkConfig(cfg config.Link, up bool) (*Link, error) {
	nq := max(h.Lab.opts.Queues, 1)
	qs := make([]*tap.Pipe, nq)
	for i := range qs {
		qs[i] = tap.NewPipe(tap.PipeOptions{QueueLen: h.Lab.opts.PipeQueueLen})
	}
	p := qs[0]
	var dev tap.Device = p
	if nq > 1 {
		dev = multiPipe{p, qs}
	}
	vl, err := h.VTEP.AddLink(cfg, dev)
	if err != nil {
		dev.Close()
		return nil, err
	}
	if up {
		if err := vl.SetUp(true); err != nil {
			h.VTEP.DelLink(cfg.Name)
			return nil, err
		}
	}
	l := &Link{Link: vl, Host: h, Port: p, Queues: qs, seed: h.Lab.opts.HashSeed}
	if nq > 1 {
		// Each queue's frames keep their order; queues interleave.
		ql := h.Lab.opts.PipeQueueLen
		if ql <= 0 {
			ql = 1024
		}
		l.out = make(chan tap.Frame, nq*ql)
		var wg sync.WaitGroup
		wg.Add(nq)
		for _, q := range qs {
			go func() {
				defer wg.Done()
				for f := range q.Out() {
					l.out <- f
				}
			}()
		}
		go func() { wg.Wait(); close(l.out) }()
	}
	h.mu.Lock()
	h.links = append(h.links, l)
	h.mu.Unlock()
	return l, nil
}

// Link returns the host's link with the given name, or nil.
func (h *Host) Link(name string) *Link {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.links {
		if l.Name() == name {
			return l
		}
	}
	return nil
}

// Send injects a frame into the link's overlay port, as if the host's
// network stack had sent it through the VXLAN device.
func (l *Link) Send(frame []byte) error { return l.queueFor(frame).Inject(frame) }

// SendMeta injects a frame with metadata (mark, checksum offload, tunnel
// metadata).
func (l *Link) SendMeta(frame []byte, m tap.Meta) error {
	return l.queueFor(frame).InjectMeta(frame, m)
}

// queueFor picks the overlay queue a frame is sent into: by flow hash.
func (l *Link) queueFor(frame []byte) *tap.Pipe {
	if len(l.Queues) <= 1 {
		return l.Port
	}
	return l.Queues[flow.HashFrame(frame, l.seed)%uint32(len(l.Queues))]
}

// output is the channel of frames the link delivers.
func (l *Link) output() <-chan tap.Frame {
	if l.out != nil {
		return l.out
	}
	return l.Port.Out()
}

// TryRecv returns a frame the link delivered to its overlay port, if one is
// waiting.
func (l *Link) TryRecv() (tap.Frame, bool) {
	select {
	case f, ok := <-l.output():
		return f, ok
	default:
		return tap.Frame{}, false
	}
}

// Recv waits up to d for a frame the link delivers to its overlay port.
func (l *Link) Recv(d time.Duration) (tap.Frame, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case f, ok := <-l.output():
		return f, ok
	case <-t.C:
		return tap.Frame{}, false
	}
}

// Drain returns every frame waiting at the link's overlay port.
func (l *Link) Drain() []tap.Frame {
	var fs []tap.Frame
	for {
		f, ok := l.TryRecv()
		if !ok {
			return fs
		}
		fs = append(fs, f)
	}
}
