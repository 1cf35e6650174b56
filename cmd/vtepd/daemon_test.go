package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/nexthop"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// memSystem is an in-memory system: interfaces are records, TAPs are
// tap.Pipes, sockets live on a simulated underlay. It records every change
// so tests can check what the daemon did; kernel notifications are
// delivered by the tests (onLink, onNeigh) as the watchers would.
type memSystem struct {
	mu     sync.Mutex // guards following
	links  map[int]*kernelnet.Link
	next   int
	calls  []string
	neighs map[string]kernelnet.Neigh // "ifindex ip"
	addrs  map[string]bool            // "ifindex prefix"
	// failMAC makes SetMAC fail.
	failMAC bool
	// pipes are the TAPs by name.
	pipes map[string]*tap.Pipe
	// nexthops are the kernel's nexthops Nexthops returns.
	nexthops []nexthop.Nexthop
	// opened are the keys of the sockets the Opener opened.
	opened []vtep.SocketKey

	host *underlay.MemHost
}

func newMemSystem(t *testing.T) *memSystem {
	net := underlay.NewNetwork(underlay.NetworkOptions{})
	h, err := net.AddHost("h1", netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	s := &memSystem{links: map[int]*kernelnet.Link{}, next: 1, neighs: map[string]kernelnet.Neigh{}, addrs: map[string]bool{}, host: h, pipes: map[string]*tap.Pipe{}}
	s.addIface("lo", 65536)
	s.addIface("eth0", 1500)
	return s
}

func (s *memSystem) addIface(name string, mtu int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.next
	s.next++
	s.links[i] = &kernelnet.Link{Index: i, Name: name, MTU: mtu, OperState: "UP", Flags: syscall.IFF_UP, Kind: "veth"}
	return i
}

func (s *memSystem) record(format string, args ...any) {
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

// takeCalls returns and forgets the recorded calls.
func (s *memSystem) takeCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// pipeDev is a tap.Pipe whose Close removes its interface, as closing a
// non-persistent TAP does.
type pipeDev struct {
	*tap.Pipe
	s   *memSystem
	idx int
}

func (p *pipeDev) Close() error {
	p.s.mu.Lock()
	if _, ok := p.s.links[p.idx]; ok {
		delete(p.s.links, p.idx)
		p.s.record("tap closed %d", p.idx)
	}
	p.s.mu.Unlock()
	return p.Pipe.Close()
}

func (s *memSystem) OpenTAP(name string, mac header.MAC, mtu int) (tap.Device, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		if l.Name == name {
			return nil, 0, syscall.EEXIST
		}
	}
	i := s.next
	s.next++
	s.links[i] = &kernelnet.Link{Index: i, Name: name, MTU: mtu, MAC: mac, OperState: "DOWN",
		Flags: syscall.IFF_BROADCAST | syscall.IFF_MULTICAST, Kind: "tuntap", TxQLen: 1000}
	s.record("tap %s %d mtu %d", name, i, mtu)
	p := tap.NewPipe(tap.PipeOptions{})
	s.pipes[name] = p
	return &pipeDev{Pipe: p, s: s, idx: i}, i, nil
}

func (s *memSystem) Opener() vtep.Opener {
	return vtep.OpenerFunc(func(k vtep.SocketKey) (underlay.Conn, error) {
		s.mu.Lock()
		s.opened = append(s.opened, k)
		s.mu.Unlock()
		return s.host.Listen(underlay.ListenConfig{IPv6: k.IPv6, Port: k.Port})
	})
}

func (s *memSystem) LinkByName(name string) (kernelnet.Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		if l.Name == name {
			return *l, nil
		}
	}
	return kernelnet.Link{}, fmt.Errorf("%s: %w", name, kernelnet.ErrNotFound)
}

func (s *memSystem) LinkByIndex(i int) (kernelnet.Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.links[i]; ok {
		return *l, nil
	}
	return kernelnet.Link{}, fmt.Errorf("if%d: %w", i, kernelnet.ErrNotFound)
}

func (s *memSystem) change(i int, what string, f func(l *kernelnet.Link)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[i]
	if !ok {
		return fmt.Errorf("if%d: %w", i, kernelnet.ErrNotFound)
	}
	f(l)
	s.record("%s %d", what, i)
	return nil
}

func (s *memSystem) SetUp(i int, up bool) error {
	return s.change(i, fmt.Sprintf("up=%v", up), func(l *kernelnet.Link) {
		if up {
			l.Flags |= syscall.IFF_UP | syscall.IFF_RUNNING
			l.OperState = "UNKNOWN"
		} else {
			l.Flags &^= syscall.IFF_UP | syscall.IFF_RUNNING
			l.OperState = "DOWN"
		}
	})
}

func (s *memSystem) SetMTU(i, mtu int) error {
	return s.change(i, fmt.Sprintf("mtu=%d", mtu), func(l *kernelnet.Link) { l.MTU = mtu })
}

