package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vtepd/vtep/control"
)

// TestLinkGBPMark checks vtep's "gbpmark" extension end to end in the CLI:
// the words reach the daemon unchanged, `-d link show` prints the mark
// after "gbp" and `-d -j` has it as "gbp_mark".
func TestLinkGBPMark(t *testing.T) {
	f := &fakeAPI{}
	line := "link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789 gbp gbpmark 0x800ff"
	if code, _, errs := runCLI(t, f, line); code != 0 {
		t.Fatalf("%s: status %d: %s", line, code, errs)
	}
	want := control.LinkAddRequest{Name: "vx0", Args: strings.Fields("id 42 remote 10.0.0.2 dstport 4789 gbp gbpmark 0x800ff")}
	if len(f.added) != 1 || !reflect.DeepEqual(f.added[0], want) {
		t.Errorf("sent %+v, want %+v", f.added, want)
	}
	line = "link set vx0 type vxlan gbpmark 0x4000ff"
	if code, _, errs := runCLI(t, f, line); code != 0 || len(f.setReqs) != 1 ||
		!reflect.DeepEqual(f.setReqs[0].Args, []string{"gbpmark", "0x4000ff"}) {
		t.Errorf("%s: status %d (%s), sent %+v", line, code, errs, f.setReqs)
	}

	li := vx0
	li.Args = strings.Fields("id 42 remote 10.0.0.2 dstport 4789 gbp gbpmark 0x800ff")
	f = &fakeAPI{links: []control.LinkInfo{li}}
	_, out, _ := runCLI(t, f, "-d link show vx0")
	if !strings.Contains(out, "\n    vxlan id 42 remote 10.0.0.2 srcport 0 0 dstport 4789 ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx gbp gbpmark 0x800ff \n") {
		t.Errorf("-d link show:\n%s", out)
	}
	_, out, _ = runCLI(t, f, "-j -d link show vx0")
	if !strings.Contains(out, `"gbp":null,"gbp_mark":"0x800ff"`) {
		t.Errorf("-j -d link show: %s", out)
	}
}
