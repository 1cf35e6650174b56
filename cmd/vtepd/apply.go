package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
)

// applyConfig makes the daemon's state match the configuration file f,
// relative to the file applied before (none at start):
//
//   - links of the previous file that f no longer has are deleted; links
//     created with the CLI are left alone;
//   - a link f adds is created; a link whose entry is unchanged is not
//     touched at all; a changed link is changed in place when the kernel
//     allows the change (config.CanChange), else deleted and created
//     again;
//   - addresses, FDB entries, MDB remotes and neighbours are added and removed by
//     difference with the previous file; a link created now gets all of
//     its own.
//
// Every problem is logged and returned (errors.Join); the rest of the file
// is still applied.
func (d *daemon) applyConfig(f *config.File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	fail := func(item string, err error) {
		e := control.ErrorOf(err)
		d.log.Error("configuration", "item", item, "err", e.Message)
		errs = append(errs, fmt.Errorf("%s: %s", item, e.Message))
	}
	old := d.applied
	if old == nil {
		old = &config.File{}
	}
	fresh := map[string]bool{} // created now: everything of theirs is applied

	for _, ol := range old.Links {
		if _, ok := f.Link(ol.Link.Name); !ok {
			if dl := d.links[ol.Link.Name]; dl != nil {
				d.removeLocked(dl)
				d.log.Info("link removed from the configuration", "link", ol.Link.Name)
			}
		}
	}
	for _, nl := range f.Links {
		name := nl.Link.Name
		item := "link " + name
		ol, hadOld := old.Link(name)
		dl := d.links[name]
		switch {
		case dl == nil:
			if _, err := d.addLinkLocked(nl.Link, nl.Up); err != nil {
				fail(item, err)
				continue
			}
			fresh[name] = true
		case hadOld && ol.Link == nl.Link && ol.Up == nl.Up:
			// Unchanged: not touched.
		default:
			cur := dl.link.Config()
			want := nl.Link
			if want.Address.IsZero() {
				want.Address = cur.Address
			}
			if want.MTU == 0 {
				want.MTU = cur.MTU
			}
			if want != cur {
				if config.CanChange(cur, want) == nil {
					if err := d.changeLocked(dl, want); err != nil {
						fail(item, err)
						continue
					}
					d.log.Info("link changed by the configuration", "link", name, "args", want.Args())
				} else {
					d.log.Info("link re-created by the configuration", "link", name, "args", nl.Link.Args())
					d.removeLocked(dl)
					if _, err := d.addLinkLocked(nl.Link, nl.Up); err != nil {
						fail(item, err)
					}
					fresh[name] = true
					continue
				}
			}
			if dl.link.IsUp() != nl.Up {
				if err := d.setUpLocked(dl, nl.Up); err != nil {
					fail(item, err)
				}
			}
		}
	}

	// Addresses.
	for _, nl := range f.Links {
		name := nl.Link.Name
		dl := d.links[name]
		if dl == nil {
			continue
		}
		var before []netip.Prefix
		if ol, ok := old.Link(name); ok && !fresh[name] {
			before = ol.Addresses
		}
		for _, p := range nl.Addresses {
			if !slices.Contains(before, p) {
				if err := d.sys.AddAddr(dl.index, p); err != nil && !errors.Is(err, syscall.EEXIST) {
					fail(fmt.Sprintf("address %s on %s", p, name), err)
				}
			}
		}
		for _, p := range before {
			if !slices.Contains(nl.Addresses, p) {
				if err := d.sys.DelAddr(dl.index, p); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
					fail(fmt.Sprintf("address %s on %s", p, name), err)
				}
			}
		}
	}

	// FDB entries: removed ones first, so that a changed entry can be
	// added again.
	for _, e := range old.FDB {
		dl := d.links[e.Dev]
		if dl == nil || fresh[e.Dev] || containsFDB(f.FDB, e) {
			continue
		}
		via, err := d.viaIndex(e.Via)
		if err != nil {
			via = 0
		}
		r := fdbRequestOf(&e, via)
		if err := dl.link.FDB().Delete(fdb.Request{
			MAC: r.MAC, Dst: r.Dst, Port: r.Port, VNI: r.VNI, HasVNI: r.HasVNI, SrcVNI: r.SrcVNI, HasSrcVNI: true, Ifindex: r.Ifindex,
		}); err != nil && !errors.Is(err, fdb.ErrNotFound) {
			fail(fmt.Sprintf("fdb %s dev %s", e.MAC, e.Dev), err)
		}
	}
	for _, e := range f.FDB {
		dl := d.links[e.Dev]
		if dl == nil || (!fresh[e.Dev] && containsFDB(old.FDB, e)) {
			continue
		}
		item := fmt.Sprintf("fdb %s %s dev %s dst %s (line %d)", e.Op, e.MAC, e.Dev, e.Dst, e.Line)
		if e.NHID != 0 {
			item = fmt.Sprintf("fdb %s %s dev %s nhid %d (line %d)", e.Op, e.MAC, e.Dev, e.NHID, e.Line)
		}
		via, err := d.viaIndex(e.Via)
		if err != nil {
			fail(item, err)
			continue
		}
		op := control.FDBOp(e.Op.String())
		if err := d.updateFDBLocked(dl, op, fdbRequestOf(&e, via)); err != nil {
			fail(item, err)
		}
	}

	// MDB remotes, the same way: removed and changed ones first.
	for _, e := range old.MDB {
		dl := d.links[e.Dev]
		if dl == nil || fresh[e.Dev] || containsMDB(f.MDB, e) {
			continue
		}
		req, err := mdbRequestOf(&e, control.MDBDel)
		if err == nil {
			err = d.updateMDBLocked(dl, control.MDBDel, req, "")
		}
		// Not found or invalid: the entry was refused when the previous
		// file was applied, or deleted since.
		if err != nil && !errors.Is(err, fdb.ErrNotFound) && !errors.Is(err, fdb.ErrInvalid) {
			fail(fmt.Sprintf("mdb grp %s dst %s dev %s", e.Group, e.Dst, e.Dev), err)
		}
	}
	for _, e := range f.MDB {
		dl := d.links[e.Dev]
		if dl == nil || (!fresh[e.Dev] && containsMDB(old.MDB, e)) {
			continue
		}
		op := control.MDBOp(e.Op.String())
		item := fmt.Sprintf("mdb %s grp %s dst %s dev %s (line %d)", op, e.Group, e.Dst, e.Dev, e.Line)
		req, err := mdbRequestOf(&e, op)
		if err == nil {
			err = d.updateMDBLocked(dl, op, req, e.Via)
		}
		if err != nil {
			fail(item, err)
		}
	}

	// Neighbours, through the kernel: the notifications fill the table
	// proxy ARP/ND reads, as `ip neigh add` would.
	for _, n := range old.Neighbors {
		dl := d.links[n.Dev]
		if dl == nil || fresh[n.Dev] || containsNeigh(f.Neighbors, n) {
			continue
		}
		if err := d.sys.DelNeigh(dl.index, n.IP); err != nil && !errors.Is(err, syscall.ENOENT) {
			fail(fmt.Sprintf("neighbor %s dev %s", n.IP, n.Dev), err)
		}
	}
	for _, n := range f.Neighbors {
		dl := d.links[n.Dev]
		if dl == nil || (!fresh[n.Dev] && containsNeigh(old.Neighbors, n)) {
			continue
		}
		if err := d.sys.SetNeigh(dl.index, n.IP, n.LLAddr, n.Router); err != nil {
			fail(fmt.Sprintf("neighbor %s dev %s", n.IP, n.Dev), err)
		}
	}
	d.applied = f
	return errors.Join(errs...)
}