func (s *memSystem) SetMAC(i int, m header.MAC) error {
	if s.failMAC {
		return syscall.EBUSY
	}
	return s.change(i, "mac="+m.String(), func(l *kernelnet.Link) { l.MAC = m })
}

func (s *memSystem) AddAddr(i int, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[fmt.Sprint(i, " ", p)] = true
	s.record("addr add %s %d", p, i)
	return nil
}

func (s *memSystem) DelAddr(i int, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.addrs, fmt.Sprint(i, " ", p))
	s.record("addr del %s %d", p, i)
	return nil
}

func (s *memSystem) SetNeigh(i int, ip netip.Addr, m header.MAC, router bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.neighs[fmt.Sprint(i, " ", ip)] = kernelnet.Neigh{MAC: m, State: 0x80, Router: router}
	s.record("neigh set %s %d", ip, i)
	return nil
}

func (s *memSystem) DelNeigh(i int, ip netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.neighs, fmt.Sprint(i, " ", ip))
	s.record("neigh del %s %d", ip, i)
	return nil
}

func (s *memSystem) Qdisc(i int) string { return "" }

func (s *memSystem) Nexthops() ([]nexthop.Nexthop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nexthops, nil
}

func (s *memSystem) RouteDevice(dst, src netip.Addr) (int, error) { return 0, errors.New("no routes") }
func (s *memSystem) ReportMulticast(pkt []byte, oif int) error {
	return errors.New("no multicast routing")
}
func (s *memSystem) SendMulticast(pkt []byte, oif int) error {
	return errors.New("no multicast routing")
}

// notify delivers the kernel's link notification for interface i.
func (s *memSystem) notify(d *daemon, i int) {
	l, err := s.LinkByIndex(i)
	if err != nil {
		d.onLink(kernelnet.LinkEvent{Link: kernelnet.Link{Index: i}, Deleted: true})
		return
	}
	d.onLink(kernelnet.LinkEvent{Link: l})
}

func newTestDaemon(t *testing.T) (*daemon, *memSystem, control.Backend) {
	t.Helper()
	s := newMemSystem(t)
	d, err := newDaemon(s, slog.New(slog.DiscardHandler), 0, 1, nil, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	return d, s, backend{d}
}

func parseLink(t *testing.T, name, args string) config.Link {
	t.Helper()
	l, err := config.ParseArgs(strings.Fields(args))
	if err != nil {
		t.Fatal(err)
	}
	l.Name = name
	return l
}

func fdbLines(t *testing.T, b control.Backend, dev string) []string {
	t.Helper()
	es, err := b.FDB(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		n := e.Neigh()
		out = append(out, string(n.AppendText(nil, nil)))
	}
	return out
}

func TestAddLinkDerivesMTUAndRefusesCleanly(t *testing.T) {
	ctx := context.Background()
	_, s, b := newTestDaemon(t)
	li, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 remote 10.0.0.2 dev eth0 dstport 4789"), true)
	if err != nil {
		t.Fatal(err)
	}
	// vxlan_config_apply: lower MTU 1500 - 50.
	if li.MTU != 1450 || !li.Up || li.Flags&syscall.IFF_UP == 0 || li.Qdisc != "noop" {
		t.Errorf("link = %+v", li)
	}
	cfg, _ := li.Config()
	if cfg.MTU != 1450 || cfg.Address.IsZero() || !cfg.Address.IsValidUnicast() || cfg.Address[0]&2 == 0 {
		t.Errorf("config = %+v", cfg)
	}
	if c := s.takeCalls(); !slices.Equal(c, []string{"tap vx0 3 mtu 1450", "up=true 3"}) {
		t.Errorf("calls = %q", c)
	}
	// An explicit MTU above the lower device's limit is clamped at creation.
	li, err = b.AddLink(ctx, parseLink(t, "vx1", "id 43 dev eth0 dstport 4789 mtu 9000"), false)
	if err != nil || li.MTU != 1450 {
		t.Errorf("vx1 = %+v, %v", li, err)
	}
	s.takeCalls()

	for _, tc := range []struct {
		cfg string
		msg string
	}{
		{"id 44 dstport 4789", "RTNETLINK answers: File exists"}, // name taken by vx0
		{"id 42 dstport 4789", "Error: A VXLAN device with the specified VNI already exists."},
		{"id 45 dev eth9 dstport 4789", `Cannot find device "eth9"`},
	} {
		name := "vx2"
		if tc.msg == "RTNETLINK answers: File exists" {
			name = "vx0"
		}
		_, err := b.AddLink(ctx, parseLink(t, name, tc.cfg), true)
		if e := control.ErrorOf(err); e == nil || e.Message != tc.msg {
			t.Errorf("add %s %s: %v, want %q", name, tc.cfg, err, tc.msg)
		}
	}
	// An existing interface that is not a vtep link.
	if _, err := b.AddLink(ctx, parseLink(t, "eth0", "id 46 dstport 4789"), false); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("add eth0: %v", err)
	}
	if c := s.takeCalls(); len(c) != 0 {
		t.Errorf("refused adds touched the system: %q", c)
	}
}

