package fdb

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// buildShowFixture makes the FDB that the kernel printed below (captured
// from Linux 6.18 with iproute2 6.1, `bridge fdb show dev vx0` on a device
// created with `id 42 dstport 4789 remote 10.0.0.3`):
//
//	bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.1 port 8472
//	bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.2 vni 7
//	bridge fdb add 02:00:00:00:00:0a dev vx0 dst 10.0.0.1 router
//	bridge fdb add 02:00:00:00:00:0b dev vx0 dst 10.0.0.2 static extern_learn
//	bridge fdb add 02:00:00:00:00:0c dev vx0 dst 10.0.0.2 dynamic via v0 sticky
//	bridge fdb add 02:00:00:00:00:0d dev vx0 dst 0.0.0.0 dynamic
func buildShowFixture(t *testing.T) (*Table, *fakeClock) {
	tb, c := newTable(t, func(c *Config) { c.Remote = ip3 })
	c.advance(4 * time.Second)
	perm := StateNoARP | StatePermanent
	for _, r := range []Request{
		{MAC: zero, State: perm, Flags: FlagSelf, Dst: ip1, Port: 8472},
		{MAC: zero, State: perm, Flags: FlagSelf, Dst: ip2, VNI: 7, HasVNI: true},
	} {
		wantErr(t, tb.Append(r), nil)
	}
	for _, r := range []Request{
		{MAC: macA, State: perm, Flags: FlagSelf | FlagRouter, Dst: ip1},
		{MAC: macB, State: StateNoARP | StateReachable, Flags: FlagSelf | FlagExtLearned, Dst: ip2},
		{MAC: macC, State: StateReachable, Flags: FlagSelf | FlagSticky, Dst: ip2, Ifindex: 3},
		{MAC: header.MustParseMAC("02:00:00:00:00:0d"), State: StateReachable, Flags: FlagSelf, Dst: any4},
	} {
		wantErr(t, tb.Add(r), nil)
	}
	return tb, c
}

func fixtureFormat(dev string, stats bool) *Format {
	return &Format{Dev: dev, Stats: stats, IfName: func(i int) string {
		if i == 3 {
			return "v0"
		}
		return ""
	}}
}

func TestDumpTextMatchesBridgeFdbShow(t *testing.T) {
	// vxlan_fdb_dump/vxlan_fdb_info → bridge/fdb.c print_fdb.
	tb, _ := buildShowFixture(t)
	for _, tc := range []struct {
		f    *Format
		want string
	}{
		{fixtureFormat("", false), `02:00:00:00:00:0d dst 0.0.0.0 self 
02:00:00:00:00:0c dst 10.0.0.2 via v0 self sticky 
02:00:00:00:00:0b dst 10.0.0.2 self extern_learn static
02:00:00:00:00:0a dst 10.0.0.1 self router permanent
00:00:00:00:00:00 dst 10.0.0.3 self permanent
00:00:00:00:00:00 dst 10.0.0.1 port 8472 self permanent
00:00:00:00:00:00 dst 10.0.0.2 vni 7 self permanent
`},
		{fixtureFormat("vx0", false), `02:00:00:00:00:0d dev vx0 dst 0.0.0.0 self 
02:00:00:00:00:0c dev vx0 dst 10.0.0.2 via v0 self sticky 
02:00:00:00:00:0b dev vx0 dst 10.0.0.2 self extern_learn static
02:00:00:00:00:0a dev vx0 dst 10.0.0.1 self router permanent
00:00:00:00:00:00 dev vx0 dst 10.0.0.3 self permanent
00:00:00:00:00:00 dev vx0 dst 10.0.0.1 port 8472 self permanent
00:00:00:00:00:00 dev vx0 dst 10.0.0.2 vni 7 self permanent
`},
		{fixtureFormat("", true), `02:00:00:00:00:0d dst 0.0.0.0 used 0/0 self 
02:00:00:00:00:0c dst 10.0.0.2 via v0 used 0/0 self sticky 
02:00:00:00:00:0b dst 10.0.0.2 used 0/0 self extern_learn static
02:00:00:00:00:0a dst 10.0.0.1 used 0/0 self router permanent
00:00:00:00:00:00 dst 10.0.0.3 used 4/0 self permanent
00:00:00:00:00:00 dst 10.0.0.1 port 8472 used 4/0 self permanent
00:00:00:00:00:00 dst 10.0.0.2 vni 7 used 4/0 self permanent
`},
	} {
		if got := showTable(tb, tc.f, false); got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", got, tc.want)
		}
	}
}

