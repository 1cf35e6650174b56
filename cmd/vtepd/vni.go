package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/vtep"
)

// UpdateVNI performs `bridge vni add` or `del` on a vnifilter link. The
// whole request is checked first. An add of a VNI already in the filter
// with another group or remote replaces it, as the kernel's
// vxlan_vni_update_group does. If the datapath still refuses one VNI of
// an add (another link took it), what the request changed is undone, so a
// refused command changes nothing.
func (b backend) UpdateVNI(ctx context.Context, op control.VNIOp, dev string, first, last header.VNI, remote netip.Addr) error {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.vniLinkLocked(dev)
	if err != nil {
		return err
	}
	if err := control.CheckVNIUpdate(dev, dl.link.Config(), op, first, last, remote, dl.link.VNIDest); err != nil {
		return err
	}
	if op == control.VNIDel {
		for v := first; ; v++ {
			if err := dl.link.DelVNI(v); err != nil {
				// CheckVNIUpdate found every VNI in the filter.
				return fmt.Errorf("vtepd: %s: del vni %d: %w", dev, uint32(v), err)
			}
			if v == last {
				return nil
			}
		}
	}
	type change struct {
		vni header.VNI
		old netip.Addr // the VNI's former group or remote
		had bool       // the VNI was in the filter
	}
	var done []change
	for v := first; ; v++ {
		old, had := dl.link.VNIDest(v)
		if !had || old != remote {
			if err := dl.link.AddVNI(v, remote); err != nil {
				for _, c := range slices.Backward(done) {
					var uerr error
					if c.had {
						uerr = dl.link.AddVNI(c.vni, c.old)
					} else {
						uerr = dl.link.DelVNI(c.vni)
					}
					if uerr != nil {
						d.log.Warn("undoing a vni add", "link", dev, "vni", uint32(c.vni), "err", uerr)
					}
				}
				return vniAddError(dev, v, err)
			}
			done = append(done, change{v, old, had})
		}
		if v == last {
			return nil
		}
	}
}

// vniLinkLocked returns link dev for a `bridge vni` request. An interface
// that is not a vtep link gets the kernel's answer for a device that is
// not a vxlan device (vxlan_vnifilter_process), with what to do.
func (d *daemon) vniLinkLocked(dev string) (*dlink, error) {
	dl, err := d.linkLocked(dev)
	if err != nil && d.ifindexOf(dev) != 0 {
		return nil, control.ExtAck(syscall.EINVAL, fmt.Sprintf("%s is not a vxlan device of vtepd; bridge vni works on vtep links created with \"external vnifilter\"", dev))
	}
	return dl, err
}

// vniAddError words the datapath's refusal of one VNI.
func vniAddError(dev string, v header.VNI, err error) error {
	var inUse *vtep.VNIInUseError
	if errors.As(err, &inUse) {
		return control.ExtAck(syscall.EEXIST, fmt.Sprintf("VNI %d is in use by %s, which receives on the same port; delete it there first", uint32(v), inUse.Link))
	}
	return err
}

// VNIFilters dumps the VNI filters (`bridge [-s] vni show`): link dev's,
// or those of every vnifilter link with VNIs.
func (b backend) VNIFilters(ctx context.Context, dev string, stats bool) ([]control.VNIFilter, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	links, err := d.linksLocked(dev)
	if err != nil {
		if _, verr := d.vniLinkLocked(dev); verr != nil {
			err = verr
		}
		return nil, err
	}
	var out []control.VNIFilter
	for _, dl := range links {
		if !dl.link.Config().VNIFilter {
			if dev != "" {
				return nil, control.ErrNoVNIFilter(dev)
			}
			continue
		}
		f := control.VNIFilter{Index: dl.index, Ifname: dl.name}
		for _, s := range dl.link.VNIStats() {
			dst, _ := dl.link.VNIDest(s.VNI)
			e := control.VNIEntry{VNI: uint32(s.VNI), Remote: dst}
			if stats {
				e.Stats = &control.VNIStats{
					RXBytes: s.RXBytes, RXPkts: s.RXPackets, RXDrops: s.RXDrops, RXErrors: s.RXErrors,
					TXBytes: s.TXBytes, TXPkts: s.TXPackets, TXDrops: s.TXDrops, TXErrors: s.TXErrors,
				}
			}
			f.VNIs = append(f.VNIs, e)
		}
		if len(f.VNIs) == 0 {
			continue // the kernel's dump has no message for an empty filter
		}
		slices.SortFunc(f.VNIs, func(a, b control.VNIEntry) int { return int(a.VNI) - int(b.VNI) })
		out = append(out, f)
	}
	return out, nil
}
