package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/header"
)

const errIncomplete = `Command line is not complete. Try option "help"`

func (c *cli) link(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.linkShow(ctx, nil)
	}
	cmd, rest := args[0], args[1:]
	switch {
	case matches(cmd, "add"):
		req, err := parseLinkAdd(rest)
		if err != nil {
			return err
		}
		_, err = c.api.AddLink(ctx, req)
		return err
	case matches(cmd, "set"), matches(cmd, "change"):
		name, req, err := parseLinkSet(rest)
		if err != nil {
			return err
		}
		_, err = c.api.SetLink(ctx, name, req)
		return err
	case matches(cmd, "delete"):
		name, err := parseDevName(rest, "Not enough information: \"dev\" argument is required.")
		if err != nil {
			return err
		}
		return c.api.DelLink(ctx, name)
	case matches(cmd, "show"), matches(cmd, "list"), cmd == "lst":
		return c.linkShow(ctx, rest)
	case matches(cmd, "help"):
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("Command %q is unknown, try \"vtep link help\".", cmd)
}

// parseDevName reads `[dev] NAME`, the only words of link del.
func parseDevName(args []string, missing string) (string, error) {
	name := ""
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "dev" || w == "name" {
			if i++; i >= len(args) {
				return "", usagef(errIncomplete)
			}
			w = args[i]
		}
		if name != "" {
			return "", usagef("Error: either \"dev\" is duplicate, or %q is garbage.", w)
		}
		name = w
	}
	if name == "" {
		return "", usagef("%s", missing)
	}
	return name, nil
}

// parseLinkAdd parses the words after `link add`: `[name|dev] NAME [up]
// [mtu MTU] [address LLADDR] type vxlan ARGS` (ip/iplink.c iplink_parse).
// mtu and address become vtep's extension words of the vxlan arguments.
func parseLinkAdd(args []string) (control.LinkAddRequest, error) {
	var req control.LinkAddRequest
	var pre []string
	typed := false
loop:
	for i := 0; i < len(args); i++ {
		w := args[i]
		next := func() (string, error) {
			if i++; i >= len(args) {
				return "", usagef(errIncomplete)
			}
			return args[i], nil
		}
		switch w {
		case "type":
			t, err := next()
			if err != nil {
				return req, err
			}
			if t != "vxlan" {
				return req, usagef("Error: vtep creates only \"type vxlan\" links, not %q.", t)
			}
			req.Args = append(pre, args[i+1:]...)
			typed = true
			break loop
		case "up":
			req.Up = true
		case "mtu", "address":
			v, err := next()
			if err != nil {
				return req, err
			}
			pre = append(pre, w, v)
		case "name", "dev":
			v, err := next()
			if err != nil {
				return req, err
			}
			if req.Name != "" {
				return req, usagef("Error: either %q is duplicate, or %q is garbage.", w, v)
			}
			req.Name = v
		case "help":
			return req, usagef("%s", usageText)
		default:
			if req.Name != "" {
				return req, usagef("Error: either \"dev\" is duplicate, or %q is garbage.", w)
			}
			req.Name = w
		}
	}
	if req.Name == "" {
		return req, usagef("Not enough information: \"dev\" argument is required.")
	}
	if !typed {
		return req, usagef("Not enough information: \"type\" argument is required.")
	}
	if req.Args == nil {
		req.Args = []string{}
	}
	return req, nil
}

