package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/header"
)

func (c *cli) mdb(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.mdbShow(ctx, nil)
	}
	cmd, rest := args[0], args[1:]
	switch {
	case matches(cmd, "add"), matches(cmd, "replace"), matches(cmd, "delete"):
		op := control.MDBAdd
		if matches(cmd, "replace") {
			op = control.MDBReplace
		} else if matches(cmd, "delete") {
			op = control.MDBDel
		}
		req, err := parseMDB(op, rest)
		if err != nil {
			return err
		}
		return c.api.UpdateMDB(ctx, req)
	case matches(cmd, "flush"):
		req, err := parseMDBFlush(rest)
		if err != nil {
			return err
		}
		_, err = c.api.FlushMDB(ctx, req)
		return err
	case matches(cmd, "get"):
		return c.mdbGet(ctx, rest)
	case matches(cmd, "show"), matches(cmd, "list"), cmd == "lst":
		return c.mdbShow(ctx, rest)
	case matches(cmd, "help"):
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("Command %q is unknown, try \"vtep mdb help\".", cmd)
}

func rtprotName(p uint8) string {
	if n, ok := config.RtprotNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// parseRtprot is rtnl_rtprot_a2n: a name or a number below 256.
func parseRtprot(s string) (uint8, error) {
	p, ok := config.ParseRtprot(s)
	if !ok {
		return 0, usagef("Invalid protocol %q", s)
	}
	return p, nil
}

func parseIP(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, usagef("Invalid %s %q", what, s)
	}
	return a, nil
}

func parseVID(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, usagef("Invalid VLAN ID %q", s)
	}
	return uint16(n), nil
}

// parseMDBVNI is mdb_parse_vni: a C number; the kernel checks the range.
func parseMDBVNI(s, what string) (*uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return nil, usagef("Invalid %s %q", what, s)
	}
	v := uint32(n)
	return &v, nil
}

// parseMDB parses the words after `mdb add|replace|del`, with bridge's
// grammar (bridge/mdb.c mdb_modify).
func parseMDB(op control.MDBOp, args []string) (control.MDBRequest, error) {
	req := control.MDBRequest{Op: op}
	grp := ""
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "permanent" {
			req.Permanent = op != control.MDBDel
			continue
		}
		if w == "temp" {
			continue
		}
		if matches(w, "help") {
			return req, usagef("%s", usageText)
		}
		switch w {
		case "dev", "grp", "port", "vid", "src", "filter_mode", "source_list", "proto", "dst", "dst_port", "vni", "src_vni", "via":
		default:
			continue // bridge ignores unknown words here
		}
		if i++; i >= len(args) {
			return req, usagef(errIncomplete)
		}
		v := args[i]
		var err error
		switch w {
		case "dev":
			req.Dev = v
		case "grp":
			grp = v
		case "port":
			req.Port = v
		case "vid":
			req.VID, err = parseVID(v)
		case "src":
			req.Source, err = parseIP(v, "source address")
		case "filter_mode":
			if v != "include" && v != "exclude" {
				err = usagef("Invalid filter mode %q", v)
			}
			req.FilterMode = v
		case "source_list":
			for _, s := range strings.Split(v, ",") {
				a, perr := netip.ParseAddr(s)
				if perr != nil || a.Zone() != "" {
					err = usagef("Invalid source entry %q in source list", s)
					break
				}
				req.SourceList = append(req.SourceList, a)
			}
		case "proto":
			req.Proto, err = parseRtprot(v)
		case "dst":
			req.Dst, err = parseIP(v, "remote destination address")
		case "dst_port":
			req.DstPort, err = parseUDPPort(v)
		case "vni":
			req.VNI, err = parseMDBVNI(v, "destination VNI")
		case "src_vni":
			req.SrcVNI, err = parseMDBVNI(v, "source VNI")
		case "via":
			req.Via = v
		}
		if err != nil {
			return req, err
		}
	}
	if req.Dev == "" || grp == "" || req.Port == "" {
		return req, usagef("Device, group address and port name are required arguments.")
	}
	if a, err := netip.ParseAddr(grp); err == nil && a.Zone() == "" {
		req.Group = a
	} else if _, err := header.ParseMAC(grp); err == nil {
		req.GroupMAC = true
	} else {
		return req, usagef("Invalid address %q", grp)
	}
	return req, nil
}

