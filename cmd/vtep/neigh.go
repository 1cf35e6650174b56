package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
)

func (c *cli) neigh(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch cmd := args[0]; {
		case matches(cmd, "show"), matches(cmd, "list"), cmd == "lst":
			args = args[1:]
		case matches(cmd, "help"):
			fmt.Fprint(c.stdout, usageText)
			return nil
		default:
			return usagef("Command %q is unknown, try \"vtep neigh help\".", cmd)
		}
	}
	dev := ""
	for i := 0; i < len(args); i++ {
		switch w := args[i]; w {
		case "dev":
			if i++; i >= len(args) {
				return usagef(errIncomplete)
			}
			dev = args[i]
		default:
			return usagef("Error: either \"dev\" is duplicate, or %q is garbage.", w)
		}
	}
	ns, err := c.api.Neighbors(ctx, dev)
	if err != nil {
		return err
	}
	if c.opts.json {
		return writeNeighJSON(c, ns, dev)
	}
	var b strings.Builder
	for _, n := range ns {
		b.WriteString(n.IP.String())
		b.WriteByte(' ')
		if dev == "" {
			fmt.Fprintf(&b, "dev %s ", n.Dev)
		}
		fmt.Fprintf(&b, "lladdr %s", n.LLAddr)
		if n.Router {
			b.WriteString(" router")
		}
		for _, s := range nudNames(n.State) {
			b.WriteByte(' ')
			b.WriteString(s)
		}
		b.WriteString(" \n")
	}
	_, err = fmt.Fprint(c.stdout, b.String())
	return err
}

// nudNames returns the state words ip neigh prints (ip/ipneigh.c
// nud_state_a2n's names), in bit order.
func nudNames(state uint16) []string {
	names := []struct {
		bit  uint16
		name string
	}{
		{control.NUDIncomplete, "INCOMPLETE"}, {control.NUDReachable, "REACHABLE"}, {control.NUDStale, "STALE"},
		{control.NUDDelay, "DELAY"}, {control.NUDProbe, "PROBE"}, {control.NUDFailed, "FAILED"},
		{control.NUDNoARP, "NOARP"}, {control.NUDPermanent, "PERMANENT"},
	}
	var out []string
	for _, n := range names {
		if state&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// neighJSON is one element of `ip -j neigh show`.
type neighJSON struct {
	Dst    string   `json:"dst"`
	Dev    string   `json:"dev,omitempty"`
	LLAddr string   `json:"lladdr"`
	Router bool     `json:"-"`
	State  []string `json:"state"`
}

// MarshalJSON writes the keys in ip's order, with router as null (print_null).
func (n neighJSON) MarshalJSON() ([]byte, error) {
	b := []byte(`{"dst":`)
	b = strconv.AppendQuote(b, n.Dst)
	if n.Dev != "" {
		b = append(b, `,"dev":`...)
		b = strconv.AppendQuote(b, n.Dev)
	}
	b = append(b, `,"lladdr":`...)
	b = strconv.AppendQuote(b, n.LLAddr)
	if n.Router {
		b = append(b, `,"router":null`...)
	}
	st, err := json.Marshal(n.State)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"state":`...)
	b = append(b, st...)
	return append(b, '}'), nil
}

func writeNeighJSON(c *cli, ns []control.Neighbor, dev string) error {
	out := make([]neighJSON, 0, len(ns))
	for _, n := range ns {
		j := neighJSON{Dst: n.IP.String(), LLAddr: n.LLAddr.String(), State: nudNames(n.State)}
		if dev == "" {
			j.Dev = n.Dev
		}
		j.Router = n.Router
		if j.State == nil {
			j.State = []string{}
		}
		out = append(out, j)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

func (c *cli) monitor(ctx context.Context, args []string) error {
	var f control.EventFilter
	for i := 0; i < len(args); i++ {
		switch w := args[i]; {
		case matches(w, "fdb"):
			f.FDB = true
		case w == "mdb":
			f.MDB = true
		case matches(w, "miss"):
			f.Miss = true
		case w == "all":
			f.FDB, f.MDB, f.Miss = true, true, true
		case w == "dev":
			if i++; i >= len(args) {
				return usagef(errIncomplete)
			}
			f.Dev = args[i]
		case matches(w, "help"):
			fmt.Fprint(c.stdout, usageText)
			return nil
		default:
			return usagef("Argument %q is unknown, try \"vtep monitor help\".", w)
		}
	}
	return c.api.Monitor(ctx, f, func(ev control.Event) error {
		var b []byte
		if c.opts.json {
			j, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			b = append(j, '\n')
		} else if ev.MDB != nil {
			b = []byte(c.mdbLines(string(ev.Kind)+" ", []control.MDBEntry{*ev.MDB}))
		} else {
			b = appendEvent(nil, &ev)
		}
		_, err := c.stdout.Write(b)
		return err
	})
}

// appendEvent formats one event as a text line: the kind, then the entry
// as bridge fdb show prints it, or the missed address.
func appendEvent(b []byte, ev *control.Event) []byte {
	b = append(b, ev.Kind...)
	b = append(b, ' ')
	switch {
	case ev.FDB != nil:
		n := ev.FDB.Neigh()
		n.Deleted = false // the kind says so
		f := &fdb.Format{Dev: ev.Dev}
		if ev.FDB.Via != "" {
			f.IfName = func(int) string { return ev.FDB.Via }
		}
		b = n.AppendText(b, f)
		if ev.PrevDst.IsValid() {
			if b[len(b)-1] != ' ' {
				b = append(b, ' ')
			}
			b = append(b, "from "...)
			b = ev.PrevDst.AppendTo(b)
		}
	case ev.Kind == control.EventL3Miss:
		b = ev.IP.AppendTo(b)
		b = append(b, " dev "...)
		b = append(b, ev.Dev...)
	default:
		b = ev.MAC.AppendTo(b)
		b = append(b, " dev "...)
		b = append(b, ev.Dev...)
	}
	return append(b, '\n')
}
