package main

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/control"
)

// vni runs `vtep vni ...`, bridge(8)'s `bridge vni` (bridge/vni.c do_vni):
// the VNI filter of a link created with vnifilter.
func (c *cli) vni(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.vniShow(ctx, nil)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "add", "delete", "del":
		op := control.VNIAdd
		if cmd != "add" {
			op = control.VNIDel
		}
		req, err := parseVNIFilter(op, rest)
		if err != nil {
			return err
		}
		return c.api.UpdateVNI(ctx, req)
	case "show", "lst", "list":
		return c.vniShow(ctx, rest)
	case "help":
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("Command %q is unknown, try \"vtep vni help\".", cmd)
}

// parseVNIFilter parses the words after `vni add|del` with bridge's grammar
// (vni_modify): dev, vni, and one group or remote; other words are
// ignored, as bridge ignores them.
func parseVNIFilter(op control.VNIOp, args []string) (control.VNIRequest, error) {
	req := control.VNIRequest{Op: op}
	vni := ""
	hasDst := false
	for i := 0; i < len(args); i++ {
		w := args[i]
		switch w {
		case "dev", "vni", "group", "remote":
		case "help":
			return req, usagef("%s", usageText)
		default:
			continue
		}
		if i++; i >= len(args) {
			return req, usagef(errIncomplete)
		}
		v := args[i]
		switch w {
		case "dev":
			req.Dev = v
		case "vni":
			if vni != "" {
				return req, usagef("Error: duplicate \"vni\": %q is the second value.", v)
			}
			vni = v
		case "group", "remote":
			if hasDst {
				return req, usagef("Error: duplicate \"destination\": %q is the second value.", v)
			}
			hasDst = true
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return req, usagef("Error: any valid address is expected rather than %q.", v)
			}
			a = a.Unmap()
			if w == "group" {
				if !a.IsMulticast() {
					return req, usagef("Error: argument %q is wrong: invalid group address, a group must be multicast (use \"remote\" for a unicast address)", v)
				}
				req.Group = a
			} else {
				if a.IsMulticast() || a.IsUnspecified() {
					return req, usagef("Error: argument %q is wrong: invalid remote address, a remote must be unicast (use \"group\" for a multicast address)", v)
				}
				req.Remote = a
			}
		}
	}
	if req.Dev == "" || vni == "" {
		return req, usagef("Device and VNI ID are required arguments.")
	}
	var err error
	req.VNI, req.VNIEnd, err = parseVNIRange(vni)
	return req, err
}

// parseVNIRange parses VNI or FIRST-LAST. The range check is vtepd's
// (the kernel's in bridge's case); the end of a one-VNI "range" such as
// 5-5 is left out, as bridge sends it.
func parseVNIRange(s string) (first, last uint32, err error) {
	if strings.Contains(s, ",") {
		return 0, 0, usagef("Error: argument %q is wrong: give one VNI or one range FIRST-LAST per command", s)
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if first, err = parseVNINumber(lo, s); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, 0, nil
	}
	if last, err = parseVNINumber(hi, s); err != nil {
		return 0, 0, err
	}
	if last == first {
		last = 0
	}
	return first, last, nil
}

func parseVNINumber(s, arg string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, usagef("Error: argument %q is wrong: invalid VNI, a VNI is a number from 1 to 16777215 (or a range FIRST-LAST)", arg)
	}
	return uint32(n), nil
}

func (c *cli) vniShow(ctx context.Context, args []string) error {
	dev := ""
	for i := 0; i < len(args); i++ {
		if args[i] != "dev" {
			continue // bridge ignores other words here
		}
		if i++; i >= len(args) {
			return usagef(errIncomplete)
		}
		if dev != "" {
			return usagef("Error: duplicate \"dev\": %q is the second value.", args[i])
		}
		dev = args[i]
	}
	fs, err := c.api.VNIFilters(ctx, dev, c.opts.stats > 0)
	if err != nil {
		return err
	}
	out := vniDump(fs, c.opts.stats > 0)
	if c.opts.json {
		return c.writeJSON(out)
	}
	_, err = fmt.Fprint(c.stdout, vniText(out))
	return err
}

// vniJSONDev is one link of `bridge -j vni show` (print_vnifilter_rtm).
type vniJSONDev struct {
	Ifname string    `json:"ifname"`
	VNIs   []vniJSON `json:"vnis"`
}

// vniJSON is one VNI, or a range of VNIs, of `bridge -j vni show`
// (print_vni), in its key order.
type vniJSON struct {
	VNI    uint32            `json:"vni"`
	VNIEnd uint32            `json:"vniEnd,omitempty"`
	Group  string            `json:"group,omitempty"`
	Remote string            `json:"remote,omitempty"`
	Stats  *control.VNIStats `json:"stats,omitempty"`
}

// vniDump folds the filters into what the kernel's dump
// (vxlan_vnifilter_dump_dev) reports: a run of consecutive VNIs with the
// same group or remote is one range, unless the dump carries counters,
// which are per VNI.
func vniDump(fs []control.VNIFilter, stats bool) []vniJSONDev {
	out := make([]vniJSONDev, 0, len(fs))
	for _, f := range fs {
		d := vniJSONDev{Ifname: f.Ifname, VNIs: []vniJSON{}}
		var last netip.Addr
		for _, e := range f.VNIs {
			if n := len(d.VNIs); n > 0 && !stats && e.Remote == last {
				if r := &d.VNIs[n-1]; e.VNI == max(r.VNI, r.VNIEnd)+1 {
					r.VNIEnd = e.VNI
					continue
				}
			}
			j := vniJSON{VNI: e.VNI, Stats: e.Stats}
			switch {
			case !e.Remote.IsValid():
			case e.Remote.IsMulticast():
				j.Group = e.Remote.String()
			default:
				j.Remote = e.Remote.String()
			}
			d.VNIs = append(d.VNIs, j)
			last = e.Remote
		}
		if len(d.VNIs) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// vniText prints the dump as `bridge vni show` does: a header, then per
// link its name and first VNI on one line, each further VNI or range on a
// line of its own under it, and an empty line; with counters, two lines
// of them under each VNI.
func vniText(ds []vniJSONDev) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s  %-15s  %-15s\n", "dev", "vni", "group/remote")
	for _, d := range ds {
		for i, v := range d.VNIs {
			name := ""
			if i == 0 {
				name = d.Ifname
			}
			fmt.Fprintf(&b, "%-16s  ", name)
			if v.VNIEnd != 0 {
				fmt.Fprintf(&b, " %d-%-14d ", v.VNI, v.VNIEnd)
			} else {
				fmt.Fprintf(&b, " %-14d", v.VNI)
			}
			if v.Group != "" {
				b.WriteString(" " + v.Group)
			} else if v.Remote != "" {
				b.WriteString(" " + v.Remote)
			}
			if s := v.Stats; s != nil {
				fmt.Fprintf(&b, "\n%-16s   RX: bytes %d pkts %d drops %d errors %d ", "", s.RXBytes, s.RXPkts, s.RXDrops, s.RXErrors)
				fmt.Fprintf(&b, "\n%-16s   TX: bytes %d pkts %d drops %d errors %d ", "", s.TXBytes, s.TXPkts, s.TXDrops, s.TXErrors)
			}
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	return b.String()
}