// TestLinkDownFlushesDynamic checks vxlan_stop's flush through both the
// CLI path and a kernel notification (`ip link set vx0 down`).
func TestLinkDownFlushesDynamic(t *testing.T) {
	ctx := context.Background()
	d, s, b := newTestDaemon(t)
	li, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 remote 10.0.0.2 dstport 4789"), true)
	if err != nil {
		t.Fatal(err)
	}
	addDyn := func() {
		if err := b.UpdateFDB(ctx, control.FDBAdd, "vx0", fdb.Request{MAC: header.MAC{2, 0, 0, 0, 0, 1}, State: fdb.StateReachable, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.3")}, ""); err != nil {
			t.Fatal(err)
		}
	}
	addDyn()
	if err := b.UpdateFDB(ctx, control.FDBAdd, "vx0", fdb.Request{MAC: header.MAC{2, 0, 0, 0, 0, 2}, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.3")}, ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"02:00:00:00:00:02 dst 10.0.0.3 self permanent", "00:00:00:00:00:00 dst 10.0.0.2 self permanent"}

	// ip link set vx0 down
	s.change(li.Index, "ip down", func(l *kernelnet.Link) { l.Flags &^= syscall.IFF_UP })
	s.notify(d, li.Index)
	if got := fdbLines(t, b, "vx0"); !slices.Equal(got, want) {
		t.Errorf("after ip link set down: %q", got)
	}
	if li, _ = b.Link(ctx, "vx0", false); li.Up {
		t.Error("link still up in the datapath")
	}
	// ip link set vx0 up, then vtep link set vx0 down.
	s.change(li.Index, "ip up", func(l *kernelnet.Link) { l.Flags |= syscall.IFF_UP })
	s.notify(d, li.Index)
	if li, _ = b.Link(ctx, "vx0", false); !li.Up {
		t.Error("link not up after ip link set up")
	}
	addDyn()
	down := false
	if _, err := b.SetLink(ctx, "vx0", control.LinkChange{Up: &down}); err != nil {
		t.Fatal(err)
	}
	if got := fdbLines(t, b, "vx0"); !slices.Equal(got, want) {
		t.Errorf("after vtep link set down: %q", got)
	}
	// A stale "up" notification does not bring it back up.
	d.onLink(kernelnet.LinkEvent{Link: kernelnet.Link{Index: li.Index, Name: "vx0", Flags: syscall.IFF_UP, MTU: 1500}})
	if li, _ = b.Link(ctx, "vx0", false); li.Up {
		t.Error("a stale notification brought the link up")
	}
}

// TestKernelMTUAndDelete checks `ip link set vx0 mtu N` within and above
// the limit, `ip link set vx0 address`, and `ip link del` of the link and
// of its lower device.
func TestKernelMTUAndDelete(t *testing.T) {
	ctx := context.Background()
	d, s, b := newTestDaemon(t)
	li, _ := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dev eth0 dstport 4789"), false)
	s.takeCalls()

	s.change(li.Index, "ip", func(l *kernelnet.Link) { l.MTU = 1400 })
	s.notify(d, li.Index)
	if li, _ = b.Link(ctx, "vx0", false); li.MTU != 1400 {
		t.Errorf("mtu %d", li.MTU)
	}
	if cfg, _ := li.Config(); cfg.MTU != 1400 {
		t.Errorf("config mtu %d", cfg.MTU)
	}
	s.takeCalls()
	// Above 1500-50: set back.
	s.change(li.Index, "ip", func(l *kernelnet.Link) { l.MTU = 1460 })
	s.notify(d, li.Index)
	if c := s.takeCalls(); !slices.Equal(c, []string{"ip 3", "mtu=1400 3"}) {
		t.Errorf("calls = %q", c)
	}
	mac := header.MustParseMAC("02:00:00:00:00:77")
	s.change(li.Index, "ip", func(l *kernelnet.Link) { l.MAC = mac })
	s.notify(d, li.Index)
	if li, _ = b.Link(ctx, "vx0", false); li.Address != mac {
		t.Errorf("address %v", li.Address)
	}

	// ip link del vx0
	s.change(li.Index, "ip", func(l *kernelnet.Link) {})
	s.mu.Lock()
	delete(s.links, li.Index)
	s.mu.Unlock()
	s.notify(d, li.Index)
	if _, err := b.Link(ctx, "vx0", false); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("vx0 after ip link del: %v", err)
	}

	// Deleting the lower device deletes the link (vxlan_handle_lowerdev_unregister).
	li, err := b.AddLink(ctx, parseLink(t, "vx1", "id 43 dev eth0 dstport 4789"), false)
	if err != nil {
		t.Fatal(err)
	}
	eth0, _ := s.LinkByName("eth0")
	s.mu.Lock()
	delete(s.links, eth0.Index)
	s.mu.Unlock()
	d.onLink(kernelnet.LinkEvent{Link: eth0, Deleted: true})
	if _, err := b.Link(ctx, "vx1", false); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("vx1 after its lower device went: %v", err)
	}
	if _, err := s.LinkByIndex(li.Index); err == nil {
		t.Error("vx1's TAP was not closed")
	}
}

// TestSetLinkRollsBack checks that a change the system refuses leaves the
// link as it was.
func TestSetLinkRollsBack(t *testing.T) {
	ctx := context.Background()
	_, s, b := newTestDaemon(t)
	li, _ := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dev eth0 dstport 4789 ttl 3"), false)
	old, _ := li.Config()
	s.takeCalls()

	bad := old
	bad.MTU = 1460 // above 1500-50
	if _, err := b.SetLink(ctx, "vx0", control.LinkChange{Config: &bad}); control.ErrorOf(err).Message != "RTNETLINK answers: Invalid argument" {
		t.Errorf("mtu 1460: %v", err)
	}
	s.failMAC = true
	next := old
	next.MTU, next.TTL, next.Address = 1400, 9, header.MustParseMAC("02:00:00:00:00:99")
	if _, err := b.SetLink(ctx, "vx0", control.LinkChange{Config: &next}); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("failing address change: %v", err)
	}
	li, _ = b.Link(ctx, "vx0", false)
	if cfg, _ := li.Config(); cfg != old || li.MTU != old.MTU {
		t.Errorf("after refused changes: %+v (mtu %d), want %+v", cfg, li.MTU, old)
	}
	s.failMAC = false
	if _, err := b.SetLink(ctx, "vx0", control.LinkChange{Config: &next}); err != nil {
		t.Fatal(err)
	}
	li, _ = b.Link(ctx, "vx0", false)
	if cfg, _ := li.Config(); cfg != next || li.MTU != 1400 {
		t.Errorf("after change: %+v", cfg)
	}
}