// parseLinkSet parses the words after `link set`: `[dev] NAME [up|down]
// [mtu MTU] [address LLADDR] [type vxlan ARGS]`.
func parseLinkSet(args []string) (string, control.LinkSetRequest, error) {
	var req control.LinkSetRequest
	name := ""
loop:
	for i := 0; i < len(args); i++ {
		w := args[i]
		next := func() (string, error) {
			if i++; i >= len(args) {
				return "", usagef(errIncomplete)
			}
			return args[i], nil
		}
		switch w {
		case "up", "down":
			up := w == "up"
			req.Up = &up
		case "mtu":
			v, err := next()
			if err != nil {
				return "", req, err
			}
			n, err := strconv.ParseUint(v, 0, 31)
			if err != nil || n == 0 {
				return "", req, usagef("Error: argument %q is wrong: Invalid \"mtu\" value", v)
			}
			req.MTU = int(n)
		case "address":
			v, err := next()
			if err != nil {
				return "", req, err
			}
			m, err := header.ParseMAC(v)
			if err != nil {
				return "", req, usagef("%q is invalid lladdr.", v)
			}
			req.Address = &m
		case "type":
			t, err := next()
			if err != nil {
				return "", req, err
			}
			if t != "vxlan" {
				return "", req, usagef("Error: vtep links are \"type vxlan\", not %q.", t)
			}
			req.Args = append([]string{}, args[i+1:]...)
			break loop
		case "dev", "name":
			v, err := next()
			if err != nil {
				return "", req, err
			}
			if name != "" {
				return "", req, usagef("Error: either %q is duplicate, or %q is garbage.", w, v)
			}
			name = v
		case "help":
			return "", req, usagef("%s", usageText)
		default:
			if name != "" {
				return "", req, usagef("Error: either \"dev\" is duplicate, or %q is garbage.", w)
			}
			name = w
		}
	}
	if name == "" {
		return "", req, usagef("Not enough of information: \"dev\" argument is required.")
	}
	return name, req, nil
}

func (c *cli) linkShow(ctx context.Context, args []string) error {
	name := ""
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "dev" {
			if i++; i >= len(args) {
				return usagef(errIncomplete)
			}
			w = args[i]
		}
		if name != "" {
			return usagef("Error: either \"dev\" is duplicate, or %q is garbage.", w)
		}
		name = w
	}
	var links []control.LinkInfo
	if name != "" {
		li, err := c.api.Link(ctx, name, c.opts.stats > 0)
		if err != nil {
			return err
		}
		links = []control.LinkInfo{li}
	} else {
		var err error
		if links, err = c.api.Links(ctx, c.opts.stats > 0); err != nil {
			return err
		}
	}
	if c.opts.json {
		return writeLinksJSON(c.stdout, links, c.opts)
	}
	for i := range links {
		if err := writeLink(c.stdout, &links[i], c.opts); err != nil {
			return err
		}
	}
	return nil
}

// flagNames lists the IFF_* names in the order ip prints them
// (ip/ipaddress.c print_link_flags).
var flagNames = []struct {
	bit  uint32
	name string
}{
	{control.IFFLoopback, "LOOPBACK"},
	{control.IFFBroadcast, "BROADCAST"},
	{control.IFFPointToPnt, "POINTOPOINT"},
	{control.IFFMulticast, "MULTICAST"},
	{control.IFFNoARP, "NOARP"},
	{control.IFFAllMulti, "ALLMULTI"},
	{control.IFFPromisc, "PROMISC"},
	{control.IFFNoTrailers, "NOTRAILERS"},
	{control.IFFDebug, "DEBUG"},
	{control.IFFDynamic, "DYNAMIC"},
	{control.IFFAutoMedia, "AUTOMEDIA"},
	{control.IFFPortSel, "PORTSEL"},
	{control.IFFMaster, "MASTER"},
	{control.IFFSlave, "SLAVE"},
	{control.IFFUp, "UP"},
	{control.IFFLowerUp, "LOWER_UP"},
	{control.IFFDormant, "DORMANT"},
	{control.IFFEcho, "ECHO"},
}

// linkFlags returns the words between < and > of ip link show:
// NO-CARRIER first for an up interface that is not running, then the set
// flags, then any unknown bits in hex.
func linkFlags(flags uint32) []string {
	var out []string
	if flags&control.IFFUp != 0 && flags&control.IFFRunning == 0 {
		out = append(out, "NO-CARRIER")
	}
	flags &^= control.IFFRunning
	for _, f := range flagNames {
		if flags&f.bit != 0 {
			flags &^= f.bit
			out = append(out, f.name)
		}
	}
	if flags != 0 {
		out = append(out, strconv.FormatUint(uint64(flags), 16))
	}
	return out
}

