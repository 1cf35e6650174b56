package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// fakeAPI answers with canned data and records requests.
type fakeAPI struct {
	links  []control.LinkInfo
	fdb    []control.FDBEntry
	neigh  []control.Neighbor
	events []control.Event
	err    error // returned by every mutating call

	added   []control.LinkAddRequest
	set     []string
	setReqs []control.LinkSetRequest
	deleted []string
	updates []control.FDBRequest
	flushes []control.FlushRequest
	mdb     []control.MDBEntry
	mdbReqs []control.MDBRequest
	mdbFl   []control.MDBFlushRequest
	mdbGet  []control.MDBGet
	vnis    []control.VNIFilter
	vniReqs []control.VNIRequest
	// vniStats is the stats argument of the last VNIFilters call.
	vniStats bool
	filter   control.EventFilter
	gotDev   string
}

func (f *fakeAPI) Version(ctx context.Context) (control.VersionInfo, error) {
	return control.VersionInfo{Version: "9.9", API: 1, Go: "go1.26"}, nil
}

func (f *fakeAPI) Links(ctx context.Context, stats bool) ([]control.LinkInfo, error) {
	return f.links, nil
}

func (f *fakeAPI) Link(ctx context.Context, name string, stats bool) (control.LinkInfo, error) {
	for _, l := range f.links {
		if l.Name == name {
			return l, nil
		}
	}
	return control.LinkInfo{}, control.ErrNoDevice(name)
}

func (f *fakeAPI) AddLink(ctx context.Context, req control.LinkAddRequest) (control.LinkInfo, error) {
	f.added = append(f.added, req)
	return control.LinkInfo{}, f.err
}

func (f *fakeAPI) SetLink(ctx context.Context, name string, req control.LinkSetRequest) (control.LinkInfo, error) {
	f.set = append(f.set, name)
	f.setReqs = append(f.setReqs, req)
	return control.LinkInfo{}, f.err
}

func (f *fakeAPI) DelLink(ctx context.Context, name string) error {
	f.deleted = append(f.deleted, name)
	return f.err
}