func TestNeighAndAddrNotifications(t *testing.T) {
	ctx := context.Background()
	d, _, b := newTestDaemon(t)
	li, _ := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dstport 4789"), false)
	ip := netip.MustParseAddr("192.168.42.2")
	mac := header.MustParseMAC("02:00:00:00:00:02")
	d.onNeigh(kernelnet.NeighEvent{Ifindex: li.Index, IP: ip, MAC: mac, State: 0x80})
	d.onNeigh(kernelnet.NeighEvent{Ifindex: 999, IP: ip, MAC: mac, State: 0x80}) // not a link: ignored
	ns, err := b.Neighbors(ctx, "")
	if err != nil || len(ns) != 1 || ns[0] != (control.Neighbor{Dev: "vx0", IP: ip, LLAddr: mac, State: 0x80}) {
		t.Errorf("neighbours = %+v, %v", ns, err)
	}
	if n, ok := (neighbors{d.neigh}).LookupNeighbor("vx0", ip); !ok || n.MAC != mac || n.State != vtep.NUDPermanent {
		t.Errorf("datapath lookup = %+v %v", n, ok)
	}
	d.onNeigh(kernelnet.NeighEvent{Ifindex: li.Index, IP: ip, Deleted: true})
	if ns, _ := b.Neighbors(ctx, "vx0"); len(ns) != 0 {
		t.Errorf("after delete: %+v", ns)
	}
	if _, err := b.Neighbors(ctx, "vx9"); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("unknown dev: %v", err)
	}

	// Addresses: the underlay's first, the links' own later, loopback last.
	add := func(i int, p string) {
		d.onAddr(kernelnet.AddrEvent{Addr: kernelnet.Addr{Ifindex: i, Prefix: netip.MustParsePrefix(p)}})
	}
	add(li.Index, "192.168.42.1/24")
	add(1, "127.0.0.1/8")
	add(2, "fe80::1/64")
	add(2, "10.0.0.1/24")
	add(2, "fd00::1/64")
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("127.0.0.1")}
	if got := d.host.LocalAddrs(); !slices.Equal(got, want) {
		t.Errorf("local addresses = %v, want %v", got, want)
	}
	d.onAddr(kernelnet.AddrEvent{Addr: kernelnet.Addr{Ifindex: 2, Prefix: netip.MustParsePrefix("10.0.0.1/24")}, Deleted: true})
	if got := d.host.LocalAddrs(); slices.Contains(got, netip.MustParseAddr("10.0.0.1")) {
		t.Errorf("deleted address still local: %v", got)
	}
}

func TestMonitorEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dstport 4789"), true); err != nil {
		t.Fatal(err)
	}
	events, err := b.Subscribe(ctx, control.EventFilter{FDB: true})
	if err != nil {
		t.Fatal(err)
	}
	mac := header.MustParseMAC("02:00:00:00:00:05")
	b.UpdateFDB(ctx, control.FDBAdd, "vx0", fdb.Request{MAC: mac, State: fdb.StateReachable, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.3")}, "")
	b.UpdateFDB(ctx, control.FDBDel, "vx0", fdb.Request{MAC: mac}, "")
	for _, want := range []control.EventKind{control.EventAdded, control.EventDeleted} {
		ev := <-events
		if ev.Kind != want || ev.Dev != "vx0" || ev.FDB == nil || ev.FDB.MAC != mac || ev.FDB.Dst != netip.MustParseAddr("10.0.0.3") {
			t.Errorf("event = %+v, want %s", ev, want)
		}
	}
	cancel()
	for range events {
	}
}

// TestMonitorMDBEvents: MDB changes reach a monitor that asks for them,
// one event per remote (vxlan_mdb_remote_notify), as the lines
// `bridge mdb show` prints, and an FDB-only monitor does not see them.
func TestMonitorMDBEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dstport 4789"), true); err != nil {
		t.Fatal(err)
	}
	mdbEvents, err := b.Subscribe(ctx, control.EventFilter{MDB: true})
	if err != nil {
		t.Fatal(err)
	}
	fdbEvents, err := b.Subscribe(ctx, control.EventFilter{FDB: true})
	if err != nil {
		t.Fatal(err)
	}
	g, src, dst := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.0.3")
	req := fdb.MDBRequest{Group: g, Permanent: true, Dst: dst, Port: 5000, HasMode: true, Mode: fdb.FilterExclude, Sources: []netip.Addr{src}}
	if err := b.UpdateMDB(ctx, control.MDBAdd, "vx0", req, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateMDB(ctx, control.MDBDel, "vx0", fdb.MDBRequest{Group: g, Dst: dst}, ""); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind    control.EventKind
		source  netip.Addr
		blocked bool
	}{
		{control.EventAdded, src, true},
		{control.EventAdded, netip.Addr{}, false},
		{control.EventDeleted, netip.Addr{}, false},
		{control.EventDeleted, src, true},
	}
	for i, w := range want {
		ev := <-mdbEvents
		m := ev.MDB
		if ev.Kind != w.kind || ev.Dev != "vx0" || ev.FDB != nil || m == nil || m.Dev != "vx0" || m.Group != g ||
			m.Source != w.source || m.Blocked != w.blocked || m.Dst != dst || m.DstPort != 5000 {
			t.Errorf("event %d = %+v (mdb %+v), want %s of (%v, G) blocked=%v", i, ev, m, w.kind, w.source, w.blocked)
		}
	}
	select {
	case ev := <-fdbEvents:
		t.Errorf("FDB monitor got %+v", ev)
	default:
	}
	cancel()
	for range mdbEvents {
	}
}

// TestMonitorMisses checks that an l2miss link reports a frame to an
// unknown unicast MAC (vxlan_fdb_miss) to a monitor.
func TestMonitorMisses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, s, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 dstport 4789 l2miss"), true); err != nil {
		t.Fatal(err)
	}
	events, _ := b.Subscribe(ctx, control.EventFilter{Miss: true})
	dst := header.MustParseMAC("02:00:00:00:00:42")
	frame := make([]byte, 60)
	copy(frame, dst[:])
	copy(frame[6:], []byte{2, 0, 0, 0, 0, 1})
	frame[12], frame[13] = 0x88, 0xb5 // local experimental EtherType
	s.mu.Lock()
	p := s.pipes["vx0"]
	s.mu.Unlock()
	if err := p.Inject(frame); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	if ev.Kind != control.EventL2Miss || ev.Dev != "vx0" || ev.MAC != dst {
		t.Errorf("event = %+v", ev)
	}
}

const configA = `
links:
  - name: vxc
    args: "id 100 dstport 4789 ttl 5"
    up: true
    addresses: [10.100.0.1/24]
  - name: vxu
    args: "id 101 dstport 4789"
  - name: vxe
    args: "id 102 dstport 4789"
fdb:
  - {mac: "00:00:00:00:00:00", dev: vxc, dst: 10.0.0.2, op: append}
  - {mac: "02:00:00:00:00:01", dev: vxc, dst: 10.0.0.3}
  - {mac: "02:00:00:00:00:02", dev: vxu, dst: 10.0.0.3, state: static}
neighbors:
  - {dev: vxc, ip: 10.100.0.2, lladdr: "02:00:00:00:01:02"}
`

const configB = `
links:
  - name: vxc
    args: "id 100 dstport 4789 ttl 9"
    up: true
    addresses: [10.100.0.1/24, 10.100.1.1/24]
  - name: vxu
    args: "id 101 dstport 4789"
  - name: vxd
    args: "id 103 dstport 4789"
fdb:
  - {mac: "00:00:00:00:00:00", dev: vxc, dst: 10.0.0.2, op: append}
  - {mac: "02:00:00:00:00:03", dev: vxc, dst: 10.0.0.4}
  - {mac: "02:00:00:00:00:02", dev: vxu, dst: 10.0.0.3, state: static}
neighbors:
  - {dev: vxc, ip: 10.100.0.3, lladdr: "02:00:00:00:01:03"}
`

// configC changes vxc's dstport, which the kernel cannot change in place.
const configC = `
links:
  - name: vxc
    args: "id 100 dstport 8472 ttl 9"
  - name: vxu
    args: "id 101 dstport 4789"
`

