package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

func (c *cli) fdb(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.fdbShow(ctx, nil)
	}
	cmd, rest := args[0], args[1:]
	switch {
	case cmd == "add", cmd == "append", cmd == "replace", cmd == "del", cmd == "delete":
		op := control.FDBOp(cmd)
		if cmd == "delete" {
			op = control.FDBDel
		}
		req, err := parseFDB(op, rest)
		if err != nil {
			return err
		}
		return c.api.UpdateFDB(ctx, req)
	case cmd == "flush":
		req, err := parseFlush(rest)
		if err != nil {
			return err
		}
		_, err = c.api.FlushFDB(ctx, req)
		return err
	case matches(cmd, "show"), matches(cmd, "list"), cmd == "lst":
		return c.fdbShow(ctx, rest)
	case matches(cmd, "help"):
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("Command %q is unknown, try \"vtep fdb help\".", cmd)
}

// parseUDPPort reads a port number or a UDP service name, as bridge does.
func parseUDPPort(s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 0, 16); err == nil {
		return uint16(n), nil
	}
	if p, err := net.LookupPort("udp", s); err == nil && p > 0 && p < 1<<16 {
		return uint16(p), nil
	}
	return 0, usagef("Error: argument %q is wrong: invalid port", s)
}

// parseVNI reads a VNI as get_u32 does (C number syntax) and checks that it
// fits 24 bits.
func parseVNI(s, what string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || n >= 1<<24 {
		return 0, usagef("Error: argument %q is wrong: invalid %s", s, what)
	}
	return uint32(n), nil
}

// parseFDB parses the words after `fdb add|append|replace|del`, with
// bridge's grammar (bridge/fdb.c fdb_modify).
func parseFDB(op control.FDBOp, args []string) (control.FDBRequest, error) {
	req := control.FDBRequest{Op: op}
	addr := ""
	for i := 0; i < len(args); i++ {
		w := args[i]
		next := func() (string, error) {
			if i++; i >= len(args) {
				return "", usagef(errIncomplete)
			}
			return args[i], nil
		}
		var err error
		var v string
		switch {
		case w == "dev":
			if v, err = next(); err == nil {
				req.Dev = v
			}
		case w == "dst":
			if v, err = next(); err == nil {
				a, perr := netip.ParseAddr(v)
				if perr != nil || a.Zone() != "" {
					err = usagef("Error: any valid address is expected rather than %q.", v)
				}
				req.Dst = a
			}
		case w == "self":
			req.Self = true
		case matches(w, "master"):
			req.Master = true
		case matches(w, "router"):
			req.Router = true
		case matches(w, "local"), matches(w, "permanent"):
			req.State = "permanent"
		case matches(w, "temp"), matches(w, "static"):
			req.State = "static"
		case matches(w, "dynamic"):
			req.State = "dynamic"
		case w == "port":
			if v, err = next(); err == nil {
				req.Port, err = parseUDPPort(v)
			}
		case w == "vni":
			if v, err = next(); err == nil {
				var n uint32
				if n, err = parseVNI(v, "VNI"); err == nil {
					req.VNI = &n
				}
			}
		case w == "src_vni":
			if v, err = next(); err == nil {
				var n uint32
				if n, err = parseVNI(v, "src VNI"); err == nil {
					req.SrcVNI = &n
				}
			}
		case w == "via":
			if v, err = next(); err == nil {
				req.Via = v
			}
		case w == "nhid":
			if v, err = next(); err == nil {
				n, perr := strconv.ParseUint(v, 0, 32)
				if perr != nil {
					err = usagef("Error: argument %q is wrong: invalid id", v)
				}
				req.NHID = uint32(n)
			}
		case w == "use":
			req.Use = true
		case w == "extern_learn":
			req.ExternLearn = true
		case w == "sticky":
			req.Sticky = true
		case w == "vlan", w == "activity_notify", w == "inactive", w == "norefresh":
			err = usagef("vtep: %q is not supported on vxlan links", w)
		default:
			if w == "to" {
				if w, err = next(); err != nil {
					return req, err
				}
			}
			if matches(w, "help") {
				return req, usagef("%s", usageText)
			}
			if addr != "" {
				return req, usagef("Error: either \"to\" is duplicate, or %q is garbage.", w)
			}
			addr = w
		}
		if err != nil {
			return req, err
		}
	}
	if req.Dev == "" || addr == "" {
		return req, usagef("Device and address are required arguments.")
	}
	m, err := parseBridgeMAC(addr)
	if err != nil {
		return req, err
	}
	req.MAC = m
	if req.NHID != 0 && (req.Dst.IsValid() || req.Port != 0 || req.VNI != nil) {
		return req, usagef("dst, port, vni are mutually exclusive with nhid")
	}
	return req, nil
}