// parseMDBFlush parses the words after `mdb flush` (bridge/mdb.c
// mdb_flush).
func parseMDBFlush(args []string) (control.MDBFlushRequest, error) {
	var req control.MDBFlushRequest
	for i := 0; i < len(args); i++ {
		w := args[i]
		switch w {
		case "permanent", "nopermanent":
			p := w == "permanent"
			req.Permanent = &p
			continue
		case "dev", "port", "vid", "src_vni", "proto", "dst", "dst_port", "vni":
		default:
			return req, usagef("bridge mdb flush: unknown command %q?", w)
		}
		if i++; i >= len(args) {
			return req, usagef(errIncomplete)
		}
		v := args[i]
		var err error
		var n *uint32
		switch w {
		case "dev":
			req.Dev = v
		case "port":
			req.Port = v
		case "vid":
			req.VID, err = parseVID(v)
		case "src_vni":
			if n, err = parseMDBVNI(v, "source VNI"); err == nil {
				req.SrcVNI = *n
			}
		case "vni":
			if n, err = parseMDBVNI(v, "destination VNI"); err == nil {
				req.VNI = *n
			}
		case "proto":
			req.Proto, err = parseRtprot(v)
		case "dst":
			req.Dst, err = parseIP(v, "destination IP address")
		case "dst_port":
			req.DstPort, err = parseUDPPort(v)
		}
		if err != nil {
			return req, err
		}
	}
	if req.Dev == "" {
		return req, usagef("Device is a required argument.")
	}
	return req, nil
}

func (c *cli) mdbShow(ctx context.Context, args []string) error {
	dev := ""
	for i := 0; i < len(args); i++ {
		switch w := args[i]; w {
		case "dev", "vid":
			if i++; i >= len(args) {
				return usagef(errIncomplete)
			}
			if w == "dev" {
				dev = args[i]
			}
		}
	}
	es, err := c.api.MDB(ctx, dev)
	if err != nil {
		return err
	}
	if c.opts.json {
		return c.writeJSON([]mdbDump{{MDB: c.mdbJSON(es), Router: struct{}{}}})
	}
	return c.mdbText(es)
}

func (c *cli) mdbGet(ctx context.Context, args []string) error {
	var dev string
	var g control.MDBGet
	for i := 0; i < len(args); i++ {
		w := args[i]
		if i+1 >= len(args) {
			return usagef(errIncomplete)
		}
		i++
		v := args[i]
		var err error
		switch w {
		case "dev":
			dev = v
		case "grp":
			g.Group, err = parseIP(v, "address")
		case "src":
			g.Source, err = parseIP(v, "source address")
		case "vid":
		case "src_vni":
			g.SrcVNI, err = parseMDBVNI(v, "source VNI")
		default:
			return usagef("bridge mdb get: unknown command %q?", w)
		}
		if err != nil {
			return err
		}
	}
	if dev == "" || !g.Group.IsValid() {
		return usagef("Device and group address are required arguments.")
	}
	es, err := c.api.GetMDB(ctx, dev, g)
	if err != nil {
		return err
	}
	if c.opts.json {
		return c.writeJSON(c.mdbJSON(es))
	}
	return c.mdbText(es)
}

// mdbDump is `bridge -j mdb show`'s document.
type mdbDump struct {
	MDB    []mdbJSONEntry `json:"mdb"`
	Router struct{}       `json:"router"`
}