func loadConfig(t *testing.T, s string) *config.File {
	t.Helper()
	f, err := config.ParseFile([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestApplyConfigDiff checks that re-applying the configuration file
// (SIGHUP) adds, changes and removes only what differs.
func TestApplyConfigDiff(t *testing.T) {
	ctx := context.Background()
	d, s, b := newTestDaemon(t)
	// A link made with the CLI is not the file's business.
	if _, err := b.AddLink(ctx, parseLink(t, "cli0", "id 7 dstport 4789"), false); err != nil {
		t.Fatal(err)
	}
	if err := d.applyConfig(loadConfig(t, configA)); err != nil {
		t.Fatal(err)
	}
	idx := func(name string) int {
		li, err := b.Link(ctx, name, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return li.Index
	}
	vxc, vxu := idx("vxc"), idx("vxu")
	if got := fdbLines(t, b, "vxc"); !slices.Equal(got, []string{"02:00:00:00:00:01 dst 10.0.0.3 self permanent", "00:00:00:00:00:00 dst 10.0.0.2 self permanent"}) {
		t.Errorf("vxc fdb = %q", got)
	}
	s.takeCalls()

	if err := d.applyConfig(loadConfig(t, configB)); err != nil {
		t.Fatal(err)
	}
	calls := s.takeCalls()
	vxd := idx("vxd")
	want := []string{
		fmt.Sprintf("tap closed %d", idx("cli0")+3), // vxe (created after cli0, vxc, vxu)
		fmt.Sprintf("tap vxd %d mtu 1500", vxd),
		fmt.Sprintf("addr add 10.100.1.1/24 %d", vxc),
		fmt.Sprintf("neigh del 10.100.0.2 %d", vxc),
		fmt.Sprintf("neigh set 10.100.0.3 %d", vxc),
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls =\n%q\nwant\n%q", calls, want)
	}
	if idx("vxc") != vxc || idx("vxu") != vxu {
		t.Error("an unchanged or changeable link was re-created")
	}
	if li, _ := b.Link(ctx, "vxc", false); !strings.Contains(strings.Join(li.Args, " "), "ttl 9") || !li.Up {
		t.Errorf("vxc = %+v", li)
	}
	if _, err := b.Link(ctx, "vxe", false); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("vxe still there: %v", err)
	}
	if _, err := b.Link(ctx, "cli0", false); err != nil {
		t.Errorf("cli0 removed: %v", err)
	}
	if got := fdbLines(t, b, "vxc"); !slices.Equal(got, []string{"02:00:00:00:00:03 dst 10.0.0.4 self permanent", "00:00:00:00:00:00 dst 10.0.0.2 self permanent"}) {
		t.Errorf("vxc fdb = %q", got)
	}
	if got := fdbLines(t, b, "vxu"); !slices.Equal(got, []string{"02:00:00:00:00:02 dst 10.0.0.3 self static"}) {
		t.Errorf("vxu fdb = %q", got)
	}

	// Applying the same file again changes nothing.
	if err := d.applyConfig(loadConfig(t, configB)); err != nil {
		t.Fatal(err)
	}
	if c := s.takeCalls(); len(c) != 0 {
		t.Errorf("re-applying the same file: %q", c)
	}

	// A dstport change re-creates the link.
	if err := d.applyConfig(loadConfig(t, configC)); err != nil {
		t.Fatal(err)
	}
	if n := idx("vxc"); n == vxc {
		t.Error("vxc was not re-created for a dstport change")
	}
	if li, _ := b.Link(ctx, "vxc", false); li.Up || !strings.Contains(strings.Join(li.Args, " "), "dstport 8472") {
		t.Errorf("vxc = %+v", li)
	}
	if idx("vxu") != vxu {
		t.Error("vxu was re-created")
	}
}

// mdbLines lists a link's MDB as `bridge mdb show` lines without "dev X
// port X".
func mdbLines(t *testing.T, b control.Backend, dev string) []string {
	t.Helper()
	es, err := b.MDB(context.Background(), dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		line := "grp " + e.Group.String()
		if e.Source.IsValid() {
			line += " src " + e.Source.String()
		}
		if e.Blocked {
			line += " blocked"
		}
		line += " dst " + e.Dst.String()
		if e.DstPort != 0 {
			line += fmt.Sprintf(" dst_port %d", e.DstPort)
		}
		out = append(out, line)
	}
	return out
}

// TestApplyConfigMDB: the file's mdb entries are installed with the
// kernel's rules (a (*, G) EXCLUDE source list makes blocked (S, G)
// remotes), re-applying the same file changes nothing, a changed entry is
// deleted and added again, a removed one is deleted, and an entry the
// driver refuses is reported with its message while the rest is applied.
func TestApplyConfigMDB(t *testing.T) {
	d, _, b := newTestDaemon(t)
	const base = `
links:
  - name: vxm
    args: "id 100 dstport 4789 local 10.0.0.1"
mdb:
  - {dev: vxm, grp: 239.1.1.1, dst: 10.0.0.2}
`
	if err := d.applyConfig(loadConfig(t, base+`  - {dev: vxm, grp: 239.1.1.2, dst: 10.0.0.3, filter_mode: exclude, source_list: [192.0.2.9], proto: bgp}
`)); err != nil {
		t.Fatal(err)
	}
	// The (S, G) entry is created after its (*, G) and listed before it.
	want := []string{"grp 239.1.1.2 src 192.0.2.9 blocked dst 10.0.0.3", "grp 239.1.1.2 dst 10.0.0.3", "grp 239.1.1.1 dst 10.0.0.2"}
	if got := mdbLines(t, b, "vxm"); !slices.Equal(got, want) {
		t.Errorf("mdb = %q\nwant %q", got, want)
	}
	if err := d.applyConfig(loadConfig(t, base+`  - {dev: vxm, grp: 239.1.1.2, dst: 10.0.0.3, filter_mode: exclude, source_list: [192.0.2.9], proto: bgp}
`)); err != nil {
		t.Fatal(err)
	}
	if got := mdbLines(t, b, "vxm"); !slices.Equal(got, want) {
		t.Errorf("after re-applying: mdb = %q\nwant %q", got, want)
	}
	// The second entry changes its port and loses its source list; a
	// third asks for a unicast group, which the driver refuses.
	err := d.applyConfig(loadConfig(t, base+`  - {dev: vxm, grp: 239.1.1.2, dst: 10.0.0.3, dst_port: 5000}
  - {dev: vxm, grp: 10.1.1.1, dst: 10.0.0.4}
`))
	if err == nil || !strings.Contains(err.Error(), "mdb add grp 10.1.1.1 dst 10.0.0.4 dev vxm (line 8): Error: vxlan: Group address is not multicast.") {
		t.Errorf("err = %v", err)
	}
	want = []string{"grp 239.1.1.2 dst 10.0.0.3 dst_port 5000", "grp 239.1.1.1 dst 10.0.0.2"}
	if got := mdbLines(t, b, "vxm"); !slices.Equal(got, want) {
		t.Errorf("after the change: mdb = %q\nwant %q", got, want)
	}
	if err := d.applyConfig(loadConfig(t, base)); err != nil {
		t.Fatal(err)
	}
	if got := mdbLines(t, b, "vxm"); !slices.Equal(got, []string{"grp 239.1.1.1 dst 10.0.0.2"}) {
		t.Errorf("after removing the entry: mdb = %q", got)
	}
}

func TestApplyConfigReportsErrors(t *testing.T) {
	d, _, b := newTestDaemon(t)
	if _, err := b.AddLink(context.Background(), parseLink(t, "vx0", "id 100 dstport 4789"), false); err != nil {
		t.Fatal(err)
	}
	err := d.applyConfig(loadConfig(t, `
links:
  - name: vxc
    args: "id 100 dstport 4789"
  - name: vxo
    args: "id 5 dstport 4789"
`))
	if err == nil || !strings.Contains(err.Error(), "link vxc: Error: A VXLAN device with the specified VNI already exists.") {
		t.Errorf("err = %v", err)
	}
	if _, err := b.Link(context.Background(), "vxo", false); err != nil {
		t.Errorf("the rest of the file was not applied: %v", err)
	}
}

// TestNexthopFDBEntriesFollowTheKernelTable: an `nhid` that vtepd has not
// seen yet makes it read the kernel's nexthops before refusing (`ip
// nexthop add` may have just run), and a dump without the group deletes
// the entries that point to it (vxlan_nexthop_event).
func TestNexthopFDBEntriesFollowTheKernelTable(t *testing.T) {
	ctx := context.Background()
	d, s, b := newTestDaemon(t)
	if _, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 local 10.0.0.1 dstport 4789"), true); err != nil {
		t.Fatal(err)
	}
	mac := header.MAC{2, 0, 0, 0, 0, 9}
	req := fdb.Request{MAC: mac, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, NHID: 10}
	err := b.UpdateFDB(ctx, control.FDBAdd, "vx0", req, "")
	if err == nil || err.Error() != "Error: Nexthop id does not exist." {
		t.Fatalf("add with no nexthops: %v", err)
	}
	s.mu.Lock()
	s.nexthops = []nexthop.Nexthop{
		{ID: 1, Gateway: netip.MustParseAddr("10.0.0.2"), FDB: true},
		{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 1}}},
	}
	s.mu.Unlock()
	if err := b.UpdateFDB(ctx, control.FDBAdd, "vx0", req, ""); err != nil {
		t.Fatalf("add after ip nexthop add: %v", err)
	}
	es, err := b.FDB(ctx, "vx0")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		if e.MAC == mac {
			found = e.NHID == 10 && !e.Dst.IsValid()
		}
	}
	if !found {
		t.Fatalf("fdb show: %+v", es)
	}
	d.onNexthops(nil)
	es, _ = b.FDB(ctx, "vx0")
	for _, e := range es {
		if e.MAC == mac {
			t.Fatalf("entry of a deleted group left: %+v", e)
		}
	}
}

