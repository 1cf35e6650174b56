package control

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// fakeBackend is an in-memory Backend with real FDB tables. It records the
// mutating calls it receives, so tests can check that refused requests
// never reach it.
type fakeBackend struct {
	mu    sync.Mutex
	links map[string]*fakeLink
	next  int
	calls []string
	neigh []Neighbor
	subs  []chan Event
	// subscribed receives a value for each Subscribe.
	subscribed chan struct{}
	// fail, if set, makes the next mutating call fail with it.
	fail error
}

type fakeLink struct {
	cfg   config.Link
	up    bool
	index int
	fdb   *fdb.Table
	// vnis is the VNI filter: each VNI's group or remote.
	vnis map[header.VNI]netip.Addr
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{links: map[string]*fakeLink{}, next: 5, subscribed: make(chan struct{}, 16)}
}

var _ Backend = (*fakeBackend)(nil)

func (b *fakeBackend) record(format string, args ...any) error {
	b.calls = append(b.calls, fmt.Sprintf(format, args...))
	if err := b.fail; err != nil {
		b.fail = nil
		return err
	}
	return nil
}

// state returns a printable snapshot of everything the backend holds.
func (b *fakeBackend) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	names := make([]string, 0, len(b.links))
	for n := range b.links {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		l := b.links[n]
		fmt.Fprintf(&s, "%s up=%v %v\n", n, l.up, l.cfg.Args())
		for nb := range l.fdb.Neighs() {
			fmt.Fprintf(&s, "  %s\n", nb.String())
		}
		vnis := slices.Sorted(maps.Keys(l.vnis))
		for _, v := range vnis {
			fmt.Fprintf(&s, "  vni %d %v\n", v, l.vnis[v])
		}
	}
	return s.String()
}

func (b *fakeBackend) info(name string, l *fakeLink, stats bool) LinkInfo {
	flags := uint32(IFFBroadcast | IFFMulticast)
	oper := "DOWN"
	if l.up {
		flags |= IFFUp | IFFRunning | IFFLowerUp
		oper = "UNKNOWN"
	}
	li := LinkInfo{
		Index: l.index, Name: name, Flags: flags, MTU: l.cfg.DeviceMTU(1500), Qdisc: "noqueue",
		OperState: oper, TxQLen: 1000, Address: l.cfg.Address, Up: l.up, Args: l.cfg.Args(),
	}
	if stats {
		li.Stats = &LinkStats{Counters: []Counter{{"rx_packets", 1}, {"rx_bytes", 100}, {"drop_vni_not_found", 0}}}
	}
	return li
}

func (b *fakeBackend) Links(ctx context.Context, stats bool) ([]LinkInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ls []LinkInfo
	for n, l := range b.links {
		ls = append(ls, b.info(n, l, stats))
	}
	slices.SortFunc(ls, func(a, b LinkInfo) int { return a.Index - b.Index })
	return ls, nil
}

// HasDevice implements DeviceFinder: the links and a lower device eth0.
func (b *fakeBackend) HasDevice(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.links[name] != nil || name == "eth0"
}

func (b *fakeBackend) Link(ctx context.Context, name string, stats bool) (LinkInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.links[name]
	if !ok {
		return LinkInfo{}, ErrNoDevice(name)
	}
	return b.info(name, l, stats), nil
}

func (b *fakeBackend) AddLink(ctx context.Context, cfg config.Link, up bool) (LinkInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("AddLink %s %v up=%v", cfg.Name, cfg.Args(), up); err != nil {
		return LinkInfo{}, err
	}
	if _, ok := b.links[cfg.Name]; ok {
		return LinkInfo{}, Rtnetlink(syscall.EEXIST)
	}
	for _, o := range b.links {
		if o.cfg.VNI == cfg.VNI && o.cfg.Port() == cfg.Port() && o.cfg.IsIPv6() == cfg.IsIPv6() {
			return LinkInfo{}, ExtAck(syscall.EEXIST, "A VXLAN device with the specified VNI already exists")
		}
	}
	fc := fdb.Config{VNI: cfg.VNI, Port: cfg.Port(), IPv6: cfg.IsIPv6(), External: cfg.External, MaxAddress: cfg.MaxAddress}
	if cfg.HasRemote() {
		fc.Remote = cfg.Remote
	}
	t, err := fdb.New(fc)
	if err != nil {
		return LinkInfo{}, err
	}
	if cfg.Address.IsZero() {
		cfg.Address[0], cfg.Address[5] = 0x02, byte(b.next)
	}
	l := &fakeLink{cfg: cfg, up: up, index: b.next, fdb: t}
	b.next++
	b.links[cfg.Name] = l
	return b.info(cfg.Name, l, false), nil
}

