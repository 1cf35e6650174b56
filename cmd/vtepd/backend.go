package main

import (
	"context"
	"slices"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// backend serves the control API from the daemon.
type backend struct{ d *daemon }

var _ control.Backend = backend{}

// infoLocked describes a link: its interface as the kernel reports it,
// and its configuration and counters from the datapath.
func (d *daemon) infoLocked(dl *dlink, stats bool) control.LinkInfo {
	cfg := dl.link.Config()
	li := control.LinkInfo{
		Index: dl.index, Name: dl.name, MTU: cfg.MTU, Address: dl.link.MAC(), OperState: "UNKNOWN",
		Up: dl.link.IsUp(), Args: cfg.Args(),
	}
	if kl, err := d.sys.LinkByIndex(dl.index); err == nil {
		li.Flags, li.MTU, li.OperState, li.TxQLen = kl.Flags, kl.MTU, kl.OperState, kl.TxQLen
		li.Promiscuity, li.AllMulti = kl.Promiscuity, kl.AllMulti
		li.NumTxQueues, li.NumRxQueues = kl.NumTxQueues, kl.NumRxQueues
		li.Master = d.ifnameLocked(kl.MasterIndex)
	}
	if li.Qdisc = d.sys.Qdisc(dl.index); li.Qdisc == "" {
		li.Qdisc = "noop" // what ip shows for an interface without a qdisc
	}
	if stats {
		s := dl.link.Stats()
		li.Stats = &control.LinkStats{Counters: make([]control.Counter, len(s.Counters))}
		for i, c := range s.Counters {
			li.Stats.Counters[i] = control.Counter{Name: c.Name, Value: c.Value}
		}
		if io, ok := d.sys.(ioCounterer); ok {
			li.Stats.Counters = append(li.Stats.Counters, io.ioCounters(dl.dev, dl.link.SocketKeys())...)
		}
	}
	return li
}

func (d *daemon) linkLocked(name string) (*dlink, error) {
	dl := d.links[name]
	if dl == nil {
		return nil, control.ErrNoDevice(name)
	}
	return dl, nil
}

// sortedLocked returns the links by interface index.
func (d *daemon) sortedLocked() []*dlink {
	ls := make([]*dlink, 0, len(d.links))
	for _, dl := range d.links {
		ls = append(ls, dl)
	}
	slices.SortFunc(ls, func(a, b *dlink) int { return a.index - b.index })
	return ls
}

func (b backend) Links(ctx context.Context, stats bool) ([]control.LinkInfo, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []control.LinkInfo
	for _, dl := range d.sortedLocked() {
		out = append(out, d.infoLocked(dl, stats))
	}
	return out, nil
}

// HasDevice implements control.DeviceFinder: name is an interface of
// vtepd's namespace.
func (b backend) HasDevice(name string) bool { return b.d.ifindexOf(name) != 0 }

func (b backend) Link(ctx context.Context, name string, stats bool) (control.LinkInfo, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(name)
	if err != nil {
		return control.LinkInfo{}, err
	}
	return d.infoLocked(dl, stats), nil
}

func (b backend) AddLink(ctx context.Context, cfg config.Link, up bool) (control.LinkInfo, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.addLinkLocked(cfg, up)
	if err != nil {
		return control.LinkInfo{}, err
	}
	return d.infoLocked(dl, false), nil
}

func (b backend) SetLink(ctx context.Context, name string, ch control.LinkChange) (control.LinkInfo, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(name)
	if err != nil {
		return control.LinkInfo{}, err
	}
	old := dl.link.Config()
	if ch.Config != nil {
		if err := d.changeLocked(dl, *ch.Config); err != nil {
			return control.LinkInfo{}, err
		}
	}
	if ch.Up != nil {
		if err := d.setUpLocked(dl, *ch.Up); err != nil {
			if ch.Config != nil {
				// A refused command changes nothing.
				if rerr := d.changeLocked(dl, old); rerr != nil {
					d.log.Warn("undoing a link change", "link", name, "err", rerr)
				}
			}
			return control.LinkInfo{}, err
		}
	}
	return d.infoLocked(dl, false), nil
}

func (b backend) DelLink(ctx context.Context, name string) error {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(name)
	if err != nil {
		return err
	}
	d.removeLocked(dl)
	d.log.Info("link deleted", "link", name)
	return nil
}

func (b backend) UpdateFDB(ctx context.Context, op control.FDBOp, dev string, req fdb.Request, via string) error {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(dev)
	if err != nil {
		return err
	}
	if req.Ifindex, err = d.viaIndex(via); err != nil {
		return err
	}
	return d.updateFDBLocked(dl, op, req)
}

func (b backend) FlushFDB(ctx context.Context, dev string, f fdb.FlushFilter) (int, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(dev)
	if err != nil {
		return 0, err
	}
	return dl.link.FDB().Flush(f)
}

func (b backend) FDB(ctx context.Context, dev string) ([]control.FDBEntry, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	links, err := d.linksLocked(dev)
	if err != nil {
		return nil, err
	}
	var out []control.FDBEntry
	for _, dl := range links {
		for n := range dl.link.FDB().Neighs() {
			out = append(out, control.EntryFromNeigh(dl.name, n, d.ifnameLocked(n.Ifindex)))
		}
	}
	return out, nil
}

// linksLocked returns link dev, or every link, sorted, when dev is "".
func (d *daemon) linksLocked(dev string) ([]*dlink, error) {
	if dev == "" {
		return d.sortedLocked(), nil
	}
	dl, err := d.linkLocked(dev)
	if err != nil {
		return nil, err
	}
	return []*dlink{dl}, nil
}

func (b backend) UpdateMDB(ctx context.Context, op control.MDBOp, dev string, req fdb.MDBRequest, via string) error {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(dev)
	if err != nil {
		return err
	}
	return d.updateMDBLocked(dl, op, req, via)
}

// updateMDBLocked applies one `bridge mdb` request to a link's MDB; d.mu is
// held.
func (d *daemon) updateMDBLocked(dl *dlink, op control.MDBOp, req fdb.MDBRequest, via string) error {
	var err error
	if req.Ifindex, err = d.viaIndex(via); err != nil {
		return err
	}
	t := dl.link.FDB()
	switch op {
	case control.MDBAdd:
		return t.MDBAdd(req)
	case control.MDBReplace:
		return t.MDBReplace(req)
	case control.MDBDel:
		return t.MDBDel(req)
	}
	return control.Rtnetlink(syscall.EOPNOTSUPP)
}

func (b backend) FlushMDB(ctx context.Context, dev string, f fdb.MDBFlushFilter) (int, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.linkLocked(dev)
	if err != nil {
		return 0, err
	}
	return dl.link.FDB().MDBFlush(f)
}

func (b backend) MDB(ctx context.Context, dev string, get *control.MDBGet) ([]control.MDBEntry, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	links, err := d.linksLocked(dev)
	if err != nil {
		return nil, err
	}
	var out []control.MDBEntry
	for _, dl := range links {
		t := dl.link.FDB()
		es := t.MDBEntries()
		if get != nil {
			k := fdb.MDBKey{Group: get.Group.Unmap(), Source: get.Source.Unmap(), SrcVNI: t.VNI()}
			if get.SrcVNI != nil {
				k.SrcVNI = header.VNI(*get.SrcVNI)
			}
			e, err := t.MDBGet(k)
			if err != nil {
				return nil, err
			}
			es = []fdb.MDBEntry{e}
		}
		out = append(out, control.MDBEntries(dl.index, dl.name, t, es, d.ifnameLocked)...)
	}
	return out, nil
}

func (b backend) Neighbors(ctx context.Context, dev string) ([]control.Neighbor, error) {
	d := b.d
	if dev != "" {
		d.mu.Lock()
		_, err := d.linkLocked(dev)
		d.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	var out []control.Neighbor
	for _, e := range d.neigh.List(dev) {
		out = append(out, control.Neighbor{Dev: e.Link, IP: e.IP, LLAddr: e.MAC, State: e.State, Router: e.Router})
	}
	return out, nil
}

func (b backend) Subscribe(ctx context.Context, f control.EventFilter) (<-chan control.Event, error) {
	return b.d.hub.subscribe(ctx, f), nil
}