// containsFDB reports whether list has an entry equal to e (lines aside).
func containsFDB(list []config.FDBSpec, e config.FDBSpec) bool {
	e.Line = 0
	for _, x := range list {
		x.Line = 0
		if x == e {
			return true
		}
	}
	return false
}

// containsMDB reports whether list has an entry equal to e (lines aside).
func containsMDB(list []config.MDBSpec, e config.MDBSpec) bool {
	return slices.ContainsFunc(list, e.Equal)
}

// mdbRequestOf is the request `bridge mdb OP` sends for a file's entry,
// converted as the API converts the CLI's; a deletion names the entry and
// the remote only.
func mdbRequestOf(e *config.MDBSpec, op control.MDBOp) (fdb.MDBRequest, error) {
	req := control.MDBRequest{Op: op, Dev: e.Dev, Port: e.Dev, Group: e.Group, Source: e.Source, Dst: e.Dst, SrcVNI: e.SrcVNI}
	if op != control.MDBDel {
		req.Permanent, req.FilterMode, req.SourceList, req.Proto = true, e.FilterMode, e.SourceList, e.Proto
		req.DstPort, req.VNI, req.Via = e.Port, e.VNI, e.Via
	}
	return control.MDBRequestOf(&req)
}

// containsNeigh reports whether list has a neighbour equal to n.
func containsNeigh(list []config.NeighSpec, n config.NeighSpec) bool {
	n.Line = 0
	for _, x := range list {
		x.Line = 0
		if x == n {
			return true
		}
	}
	return false
}