func (b *fakeBackend) SetLink(ctx context.Context, name string, ch LinkChange) (LinkInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	desc := "SetLink " + name
	if ch.Config != nil {
		desc += fmt.Sprintf(" %v", ch.Config.Args())
	}
	if ch.Up != nil {
		desc += fmt.Sprintf(" up=%v", *ch.Up)
	}
	if err := b.record("%s", desc); err != nil {
		return LinkInfo{}, err
	}
	l, ok := b.links[name]
	if !ok {
		return LinkInfo{}, ErrNoDevice(name)
	}
	if ch.Config != nil {
		if err := config.CanChange(l.cfg, *ch.Config); err != nil {
			return LinkInfo{}, err
		}
		if ch.Config.MTU > l.cfg.MaxMTU(1500) {
			return LinkInfo{}, Rtnetlink(syscall.EINVAL)
		}
		l.cfg = *ch.Config
	}
	if ch.Up != nil {
		if l.up && !*ch.Up {
			l.fdb.FlushDown()
		}
		l.up = *ch.Up
	}
	return b.info(name, l, false), nil
}

func (b *fakeBackend) DelLink(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("DelLink %s", name); err != nil {
		return err
	}
	if _, ok := b.links[name]; !ok {
		return ErrNoDevice(name)
	}
	delete(b.links, name)
	return nil
}

func (b *fakeBackend) UpdateFDB(ctx context.Context, op FDBOp, dev string, req fdb.Request, via string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("UpdateFDB %s %s %s state=%#x flags=%#x dst=%v via=%q", op, dev, req.MAC, uint16(req.State), uint16(req.Flags), req.Dst, via); err != nil {
		return err
	}
	l, ok := b.links[dev]
	if !ok {
		return ErrNoDevice(dev)
	}
	var err error
	if req.Ifindex, err = fakeVia(via); err != nil {
		return err
	}
	switch op {
	case FDBAdd:
		return l.fdb.Add(req)
	case FDBAppend:
		return l.fdb.Append(req)
	case FDBReplace:
		return l.fdb.Replace(req)
	case FDBDel:
		return l.fdb.Delete(req)
	}
	return Rtnetlink(syscall.EOPNOTSUPP)
}

// fakeVia resolves `via` names: eth0 is interface 2.
func fakeVia(via string) (int, error) {
	switch via {
	case "":
		return 0, nil
	case "eth0":
		return 2, nil
	}
	return 0, ErrNoDevice(via)
}

func (b *fakeBackend) FlushFDB(ctx context.Context, dev string, f fdb.FlushFilter) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("FlushFDB %s", dev); err != nil {
		return 0, err
	}
	l, ok := b.links[dev]
	if !ok {
		return 0, ErrNoDevice(dev)
	}
	return l.fdb.Flush(f)
}

func (b *fakeBackend) FDB(ctx context.Context, dev string) ([]FDBEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []FDBEntry
	for n, l := range b.links {
		if dev != "" && n != dev {
			continue
		}
		for nb := range l.fdb.Neighs() {
			via := ""
			if nb.Ifindex == 2 {
				via = "eth0"
			}
			out = append(out, EntryFromNeigh(n, nb, via))
		}
	}
	if dev != "" && b.links[dev] == nil {
		return nil, ErrNoDevice(dev)
	}
	return out, nil
}

func (b *fakeBackend) UpdateMDB(ctx context.Context, op MDBOp, dev string, req fdb.MDBRequest, via string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("UpdateMDB %s %s grp=%v src=%v dst=%v via=%q", op, dev, req.Group, req.Source, req.Dst, via); err != nil {
		return err
	}
	l, ok := b.links[dev]
	if !ok {
		return ErrNoDevice(dev)
	}
	var err error
	if req.Ifindex, err = fakeVia(via); err != nil {
		return err
	}
	switch op {
	case MDBAdd:
		return l.fdb.MDBAdd(req)
	case MDBReplace:
		return l.fdb.MDBReplace(req)
	case MDBDel:
		return l.fdb.MDBDel(req)
	}
	return Rtnetlink(syscall.EOPNOTSUPP)
}