func TestDumpJSONMatchesBridgeJFdbShow(t *testing.T) {
	tb, _ := buildShowFixture(t)
	want := `[{"mac":"02:00:00:00:00:0d","ifname":"vx0","dst":"0.0.0.0","flags":["self"],"state":""},` +
		`{"mac":"02:00:00:00:00:0c","ifname":"vx0","dst":"10.0.0.2","viaIf":"v0","flags":["self","sticky"],"state":""},` +
		`{"mac":"02:00:00:00:00:0b","ifname":"vx0","dst":"10.0.0.2","flags":["self","extern_learn"],"state":"static"},` +
		`{"mac":"02:00:00:00:00:0a","ifname":"vx0","dst":"10.0.0.1","flags":["self","router"],"state":"permanent"},` +
		`{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.0.0.3","flags":["self"],"state":"permanent"},` +
		`{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.0.0.1","port":8472,"flags":["self"],"state":"permanent"},` +
		`{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.0.0.2","vni":7,"flags":["self"],"state":"permanent"}]`
	if got := showTable(tb, fixtureFormat("vx0", false), true); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	wantStats := `{"mac":"00:00:00:00:00:00","dst":"10.0.0.3","used":4,"updated":0,"flags":["self"],"state":"permanent"}`
	if got := showTable(tb, fixtureFormat("", true), true); !strings.Contains(got, wantStats) {
		t.Errorf("got\n%s\nwant it to contain\n%s", got, wantStats)
	}
}

func TestDumpSrcVNIOnlyInExternalModeAndNonZero(t *testing.T) {
	// vxlan_fdb_info: NDA_SRC_VNI if VXLAN_F_COLLECT_METADATA && key.vni.
	tb, _ := newTable(t, func(c *Config) { c.External = true; c.VNI = 0 })
	r := static(macA, ip1)
	r.SrcVNI, r.HasSrcVNI = 100, true
	wantErr(t, tb.Add(r), nil)
	wantErr(t, tb.Add(static(macB, ip1)), nil) // key VNI = device VNI 0
	var lines []string
	for n := range tb.Neighs() {
		lines = append(lines, n.String())
	}
	want := []string{
		"02:00:00:00:00:0b dst 10.0.0.1 self permanent",
		"02:00:00:00:00:0a dst 10.0.0.1 src_vni 100 self permanent",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q; want %q", lines, want)
	}
}

func TestDumpPortAndVNIOmittedWhenDeviceDefault(t *testing.T) {
	// vxlan_fdb_info: NDA_PORT only if remote_port && != dst_port; NDA_VNI
	// only if != cfg->vni.
	tb, _ := newTable(t, nil)
	r := static(macA, ip1)
	r.Port, r.VNI, r.HasVNI = devPort, devVNI, true
	wantErr(t, tb.Add(r), nil)
	for n := range tb.Neighs() {
		if n.Port != 0 || n.HasVNI {
			t.Fatalf("%+v", n)
		}
	}
}

func TestDumpStateWords(t *testing.T) {
	// bridge/fdb.c state_n2a.
	for s, want := range map[State]string{
		StatePermanent | StateReachable: "permanent",
		StatePermanent | StateNoARP:     "permanent",
		StateNoARP | StateReachable:     "static",
		StateReachable:                  "",
		StateStale:                      "stale",
		0x10:                            "state=0x10",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%#x) = %q; want %q", uint16(s), got, want)
		}
	}
	n := Neigh{MAC: macA, State: 0x10, Dst: ip1, Flags: FlagSelf}
	if got := string(n.AppendJSON(nil, nil)); got != `{"mac":"02:00:00:00:00:0a","dst":"10.0.0.1","flags":["self"],"state":"0x10"}` {
		t.Errorf("JSON = %s", got)
	}
}

func TestEventNeighIsDeletedMessage(t *testing.T) {
	// `bridge monitor fdb` prints "Deleted " for RTM_DELNEIGH.
	tb, _ := newTable(t, nil)
	ev, cancel := tb.Subscribe(4)
	defer cancel()
	wantErr(t, tb.Add(static(macA, ip1)), nil)
	wantErr(t, tb.Delete(Request{MAC: macA}), nil)
	<-ev
	n := tb.EventNeigh(<-ev)
	if got := string(n.AppendText(nil, &Format{Dev: "vx0"})); got != "Deleted 02:00:00:00:00:0a dev vx0 dst 10.0.0.1 self permanent" {
		t.Fatalf("got %q", got)
	}
	if got := string(n.AppendJSON(nil, nil)); !strings.HasPrefix(got, `{"deleted":true,"mac":`) {
		t.Fatalf("got %s", got)
	}
}

func TestDumpIPv6AndUnknownIfindex(t *testing.T) {
	tb, _ := newTable(t, func(c *Config) { c.IPv6 = true })
	r := static(macA, netip.MustParseAddr("2001:db8::1"))
	r.Ifindex = 7
	wantErr(t, tb.Add(r), nil)
	for n := range tb.Neighs() {
		if got := n.String(); got != "02:00:00:00:00:0a dst 2001:db8::1 via if7 self permanent" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestFlagsAndResultStrings(t *testing.T) {
	if got := (FlagSelf | FlagRouter | FlagUse | FlagAddedByUser).String(); got != "self router use added_by_user" {
		t.Errorf("Flags.String = %q", got)
	}
	if LearnEntryExists.String() != "entry-exists" || EventAged.String() != "aged" {
		t.Error("String methods")
	}
}