// TestApplyConfigNexthopFDB: a file's `nhid` FDB entry is installed
// through the kernel's nexthop group, left alone when the file is applied
// again unchanged, moved to another group when the file says so, and
// deleted when the file drops it.
func TestApplyConfigNexthopFDB(t *testing.T) {
	d, s, b := newTestDaemon(t)
	s.mu.Lock()
	s.nexthops = []nexthop.Nexthop{
		{ID: 1, Gateway: netip.MustParseAddr("10.0.0.2"), FDB: true},
		{ID: 2, Gateway: netip.MustParseAddr("10.0.0.3"), FDB: true},
		{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}}},
		{ID: 20, FDB: true, Group: []nexthop.Member{{ID: 2, Weight: 1}}},
	}
	s.mu.Unlock()
	const base = `
links:
  - name: vxn
    args: "id 100 dstport 4789 local 10.0.0.1"
fdb:
`
	mac := header.MustParseMAC("02:00:00:00:00:09")
	nhidOf := func() uint32 {
		t.Helper()
		es, err := b.FDB(context.Background(), "vxn")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.MAC == mac {
				if e.Dst.IsValid() {
					t.Errorf("nexthop entry with a dst: %+v", e)
				}
				return e.NHID
			}
		}
		return 0
	}
	for _, step := range []struct {
		entry string
		want  uint32
	}{
		{`  - {mac: "02:00:00:00:00:09", dev: vxn, nhid: 10}` + "\n", 10},
		{`  - {mac: "02:00:00:00:00:09", dev: vxn, nhid: 10}` + "\n", 10},
		{`  - {mac: "02:00:00:00:00:09", dev: vxn, nhid: 20}` + "\n", 20},
		{"", 0},
	} {
		if err := d.applyConfig(loadConfig(t, base+step.entry)); err != nil {
			t.Fatalf("%q: %v", step.entry, err)
		}
		if got := nhidOf(); got != step.want {
			t.Errorf("after %q: nhid %d, want %d", step.entry, got, step.want)
		}
	}
	// A group vtepd cannot find is refused with the kernel's words.
	err := d.applyConfig(loadConfig(t, base+`  - {mac: "02:00:00:00:00:09", dev: vxn, nhid: 99}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "fdb add 02:00:00:00:00:09 dev vxn nhid 99 (line 6): Error: Nexthop id does not exist.") {
		t.Errorf("err = %v", err)
	}
}

// TestLinkSocketsBoundToTheVRFOfTheLowerDevice: a link's sockets are bound
// to the VRF its lower device is enslaved to, directly or through the
// masters above it (l3mdev_master_upper_ifindex_by_index), as the kernel
// binds its vxlan socket; the binding is taken again when the link comes
// up (vxlan_open), as test_vxlan_under_vrf.sh relies on.
func TestLinkSocketsBoundToTheVRFOfTheLowerDevice(t *testing.T) {
	ctx := context.Background()
	d, s, b := newTestDaemon(t)
	vrf := s.addIface("vrf-ul", 65575)
	br := s.addIface("br0", 1500)
	eth1 := s.addIface("eth1", 1500)
	s.change(vrf, "vrf", func(l *kernelnet.Link) { l.Kind = "vrf" })
	s.change(br, "bridge", func(l *kernelnet.Link) { l.Kind, l.MasterIndex = "bridge", vrf })
	s.change(eth1, "port", func(l *kernelnet.Link) { l.MasterIndex = br })
	eth0 := d.ifindexOf("eth0")
	for _, tc := range []struct{ ifindex, want int }{{eth0, 0}, {vrf, vrf}, {br, vrf}, {eth1, vrf}, {99, 0}} {
		if got := d.l3masterOf(tc.ifindex); got != tc.want {
			t.Errorf("l3masterOf(%d) = %d, want %d", tc.ifindex, got, tc.want)
		}
	}
	opened := func() []vtep.SocketKey {
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.opened
		s.opened = nil
		return o
	}
	li, err := b.AddLink(ctx, parseLink(t, "vx0", "id 42 local 10.0.0.1 dev eth1 dstport 4789"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := opened(), []vtep.SocketKey{{Port: 4789, Bind: vrf}}; !slices.Equal(got, want) {
		t.Errorf("opened %v, want %v", got, want)
	}
	// eth1 leaves the bridge; ip link set vx0 down; ip link set vx0 up.
	s.change(eth1, "nomaster", func(l *kernelnet.Link) { l.MasterIndex = 0 })
	for _, up := range []bool{false, true} {
		s.change(li.Index, "ip", func(l *kernelnet.Link) {
			if up {
				l.Flags |= syscall.IFF_UP
			} else {
				l.Flags &^= syscall.IFF_UP
			}
		})
		s.notify(d, li.Index)
	}
	if got, want := opened(), []vtep.SocketKey{{Port: 4789}}; !slices.Equal(got, want) {
		t.Errorf("after leaving the VRF and coming up: opened %v, want %v", got, want)
	}
	if li, _ = b.Link(ctx, "vx0", false); !li.Up {
		t.Error("link not up")
	}
}