func (b *fakeBackend) FlushMDB(ctx context.Context, dev string, f fdb.MDBFlushFilter) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("FlushMDB %s %+v", dev, f); err != nil {
		return 0, err
	}
	l, ok := b.links[dev]
	if !ok {
		return 0, ErrNoDevice(dev)
	}
	return l.fdb.MDBFlush(f)
}

func (b *fakeBackend) MDB(ctx context.Context, dev string, get *MDBGet) ([]MDBEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []MDBEntry
	for n, l := range b.links {
		if dev != "" && n != dev {
			continue
		}
		es := l.fdb.MDBEntries()
		if get != nil {
			k := fdb.MDBKey{Group: get.Group, Source: get.Source, SrcVNI: l.fdb.VNI()}
			if get.SrcVNI != nil {
				k.SrcVNI = header.VNI(*get.SrcVNI)
			}
			e, err := l.fdb.MDBGet(k)
			if err != nil {
				return nil, err
			}
			es = []fdb.MDBEntry{e}
		}
		out = append(out, MDBEntries(l.index, n, l.fdb, es, func(int) string { return "eth0" })...)
	}
	if dev != "" && b.links[dev] == nil {
		return nil, ErrNoDevice(dev)
	}
	return out, nil
}

func (b *fakeBackend) UpdateVNI(ctx context.Context, op VNIOp, dev string, first, last header.VNI, remote netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("UpdateVNI %s %s %d-%d %v", op, dev, first, last, remote); err != nil {
		return err
	}
	l, ok := b.links[dev]
	if !ok {
		return ErrNoDevice(dev)
	}
	lookup := func(v header.VNI) (netip.Addr, bool) { a, ok := l.vnis[v]; return a, ok }
	if err := CheckVNIUpdate(dev, l.cfg, op, first, last, remote, lookup); err != nil {
		return err
	}
	if l.vnis == nil {
		l.vnis = map[header.VNI]netip.Addr{}
	}
	for v := first; ; v++ {
		if op == VNIAdd {
			l.vnis[v] = remote
		} else {
			delete(l.vnis, v)
		}
		if v == last {
			return nil
		}
	}
}

// VNIFilters counts v packets of v bytes each way for VNI v.
func (b *fakeBackend) VNIFilters(ctx context.Context, dev string, stats bool) ([]VNIFilter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dev != "" {
		l, ok := b.links[dev]
		if !ok {
			return nil, ErrNoDevice(dev)
		}
		if !l.cfg.VNIFilter {
			return nil, ErrNoVNIFilter(dev)
		}
	}
	var out []VNIFilter
	for n, l := range b.links {
		if (dev != "" && n != dev) || len(l.vnis) == 0 {
			continue
		}
		f := VNIFilter{Index: l.index, Ifname: n}
		for v, a := range l.vnis {
			e := VNIEntry{VNI: uint32(v), Remote: a}
			if stats {
				e.Stats = &VNIStats{RXPkts: uint64(v), RXBytes: uint64(v) * uint64(v), TXPkts: uint64(v), TXBytes: uint64(v) * uint64(v)}
			}
			f.VNIs = append(f.VNIs, e)
		}
		slices.SortFunc(f.VNIs, func(a, b VNIEntry) int { return int(a.VNI) - int(b.VNI) })
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b VNIFilter) int { return a.Index - b.Index })
	return out, nil
}

func (b *fakeBackend) Neighbors(ctx context.Context, dev string) ([]Neighbor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dev != "" && b.links[dev] == nil {
		return nil, ErrNoDevice(dev)
	}
	var out []Neighbor
	for _, n := range b.neigh {
		if dev == "" || n.Dev == dev {
			out = append(out, n)
		}
	}
	return out, nil
}

func (b *fakeBackend) Subscribe(ctx context.Context, f EventFilter) (<-chan Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Event, 16)
	b.subs = append(b.subs, ch)
	b.subscribed <- struct{}{}
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs = slices.DeleteFunc(b.subs, func(c chan Event) bool { return c == ch })
		close(ch)
	}()
	return ch, nil
}

// emit sends ev to every subscriber and returns how many there were.
func (b *fakeBackend) emit(ev Event) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.subs {
		c <- ev
	}
	return len(b.subs)
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