// mdbJSONEntry is one entry of `bridge -j mdb show`, in its key order
// (bridge/mdb.c print_mdb_entry).
type mdbJSONEntry struct {
	Index      int             `json:"index"`
	Dev        string          `json:"dev"`
	Port       string          `json:"port"`
	Group      string          `json:"grp"`
	Source     string          `json:"src,omitempty"`
	State      string          `json:"state"`
	FilterMode string          `json:"filter_mode,omitempty"`
	SourceList []mdbJSONSource `json:"source_list,omitempty"`
	Protocol   string          `json:"protocol,omitempty"`
	Flags      []string        `json:"flags"`
	Dst        string          `json:"dst,omitempty"`
	DstPort    uint16          `json:"dst_port,omitempty"`
	VNI        *uint32         `json:"vni,omitempty"`
	SrcVNI     *uint32         `json:"src_vni,omitempty"`
	Via        string          `json:"via,omitempty"`
	Timer      string          `json:"timer,omitempty"`
}

type mdbJSONSource struct {
	Address string `json:"address"`
	Timer   string `json:"timer"`
}

func (c *cli) mdbJSON(es []control.MDBEntry) []mdbJSONEntry {
	out := make([]mdbJSONEntry, 0, len(es))
	for i := range es {
		e := &es[i]
		j := mdbJSONEntry{
			Index: e.Index, Dev: e.Dev, Port: e.Dev, Group: e.Group.String(), State: "permanent",
			Flags: []string{}, DstPort: e.DstPort, VNI: e.VNI, SrcVNI: e.SrcVNI, Via: e.Via,
		}
		if e.Source.IsValid() {
			j.Source = e.Source.String()
		}
		if c.opts.details {
			j.FilterMode = e.FilterMode
			for _, s := range e.SourceList {
				j.SourceList = append(j.SourceList, mdbJSONSource{Address: s.String(), Timer: "0.00"})
			}
			j.Protocol = rtprotName(e.Proto)
		}
		if e.Blocked {
			j.Flags = append(j.Flags, "blocked")
		}
		if e.Dst.IsValid() {
			j.Dst = e.Dst.String()
		}
		if e.Ifindex != 0 && j.Via == "" {
			j.Via = strconv.Itoa(e.Ifindex)
		}
		if c.opts.stats > 0 {
			j.Timer = "   0.00"
		}
		out = append(out, j)
	}
	return out
}

// mdbText prints entries as `bridge mdb show` does.
func (c *cli) mdbText(es []control.MDBEntry) error {
	_, err := fmt.Fprint(c.stdout, c.mdbLines("", es))
	return err
}

// mdbLines formats entries as `bridge mdb show` lines, each after prefix.
func (c *cli) mdbLines(prefix string, es []control.MDBEntry) string {
	var b strings.Builder
	for _, j := range c.mdbJSON(es) {
		b.WriteString(prefix)
		fmt.Fprintf(&b, "dev %s port %s grp %s", j.Dev, j.Port, j.Group)
		if j.Source != "" {
			fmt.Fprintf(&b, " src %s", j.Source)
		}
		b.WriteString(" " + j.State)
		if c.opts.details {
			fmt.Fprintf(&b, " filter_mode %s", j.FilterMode)
			if len(j.SourceList) > 0 {
				b.WriteString(" source_list")
				for i, s := range j.SourceList {
					b.WriteString(map[bool]string{true: " ", false: ","}[i == 0] + s.Address + "/" + s.Timer)
				}
			}
			fmt.Fprintf(&b, " proto %s", j.Protocol)
		}
		for _, f := range j.Flags {
			b.WriteString(" " + f)
		}
		if j.Dst != "" {
			fmt.Fprintf(&b, " dst %s", j.Dst)
		}
		if j.DstPort != 0 {
			fmt.Fprintf(&b, " dst_port %d", j.DstPort)
		}
		if j.VNI != nil {
			fmt.Fprintf(&b, " vni %d", *j.VNI)
		}
		if j.SrcVNI != nil {
			fmt.Fprintf(&b, " src_vni %d", *j.SrcVNI)
		}
		if j.Via != "" {
			fmt.Fprintf(&b, " via %s", j.Via)
		}
		if j.Timer != "" {
			b.WriteString(" " + j.Timer)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (c *cli) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(b, '\n'))
	return err
}