// writeLink prints one link as `ip [-d] [-s] link show` does.
func writeLink(w io.Writer, li *control.LinkInfo, o options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: %s: <%s> mtu %d ", li.Index, li.Name, strings.Join(linkFlags(li.Flags), ","), li.MTU)
	if li.Qdisc != "" {
		fmt.Fprintf(&b, "qdisc %s ", li.Qdisc)
	}
	if li.Master != "" {
		fmt.Fprintf(&b, "master %s ", li.Master)
	}
	fmt.Fprintf(&b, "state %s mode DEFAULT group default qlen %d\n", li.OperState, li.TxQLen)
	fmt.Fprintf(&b, "    link/ether %s brd ff:ff:ff:ff:ff:ff", li.Address)
	if o.details {
		fmt.Fprintf(&b, " promiscuity %d  allmulti %d minmtu 68 maxmtu 65535 \n", li.Promiscuity, li.AllMulti)
		cfg, err := li.Config()
		if err != nil {
			return fmt.Errorf("link %s: %v", li.Name, err)
		}
		fmt.Fprintf(&b, "    %s ", cfg.Details())
		if li.NumTxQueues > 0 {
			fmt.Fprintf(&b, "numtxqueues %d numrxqueues %d ", li.NumTxQueues, li.NumRxQueues)
		}
	}
	b.WriteByte('\n')
	if o.stats > 0 {
		writeStats(&b, li.Stats)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statsColumns are the initial column widths of ip -s link show
// (print_link_stats64): "RX: bytes" and the header words, including the
// compressed column, which is printed empty.
var statsColumns = [...]int{10, 7, 6, 7, 7, 7, 10}

// writeStats prints the RX and TX blocks of `ip -s link show` from the
// kernel-named counters, then every other counter of the link: vtep's own
// and one per drop reason.
func writeStats(b *strings.Builder, s *control.LinkStats) {
	rx := []uint64{s.Get("rx_bytes"), s.Get("rx_packets"), s.Get("rx_errors"), s.Get("rx_dropped"), 0, 0}
	tx := []uint64{s.Get("tx_bytes"), s.Get("tx_packets"), s.Get("tx_errors"), s.Get("tx_dropped"), s.Get("tx_carrier_errors"), 0}
	cols := statsColumns
	for _, vals := range [][]uint64{rx, tx} {
		for i, v := range vals {
			if n := len(strconv.FormatUint(v, 10)); n > cols[i] {
				cols[i] = n
			}
		}
	}
	header := func(dir string, names []string) {
		fmt.Fprintf(b, "    %s: %*s", dir, cols[0]-4, names[0])
		for i, n := range names[1:] {
			fmt.Fprintf(b, " %*s", cols[i+1], n)
		}
		fmt.Fprintf(b, " %*s\n", cols[6], "")
	}
	row := func(vals []uint64) {
		b.WriteString("    ")
		for i, v := range vals {
			fmt.Fprintf(b, "%*d ", cols[i], v)
		}
		b.WriteByte('\n')
	}
	header("RX", []string{"bytes", "packets", "errors", "dropped", "missed", "mcast"})
	row(rx)
	header("TX", []string{"bytes", "packets", "errors", "dropped", "carrier", "collsns"})
	row(tx)
	if s == nil {
		return
	}
	width := 0
	var extra []control.Counter
	for _, c := range s.Counters {
		if kernelCounters[c.Name] {
			continue
		}
		extra = append(extra, c)
		width = max(width, len(c.Name))
	}
	if len(extra) == 0 {
		return
	}
	b.WriteString("    vtep:\n")
	for _, c := range extra {
		fmt.Fprintf(b, "      %-*s %d\n", width, c.Name, c.Value)
	}
}

// kernelCounters are the counters shown in the RX/TX blocks.
var kernelCounters = map[string]bool{
	"rx_bytes": true, "rx_packets": true, "rx_errors": true, "rx_dropped": true,
	"tx_bytes": true, "tx_packets": true, "tx_errors": true, "tx_dropped": true, "tx_carrier_errors": true,
}

// linkJSON is one element of `ip -j [-d] [-s] link show`.
type linkJSON struct {
	Ifindex     int             `json:"ifindex"`
	Ifname      string          `json:"ifname"`
	Flags       []string        `json:"flags"`
	MTU         int             `json:"mtu"`
	Qdisc       string          `json:"qdisc,omitempty"`
	Master      string          `json:"master,omitempty"`
	OperState   string          `json:"operstate"`
	LinkMode    string          `json:"linkmode"`
	Group       string          `json:"group"`
	TxQLen      int             `json:"txqlen"`
	LinkType    string          `json:"link_type"`
	Address     string          `json:"address"`
	Broadcast   string          `json:"broadcast"`
	Promiscuity *int            `json:"promiscuity,omitempty"`
	AllMulti    *int            `json:"allmulti,omitempty"`
	MinMTU      int             `json:"min_mtu,omitempty"`
	MaxMTU      int             `json:"max_mtu,omitempty"`
	LinkInfo    *linkInfoJSON   `json:"linkinfo,omitempty"`
	NumTxQueues int             `json:"num_tx_queues,omitempty"`
	NumRxQueues int             `json:"num_rx_queues,omitempty"`
	Stats64     *stats64JSON    `json:"stats64,omitempty"`
	VtepStats   *orderedCounter `json:"vtep_stats,omitempty"`
}

type linkInfoJSON struct {
	InfoKind string          `json:"info_kind"`
	InfoData json.RawMessage `json:"info_data"`
}

type stats64JSON struct {
	RX struct {
		Bytes      uint64 `json:"bytes"`
		Packets    uint64 `json:"packets"`
		Errors     uint64 `json:"errors"`
		Dropped    uint64 `json:"dropped"`
		OverErrors uint64 `json:"over_errors"`
		Multicast  uint64 `json:"multicast"`
	} `json:"rx"`
	TX struct {
		Bytes         uint64 `json:"bytes"`
		Packets       uint64 `json:"packets"`
		Errors        uint64 `json:"errors"`
		Dropped       uint64 `json:"dropped"`
		CarrierErrors uint64 `json:"carrier_errors"`
		Collisions    uint64 `json:"collisions"`
	} `json:"tx"`
}

// orderedCounter marshals counters as a JSON object in their order.
type orderedCounter []control.Counter

func (oc orderedCounter) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, c := range oc {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.Name)
		b = append(b, ':')
		b = strconv.AppendUint(b, c.Value, 10)
	}
	return append(b, '}'), nil
}