// parseBridgeMAC reads a MAC as bridge does (sscanf "%hhx:" six times).
func parseBridgeMAC(s string) (header.MAC, error) {
	var m header.MAC
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return m, usagef("Invalid mac address %s", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || p == "" {
			return m, usagef("Invalid mac address %s", s)
		}
		m[i] = byte(n)
	}
	return m, nil
}

// parseFlush parses the words after `fdb flush` (bridge/fdb.c fdb_flush),
// mapping state and flag words as fdb.FlushFilter documents.
func parseFlush(args []string) (control.FlushRequest, error) {
	var req control.FlushRequest
	for i := 0; i < len(args); i++ {
		w := args[i]
		next := func() (string, error) {
			if i++; i >= len(args) {
				return "", usagef(errIncomplete)
			}
			return args[i], nil
		}
		var err error
		var v string
		flag := func(f fdb.Flags, set bool) {
			if set {
				req.Flags |= f
			}
			req.FlagsMask |= f
		}
		switch w {
		case "dev":
			if v, err = next(); err == nil {
				req.Dev = v
			}
		case "self":
		case "master":
			req.Master = true
		case "src_vni":
			if v, err = next(); err == nil {
				req.SrcVNI, err = parseVNI(v, "src VNI")
			}
		case "vni":
			if v, err = next(); err == nil {
				req.VNI, err = parseVNI(v, "VNI")
			}
		case "nhid":
			if v, err = next(); err == nil {
				n, perr := strconv.ParseUint(v, 0, 32)
				if perr != nil {
					err = usagef("Error: argument %q is wrong: invalid nexthop id", v)
				}
				req.NHID = uint32(n)
			}
		case "port":
			if v, err = next(); err == nil {
				req.Port, err = parseUDPPort(v)
			}
		case "dst":
			if v, err = next(); err == nil {
				a, perr := netip.ParseAddr(v)
				if perr != nil || a.Zone() != "" {
					err = usagef("Error: any valid address is expected rather than %q.", v)
				}
				req.Dst = a
			}
		case "permanent":
			req.State |= fdb.StatePermanent
			req.StateMask |= fdb.StatePermanent
		case "nopermanent":
			req.StateMask |= fdb.StatePermanent
		case "static":
			req.State |= fdb.StateNoARP
			req.StateMask |= fdb.StateNoARP | fdb.StatePermanent
		case "nostatic":
			req.StateMask |= fdb.StateNoARP
		case "dynamic":
			req.StateMask |= fdb.StateNoARP | fdb.StatePermanent
		case "nodynamic":
			req.State |= fdb.StateNoARP
			req.StateMask |= fdb.StateNoARP
		case "extern_learn", "noextern_learn":
			flag(fdb.FlagExtLearned, w == "extern_learn")
		case "router", "norouter":
			flag(fdb.FlagRouter, w == "router")
		case "offloaded", "nooffloaded":
			flag(fdb.FlagOffloaded, w == "offloaded")
		case "sticky", "nosticky":
			flag(fdb.FlagSticky, w == "sticky")
		case "brport", "vlan", "added_by_user", "noadded_by_user":
			err = usagef("vtep: %q is not supported on vxlan links", w)
		case "help":
			err = usagef("%s", usageText)
		default:
			err = usagef("bridge fdb: unknown command %q?", w)
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

func (c *cli) fdbShow(ctx context.Context, args []string) error {
	dev := ""
	for i := 0; i < len(args); i++ {
		switch w := args[i]; w {
		case "dev", "brport":
			if i++; i >= len(args) {
				return usagef(errIncomplete)
			}
			dev = args[i]
		default:
			return usagef("bridge fdb: unknown command %q?", w)
		}
	}
	es, err := c.api.FDB(ctx, dev)
	if err != nil {
		return err
	}
	var b []byte
	if c.opts.json {
		b = append(b, '[')
	}
	for i := range es {
		e := &es[i]
		f := &fdb.Format{Stats: c.opts.stats > 0, IfName: func(int) string { return e.Via }}
		if dev == "" {
			f.Dev = e.Dev
		}
		if e.Via == "" {
			f.IfName = nil
		}
		n := e.Neigh()
		if c.opts.json {
			if i > 0 {
				b = append(b, ',')
			}
			b = n.AppendJSON(b, f)
		} else {
			b = append(n.AppendText(b, f), '\n')
		}
	}
	if c.opts.json {
		b = append(b, "]\n"...)
	}
	_, err = c.stdout.Write(b)
	return err
}