func (f *fakeAPI) FDB(ctx context.Context, dev string) ([]control.FDBEntry, error) {
	f.gotDev = dev
	var out []control.FDBEntry
	for _, e := range f.fdb {
		if dev == "" || e.Dev == dev {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeAPI) UpdateFDB(ctx context.Context, req control.FDBRequest) error {
	f.updates = append(f.updates, req)
	return f.err
}

func (f *fakeAPI) FlushFDB(ctx context.Context, req control.FlushRequest) (int, error) {
	f.flushes = append(f.flushes, req)
	return 1, f.err
}

func (f *fakeAPI) MDB(ctx context.Context, dev string) ([]control.MDBEntry, error) {
	f.gotDev = dev
	return f.mdb, nil
}

func (f *fakeAPI) GetMDB(ctx context.Context, dev string, g control.MDBGet) ([]control.MDBEntry, error) {
	f.gotDev = dev
	f.mdbGet = append(f.mdbGet, g)
	return f.mdb, f.err
}

func (f *fakeAPI) UpdateMDB(ctx context.Context, req control.MDBRequest) error {
	f.mdbReqs = append(f.mdbReqs, req)
	return f.err
}

func (f *fakeAPI) FlushMDB(ctx context.Context, req control.MDBFlushRequest) (int, error) {
	f.mdbFl = append(f.mdbFl, req)
	return 0, f.err
}

func (f *fakeAPI) VNIFilters(ctx context.Context, dev string, stats bool) ([]control.VNIFilter, error) {
	f.gotDev, f.vniStats = dev, stats
	var out []control.VNIFilter
	for _, v := range f.vnis {
		if dev == "" || v.Ifname == dev {
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *fakeAPI) UpdateVNI(ctx context.Context, req control.VNIRequest) error {
	f.vniReqs = append(f.vniReqs, req)
	return f.err
}

func (f *fakeAPI) Neighbors(ctx context.Context, dev string) ([]control.Neighbor, error) {
	var out []control.Neighbor
	for _, n := range f.neigh {
		if dev == "" || n.Dev == dev {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeAPI) Monitor(ctx context.Context, filter control.EventFilter, fn func(control.Event) error) error {
	f.filter = filter
	for _, ev := range f.events {
		if filter.Match(&ev) {
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// runCLI runs a command line against f and returns status, stdout and
// stderr.
func runCLI(t *testing.T, f *fakeAPI, line string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var socket string
	code := run(context.Background(), strings.Fields(line), &out, &errb, func(s string) api {
		socket = s
		return f
	})
	_ = socket
	return code, out.String(), errb.String()
}

var (
	testMAC = header.MustParseMAC("6e:21:3b:92:7b:d5")
	vx0     = control.LinkInfo{
		Index: 7, Name: "vx0",
		Flags: control.IFFBroadcast | control.IFFMulticast | control.IFFUp | control.IFFLowerUp | control.IFFRunning,
		MTU:   1450, Qdisc: "noqueue", OperState: "UNKNOWN", TxQLen: 1000, Address: testMAC, Up: true,
		Args: strings.Fields("id 42 remote 10.0.0.2 dstport 4789"),
		Stats: &control.LinkStats{Counters: []control.Counter{
			{Name: "rx_packets", Value: 12}, {Name: "rx_bytes", Value: 1234567}, {Name: "rx_errors", Value: 0}, {Name: "rx_dropped", Value: 1},
			{Name: "tx_packets", Value: 10}, {Name: "tx_bytes", Value: 980}, {Name: "tx_errors", Value: 2}, {Name: "tx_dropped", Value: 3}, {Name: "tx_carrier_errors", Value: 2},
			{Name: "fdb_learned", Value: 1}, {Name: "drop_vni_not_found", Value: 4}, {Name: "drop_dev_ready", Value: 0},
		}},
	}
	vx1 = control.LinkInfo{
		Index: 8, Name: "vx1", Flags: control.IFFBroadcast | control.IFFMulticast, MTU: 1430,
		Qdisc: "pfifo_fast", Master: "br0", OperState: "DOWN", TxQLen: 1000,
		Address: header.MustParseMAC("02:00:00:00:00:08"),
		Args:    strings.Fields("id 7 local fd00::1 dstport 8472 nolearning"),
	}
)

// TestLinkShowGolden compares `vtep link show` with what ip prints for a
// kernel vxlan device with the same configuration (iproute2 6.1; the
// trailing addrgenmode/gso fields of ip -d are not printed by vtep).
func TestLinkShowGolden(t *testing.T) {
	f := &fakeAPI{links: []control.LinkInfo{vx0, vx1}}
	tests := []struct{ line, want string }{
		{"link show vx0", `7: vx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/ether 6e:21:3b:92:7b:d5 brd ff:ff:ff:ff:ff:ff
`},
		{"link", `7: vx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/ether 6e:21:3b:92:7b:d5 brd ff:ff:ff:ff:ff:ff
8: vx1: <BROADCAST,MULTICAST> mtu 1430 qdisc pfifo_fast master br0 state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:08 brd ff:ff:ff:ff:ff:ff
`},
		{"-d link show dev vx0", `7: vx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/ether 6e:21:3b:92:7b:d5 brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 
    vxlan id 42 remote 10.0.0.2 srcport 0 0 dstport 4789 ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx 
`},
		{"-s link show vx0", `7: vx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/ether 6e:21:3b:92:7b:d5 brd ff:ff:ff:ff:ff:ff
    RX:  bytes packets errors dropped  missed   mcast           
       1234567      12      0       1       0       0 
    TX:  bytes packets errors dropped carrier collsns           
           980      10      2       3       2       0 
    vtep:
      fdb_learned        1
      drop_vni_not_found 4
      drop_dev_ready     0
`},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, f, tt.line)
		if code != 0 || errs != "" {
			t.Errorf("%s: status %d, stderr %q", tt.line, code, errs)
		}
		if out != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.line, out, tt.want)
		}
	}
}

// TestStatsColumnsWiden checks that columns widen for long numbers, as
// iproute2's size_columns does.
func TestStatsColumnsWiden(t *testing.T) {
	var b strings.Builder
	writeStats(&b, &control.LinkStats{Counters: []control.Counter{{Name: "rx_bytes", Value: 123456789012}, {Name: "tx_packets", Value: 12345678}}})
	want := `    RX:    bytes  packets errors dropped  missed   mcast           
    123456789012        0      0       0       0       0 
    TX:    bytes  packets errors dropped carrier collsns           
               0 12345678      0       0       0       0 
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestLinkShowJSON(t *testing.T) {
	f := &fakeAPI{links: []control.LinkInfo{vx0}}
	_, out, _ := runCLI(t, f, "-j link show")
	want := `[{"ifindex":7,"ifname":"vx0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"6e:21:3b:92:7b:d5","broadcast":"ff:ff:ff:ff:ff:ff"}]
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	_, out, _ = runCLI(t, f, "-j -d -s link show vx0")
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	li := got[0]["linkinfo"].(map[string]any)
	data := li["info_data"].(map[string]any)
	if li["info_kind"] != "vxlan" || data["id"] != 42.0 || data["remote"] != "10.0.0.2" || data["port"] != 4789.0 {
		t.Errorf("linkinfo = %v", li)
	}
	st := got[0]["stats64"].(map[string]any)
	if st["rx"].(map[string]any)["bytes"] != 1234567.0 || st["tx"].(map[string]any)["carrier_errors"] != 2.0 {
		t.Errorf("stats64 = %v", st)
	}
	if got[0]["vtep_stats"].(map[string]any)["drop_vni_not_found"] != 4.0 {
		t.Errorf("vtep_stats = %v", got[0]["vtep_stats"])
	}
	if !strings.Contains(out, `"promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo"`) {
		t.Errorf("-d keys missing or out of order: %s", out)
	}
}

func TestLinkFlags(t *testing.T) {
	tests := []struct {
		flags uint32
		want  string
	}{
		{control.IFFBroadcast | control.IFFMulticast, "BROADCAST,MULTICAST"},
		{control.IFFBroadcast | control.IFFMulticast | control.IFFUp, "NO-CARRIER,BROADCAST,MULTICAST,UP"},
		{control.IFFLoopback | control.IFFUp | control.IFFRunning | control.IFFLowerUp, "LOOPBACK,UP,LOWER_UP"},
		{control.IFFBroadcast | 0x100000, "BROADCAST,100000"},
	}
	for _, tt := range tests {
		if got := strings.Join(linkFlags(tt.flags), ","); got != tt.want {
			t.Errorf("linkFlags(%#x) = %s, want %s", tt.flags, got, tt.want)
		}
	}
}

func u32(v uint32) *uint32 { return &v }

func TestFDBShowGolden(t *testing.T) {
	f := &fakeAPI{fdb: []control.FDBEntry{
		{Dev: "vx0", MAC: header.MustParseMAC("02:00:00:00:00:01"), State: fdb.StateReachable, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.3"), Used: 3 * time.Second, Updated: 7 * time.Second},
		{Dev: "vx0", MAC: header.ZeroMAC, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.2")},
		{Dev: "vx1", MAC: header.MustParseMAC("02:00:00:00:00:02"), State: fdb.StateNoARP | fdb.StateReachable, Flags: fdb.FlagSelf | fdb.FlagRouter,
			Dst: netip.MustParseAddr("fd00::2"), Port: 4789, VNI: u32(9), Ifindex: 2, Via: "eth0"},
	}}
	// A nexthop entry prints as Linux 6.18's bridge 6.1 prints it:
	// "00:11:22:33:44:55 nhid 10 self permanent".
	nh := &fakeAPI{fdb: []control.FDBEntry{
		{Dev: "vx0", MAC: header.MustParseMAC("00:11:22:33:44:55"), State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, NHID: 10},
		{Dev: "vx0", MAC: header.MustParseMAC("00:11:22:33:44:56"), State: fdb.StateReachable, Flags: fdb.FlagSelf, NHID: 10},
	}}
	for line, want := range map[string]string{
		"fdb show dev vx0":    "00:11:22:33:44:55 nhid 10 self permanent\n00:11:22:33:44:56 nhid 10 self \n",
		"-j fdb show dev vx0": `[{"mac":"00:11:22:33:44:55","nhid":10,"flags":["self"],"state":"permanent"},{"mac":"00:11:22:33:44:56","nhid":10,"flags":["self"],"state":""}]` + "\n",
	} {
		if _, out, _ := runCLI(t, nh, line); out != want {
			t.Errorf("%s:\n%q\nwant:\n%q", line, out, want)
		}
	}
	tests := []struct{ line, want string }{
		{"fdb show", `02:00:00:00:00:01 dev vx0 dst 10.0.0.3 self 
00:00:00:00:00:00 dev vx0 dst 10.0.0.2 self permanent
02:00:00:00:00:02 dev vx1 dst fd00::2 port 4789 vni 9 via eth0 self router static
`},
		{"fdb show dev vx0", `02:00:00:00:00:01 dst 10.0.0.3 self 
00:00:00:00:00:00 dst 10.0.0.2 self permanent
`},
		{"-s fdb show dev vx0", `02:00:00:00:00:01 dst 10.0.0.3 used 3/7 self 
00:00:00:00:00:00 dst 10.0.0.2 used 0/0 self permanent
`},
		{"-j fdb show dev vx0", `[{"mac":"02:00:00:00:00:01","dst":"10.0.0.3","flags":["self"],"state":""},{"mac":"00:00:00:00:00:00","dst":"10.0.0.2","flags":["self"],"state":"permanent"}]
`},
		{"fdb", `02:00:00:00:00:01 dev vx0 dst 10.0.0.3 self 
00:00:00:00:00:00 dev vx0 dst 10.0.0.2 self permanent
02:00:00:00:00:02 dev vx1 dst fd00::2 port 4789 vni 9 via eth0 self router static
`},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, f, tt.line)
		if code != 0 || errs != "" {
			t.Errorf("%s: status %d, stderr %q", tt.line, code, errs)
		}
		if out != tt.want {
			t.Errorf("%s:\n%q\nwant:\n%q", tt.line, out, tt.want)
		}
	}
}

func TestNeighShowGolden(t *testing.T) {
	f := &fakeAPI{neigh: []control.Neighbor{
		{Dev: "vx0", IP: netip.MustParseAddr("192.168.42.2"), LLAddr: header.MustParseMAC("02:00:00:00:00:02"), State: control.NUDPermanent},
		{Dev: "vx0", IP: netip.MustParseAddr("fd42::3"), LLAddr: header.MustParseMAC("02:00:00:00:00:03"), State: control.NUDReachable, Router: true},
	}}
	tests := []struct{ line, want string }{
		// ip neigh show, with a permanent entry added by `ip neigh add ...
		// nud permanent` on a kernel vxlan device.
		{"neigh show", "192.168.42.2 dev vx0 lladdr 02:00:00:00:00:02 PERMANENT \nfd42::3 dev vx0 lladdr 02:00:00:00:00:03 router REACHABLE \n"},
		{"neigh show dev vx0", "192.168.42.2 lladdr 02:00:00:00:00:02 PERMANENT \nfd42::3 lladdr 02:00:00:00:00:03 router REACHABLE \n"},
		{"-j neigh", `[{"dst":"192.168.42.2","dev":"vx0","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]},{"dst":"fd42::3","dev":"vx0","lladdr":"02:00:00:00:00:03","router":null,"state":["REACHABLE"]}]` + "\n"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, f, tt.line)
		if code != 0 || errs != "" {
			t.Errorf("%s: status %d, stderr %q", tt.line, code, errs)
		}
		if out != tt.want {
			t.Errorf("%s:\n%q\nwant:\n%q", tt.line, out, tt.want)
		}
	}
}

func TestMonitorOutput(t *testing.T) {
	mac := header.MustParseMAC("02:00:00:00:00:09")
	f := &fakeAPI{events: []control.Event{
		{Kind: control.EventLearned, Dev: "vx0", FDB: &control.FDBEntry{Dev: "vx0", MAC: mac, State: fdb.StateReachable, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.7")}},
		{Kind: control.EventMigrated, Dev: "vx0", FDB: &control.FDBEntry{Dev: "vx0", MAC: mac, State: fdb.StateReachable, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.8")}, PrevDst: netip.MustParseAddr("10.0.0.7")},
		{Kind: control.EventAged, Dev: "vx0", FDB: &control.FDBEntry{Dev: "vx0", MAC: mac, State: fdb.StateStale, Flags: fdb.FlagSelf, Dst: netip.MustParseAddr("10.0.0.8"), Deleted: true}},
		{Kind: control.EventL2Miss, Dev: "vx0", MAC: mac},
		{Kind: control.EventL3Miss, Dev: "vx0", IP: netip.MustParseAddr("192.168.42.9")},
		{Kind: control.EventAdded, Dev: "vx0", MDB: &control.MDBEntry{Index: 7, Dev: "vx0", Group: netip.MustParseAddr("239.1.1.1"), Source: netip.MustParseAddr("192.0.2.1"), Blocked: true, FilterMode: "include", Proto: 4, Dst: netip.MustParseAddr("10.0.0.7"), DstPort: 5000}},
		{Kind: control.EventDeleted, Dev: "vx0", MDB: &control.MDBEntry{Index: 7, Dev: "vx0", Group: netip.MustParseAddr("239.1.1.1"), FilterMode: "exclude", Proto: 4, Dst: netip.MustParseAddr("10.0.0.7")}},
	}}
	_, out, _ := runCLI(t, f, "monitor")
	want := `learned 02:00:00:00:00:09 dev vx0 dst 10.0.0.7 self 
migrated 02:00:00:00:00:09 dev vx0 dst 10.0.0.8 self from 10.0.0.7
aged 02:00:00:00:00:09 dev vx0 dst 10.0.0.8 self stale
l2miss 02:00:00:00:00:09 dev vx0
l3miss 192.168.42.9 dev vx0
added dev vx0 port vx0 grp 239.1.1.1 src 192.0.2.1 permanent blocked dst 10.0.0.7 dst_port 5000
deleted dev vx0 port vx0 grp 239.1.1.1 permanent dst 10.0.0.7
`
	if out != want {
		t.Errorf("monitor:\n%s\nwant:\n%s", out, want)
	}
	_, out, _ = runCLI(t, f, "monitor miss dev vx0")
	if f.filter != (control.EventFilter{Miss: true, Dev: "vx0"}) || strings.Count(out, "\n") != 2 {
		t.Errorf("monitor miss: filter %+v, output %q", f.filter, out)
	}
	_, out, _ = runCLI(t, f, "monitor mdb")
	if f.filter != (control.EventFilter{MDB: true}) || strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, "added dev vx0 port vx0 grp") {
		t.Errorf("monitor mdb: filter %+v, output %q", f.filter, out)
	}
	_, out, _ = runCLI(t, f, "-j monitor fdb")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ev control.Event
	if len(lines) != 3 || json.Unmarshal([]byte(lines[1]), &ev) != nil || ev.Kind != control.EventMigrated || ev.PrevDst != netip.MustParseAddr("10.0.0.7") {
		t.Errorf("-j monitor fdb: %q", out)
	}
}

// TestLinkGrammar checks how ip's words become requests.
func TestLinkGrammar(t *testing.T) {
	up, down := true, false
	mac := header.MustParseMAC("02:00:00:00:00:05")
	tests := []struct {
		line string
		add  *control.LinkAddRequest
		set  *control.LinkSetRequest
		name string
		err  string
	}{
		{line: "link add vx0 type vxlan id 42 dstport 4789",
			add: &control.LinkAddRequest{Name: "vx0", Args: strings.Fields("id 42 dstport 4789")}},
		{line: "link add name vx0 up mtu 1400 address 02:00:00:00:00:05 type vxlan id 1",
			add: &control.LinkAddRequest{Name: "vx0", Up: true, Args: strings.Fields("mtu 1400 address 02:00:00:00:00:05 id 1")}},
		{line: "l a dev vx0 type vxlan", add: &control.LinkAddRequest{Name: "vx0", Args: []string{}}},
		{line: "link add vx0 id 42", err: `Error: either "dev" is duplicate, or "id" is garbage.`},
		{line: "link add vx0", err: `Not enough information: "type" argument is required.`},
		{line: "link add type vxlan id 1", err: `Not enough information: "dev" argument is required.`},
		{line: "link add vx0 type bridge", err: `Error: vtep creates only "type vxlan" links, not "bridge".`},
		{line: "link add vx0 mtu", err: `Command line is not complete. Try option "help"`},
		{line: "link set vx0 up", name: "vx0", set: &control.LinkSetRequest{Up: &up}},
		{line: "link set dev vx0 down mtu 1400 address 02:00:00:00:00:05", name: "vx0", set: &control.LinkSetRequest{Up: &down, MTU: 1400, Address: &mac}},
		{line: "link set vx0 type vxlan ttl 10 nolearning", name: "vx0", set: &control.LinkSetRequest{Args: strings.Fields("ttl 10 nolearning")}},
		{line: "link set up", name: "", err: `Not enough of information: "dev" argument is required.`},
		{line: "link set vx0 mtu big", err: `Error: argument "big" is wrong: Invalid "mtu" value`},
		{line: "link set vx0 master br0", err: `Error: either "dev" is duplicate, or "master" is garbage.`},
		{line: "link del vx0", name: "vx0"},
		{line: "link delete dev vx0", name: "vx0"},
		{line: "link del", err: `Not enough information: "dev" argument is required.`},
		{line: "link frob", err: `Command "frob" is unknown, try "vtep link help".`},
	}
	for _, tt := range tests {
		f := &fakeAPI{}
		code, _, errs := runCLI(t, f, tt.line)
		if tt.err != "" {
			if code != 1 || strings.TrimSpace(errs) != tt.err {
				t.Errorf("%s: status %d, stderr %q, want 1 %q", tt.line, code, errs, tt.err)
			}
			if len(f.added)+len(f.set)+len(f.deleted) != 0 {
				t.Errorf("%s: a malformed command reached the daemon", tt.line)
			}
			continue
		}
		if code != 0 {
			t.Errorf("%s: status %d: %s", tt.line, code, errs)
			continue
		}
		switch {
		case tt.add != nil:
			if len(f.added) != 1 || !reflect.DeepEqual(f.added[0], *tt.add) {
				t.Errorf("%s: sent %+v, want %+v", tt.line, f.added, *tt.add)
			}
		case tt.set != nil:
			if len(f.set) != 1 || f.set[0] != tt.name || !reflect.DeepEqual(f.setReqs[0], *tt.set) {
				t.Errorf("%s: sent %v %+v, want %s %+v", tt.line, f.set, f.setReqs, tt.name, *tt.set)
			}
		default:
			if len(f.deleted) != 1 || f.deleted[0] != tt.name {
				t.Errorf("%s: deleted %v", tt.line, f.deleted)
			}
		}
	}
}

// TestFDBGrammar checks bridge fdb's words (bridge/fdb.c fdb_modify and
// fdb_flush).
func TestFDBGrammar(t *testing.T) {
	mac := header.MustParseMAC("02:00:00:00:00:01")
	tests := []struct {
		line  string
		want  *control.FDBRequest
		flush *control.FlushRequest
		err   string
	}{
		{line: "fdb add 02:00:00:00:00:01 dev vx0 dst 10.0.0.2",
			want: &control.FDBRequest{Op: control.FDBAdd, Dev: "vx0", MAC: mac, Dst: netip.MustParseAddr("10.0.0.2")}},
		{line: "fdb append 0:0:0:0:0:0 dev vx0 dst fd00::2 port 8472 vni 0x10 src_vni 5 via eth0 self static router extern_learn",
			want: &control.FDBRequest{Op: control.FDBAppend, Dev: "vx0", Dst: netip.MustParseAddr("fd00::2"), Port: 8472,
				VNI: u32(16), SrcVNI: u32(5), Via: "eth0", Self: true, State: "static", Router: true, ExternLearn: true}},
		{line: "fdb replace to 02:00:00:00:00:01 dev vx0 dst 10.0.0.2 dynamic sticky use",
			want: &control.FDBRequest{Op: control.FDBReplace, Dev: "vx0", MAC: mac, Dst: netip.MustParseAddr("10.0.0.2"), State: "dynamic", Sticky: true, Use: true}},
		{line: "fdb del 02:00:00:00:00:01 dev vx0", want: &control.FDBRequest{Op: control.FDBDel, Dev: "vx0", MAC: mac}},
		{line: "fdb delete 02:00:00:00:00:01 dev vx0 master", want: &control.FDBRequest{Op: control.FDBDel, Dev: "vx0", MAC: mac, Master: true}},
		{line: "fdb add 02:00:00:00:00:01 dst 10.0.0.2", err: "Device and address are required arguments."},
		{line: "fdb add dev vx0", err: "Device and address are required arguments."},
		{line: "fdb add 02:00:00:00:01 dev vx0", err: "Invalid mac address 02:00:00:00:01"},
		{line: "fdb add 02:00:00:00:00:01 dev vx0 dst 10.0.0", err: `Error: any valid address is expected rather than "10.0.0".`},
		{line: "fdb add 02:00:00:00:00:01 dev vx0 vni 16777216", err: `Error: argument "16777216" is wrong: invalid VNI`},
		{line: "fdb add 02:00:00:00:00:01 dev vx0 port x", err: `Error: argument "x" is wrong: invalid port`},
		{line: "fdb add 02:00:00:00:00:01 02:00:00:00:00:02 dev vx0", err: `Error: either "to" is duplicate, or "02:00:00:00:00:02" is garbage.`},
		{line: "fdb add 02:00:00:00:00:01 dev vx0 dst 10.0.0.2 nhid 3", err: "dst, port, vni are mutually exclusive with nhid"},
		{line: "fdb add 02:00:00:00:00:01 dev vx0 vlan 3", err: `vtep: "vlan" is not supported on vxlan links`},
		{line: "fdb add 02:00:00:00:00:01 dev", err: `Command line is not complete. Try option "help"`},
		{line: "fdb flush dev vx0 dynamic", flush: &control.FlushRequest{Dev: "vx0", StateMask: fdb.StateNoARP | fdb.StatePermanent}},
		{line: "fdb flush dev vx0 static noextern_learn router", flush: &control.FlushRequest{Dev: "vx0",
			State: fdb.StateNoARP, StateMask: fdb.StateNoARP | fdb.StatePermanent, Flags: fdb.FlagRouter, FlagsMask: fdb.FlagExtLearned | fdb.FlagRouter}},
		{line: "fdb flush dev vx0 permanent nodynamic", flush: &control.FlushRequest{Dev: "vx0",
			State: fdb.StatePermanent | fdb.StateNoARP, StateMask: fdb.StatePermanent | fdb.StateNoARP}},
		{line: "fdb flush dev vx0 nopermanent nostatic src_vni 3 vni 4 port 8472 dst 10.0.0.9 self", flush: &control.FlushRequest{Dev: "vx0",
			StateMask: fdb.StatePermanent | fdb.StateNoARP, SrcVNI: 3, VNI: 4, Port: 8472, Dst: netip.MustParseAddr("10.0.0.9")}},
		{line: "fdb flush dynamic", err: "Device is a required argument."},
		{line: "fdb flush dev vx0 vlan 1", err: `vtep: "vlan" is not supported on vxlan links`},
		{line: "fdb flush dev vx0 bogus", err: `bridge fdb: unknown command "bogus"?`},
		{line: "fdb move", err: `Command "move" is unknown, try "vtep fdb help".`},
	}
	for _, tt := range tests {
		f := &fakeAPI{}
		code, _, errs := runCLI(t, f, tt.line)
		if tt.err != "" {
			if code != 1 || strings.TrimSpace(errs) != tt.err {
				t.Errorf("%s: status %d, stderr %q, want 1 %q", tt.line, code, errs, tt.err)
			}
			if len(f.updates)+len(f.flushes) != 0 {
				t.Errorf("%s: a malformed command reached the daemon", tt.line)
			}
			continue
		}
		if code != 0 {
			t.Errorf("%s: status %d: %s", tt.line, code, errs)
			continue
		}
		if tt.want != nil && (len(f.updates) != 1 || !reflect.DeepEqual(f.updates[0], *tt.want)) {
			t.Errorf("%s: sent %+v\nwant %+v", tt.line, f.updates, *tt.want)
		}
		if tt.flush != nil && (len(f.flushes) != 1 || !reflect.DeepEqual(f.flushes[0], *tt.flush)) {
			t.Errorf("%s: sent %+v\nwant %+v", tt.line, f.flushes, *tt.flush)
		}
	}
}

// TestErrorsAndExitStatus checks that refusals are printed as the daemon
// words them, with ip's exit statuses.
func TestErrorsAndExitStatus(t *testing.T) {
	tests := []struct {
		err  error
		line string
		code int
		msg  string
	}{
		{control.Rtnetlink(syscall.EEXIST), "link add vx0 type vxlan id 1", 2, "RTNETLINK answers: File exists"},
		{control.ExtAck(syscall.EOPNOTSUPP, "Cannot change VNI"), "link set vx0 type vxlan id 2", 2, "Error: Cannot change VNI."},
		{control.ErrNoDevice("vx9"), "link del vx9", 1, `Cannot find device "vx9"`},
		{control.Usagef(`Error: argument "16777216" is wrong: invalid id`), "link add vx0 type vxlan id 16777216", 1, `Error: argument "16777216" is wrong: invalid id`},
		{&control.ConnError{Socket: "/x.sock", Err: syscall.ECONNREFUSED}, "fdb del 02:00:00:00:00:01 dev vx0", 1, "vtep: cannot talk to vtepd at /x.sock: connection refused"},
	}
	for _, tt := range tests {
		f := &fakeAPI{err: tt.err}
		code, out, errs := runCLI(t, f, tt.line)
		if code != tt.code || strings.TrimSpace(errs) != tt.msg || out != "" {
			t.Errorf("%s: status %d stdout %q stderr %q, want %d %q", tt.line, code, out, errs, tt.code, tt.msg)
		}
	}
	code, _, errs := runCLI(t, &fakeAPI{}, "link show vx9")
	if code != 1 || errs != "Cannot find device \"vx9\"\n" {
		t.Errorf("show unknown: %d %q", code, errs)
	}
}

func TestGlobalOptions(t *testing.T) {
	var out, errb bytes.Buffer
	var socket string
	code := run(context.Background(), []string{"--socket", "/tmp/x.sock", "-json", "-details", "-stats", "-s", "version"}, &out, &errb,
		func(s string) api { socket = s; return &fakeAPI{} })
	if code != 0 || socket != "/tmp/x.sock" || !strings.HasPrefix(out.String(), "vtep devel, vtepd 9.9 (api 1") {
		t.Errorf("status %d socket %q out %q err %q", code, socket, out.String(), errb.String())
	}
	code, _, errs := runCLI(t, &fakeAPI{}, "-x link")
	if code != 1 || !strings.Contains(errs, `Option "-x" is unknown`) {
		t.Errorf("-x: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, &fakeAPI{}, "bogus")
	if code != 1 || !strings.Contains(errs, `Object "bogus" is unknown`) {
		t.Errorf("bogus: %d %q", code, errs)
	}
	code, stdout, _ := runCLI(t, &fakeAPI{}, "-h")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: vtep") {
		t.Errorf("-h: %d %q", code, stdout)
	}
}