func writeLinksJSON(w io.Writer, links []control.LinkInfo, o options) error {
	out := make([]linkJSON, 0, len(links))
	for i := range links {
		li := &links[i]
		j := linkJSON{
			Ifindex: li.Index, Ifname: li.Name, Flags: linkFlags(li.Flags), MTU: li.MTU, Qdisc: li.Qdisc,
			Master: li.Master, OperState: li.OperState, LinkMode: "DEFAULT", Group: "default", TxQLen: li.TxQLen,
			LinkType: "ether", Address: li.Address.String(), Broadcast: header.BroadcastMAC.String(),
		}
		if j.Flags == nil {
			j.Flags = []string{}
		}
		if o.details {
			cfg, err := li.Config()
			if err != nil {
				return fmt.Errorf("link %s: %v", li.Name, err)
			}
			j.Promiscuity, j.AllMulti = &li.Promiscuity, &li.AllMulti
			j.MinMTU, j.MaxMTU = 68, 65535
			j.LinkInfo = &linkInfoJSON{InfoKind: "vxlan", InfoData: cfg.InfoData()}
			j.NumTxQueues, j.NumRxQueues = li.NumTxQueues, li.NumRxQueues
		}
		if o.stats > 0 {
			s := li.Stats
			st := &stats64JSON{}
			st.RX.Bytes, st.RX.Packets, st.RX.Errors, st.RX.Dropped = s.Get("rx_bytes"), s.Get("rx_packets"), s.Get("rx_errors"), s.Get("rx_dropped")
			st.TX.Bytes, st.TX.Packets, st.TX.Errors, st.TX.Dropped = s.Get("tx_bytes"), s.Get("tx_packets"), s.Get("tx_errors"), s.Get("tx_dropped")
			st.TX.CarrierErrors = s.Get("tx_carrier_errors")
			j.Stats64 = st
			if s != nil {
				var extra orderedCounter
				for _, c := range s.Counters {
					if !kernelCounters[c.Name] {
						extra = append(extra, c)
					}
				}
				j.VtepStats = &extra
			}
		}
		out = append(out, j)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
