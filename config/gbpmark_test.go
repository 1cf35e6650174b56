package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vtepd/vtep/header"
)

// The tests in this file cover vtep's "gbpmark MARK" extension: the mark
// a GBP device gives the frames it reads from its TAP, which the datapath
// turns into the Group Based Policy header as vxlan_build_gbp_hdr turns
// skb->mark into it.

// TestGBPMarkBitsAreVxlanGbpMarkBits checks that the mark bits gbpmark may
// use are those vxlan_build_gbp_hdr and vxlan_parse_gbp_hdr map to the
// header (include/net/vxlan.h VXLAN_GBP_DONT_LEARN, VXLAN_GBP_POLICY_APPLIED,
// VXLAN_GBP_ID_MASK), which the header package has as word-0 bits at the
// same positions.
func TestGBPMarkBitsAreVxlanGbpMarkBits(t *testing.T) {
	if GBPMarkDontLearn != header.VXLANGBPDontLearn || GBPMarkPolicyApplied != header.VXLANGBPPolicyApplied ||
		GBPMarkPolicyIDMask != header.VXLANGBPPolicyIDMask {
		t.Fatalf("GBP mark bits %#x %#x %#x differ from the header's %#x %#x %#x",
			GBPMarkDontLearn, GBPMarkPolicyApplied, GBPMarkPolicyIDMask,
			header.VXLANGBPDontLearn, header.VXLANGBPPolicyApplied, header.VXLANGBPPolicyIDMask)
	}
	if GBPMarkMask != 0x48ffff {
		t.Fatalf("GBPMarkMask = %#x, want 0x48ffff", GBPMarkMask)
	}
}

func TestParseArgsGBPMark(t *testing.T) {
	tests := []struct {
		args string
		want uint32
	}{
		{"id 42 gbp gbpmark 0x800ff", 0x800ff},
		{"id 42 gbp gbpmark 0X800FF", 0x800ff},
		{"id 42 gbpmark 524543 gbp", 0x800ff}, // decimal, before gbp
		{"id 42 gbp gbpmark 0x400000", GBPMarkDontLearn},
		{"id 42 gbp gbpmark 0x48ffff", GBPMarkMask},
		{"id 42 gbp gbpmark 0", 0},   // no mark
		{"id 42 gbp gbpmark 010", 8}, // C octal, as every number of the grammar
	}
	for _, tt := range tests {
		l, err := ParseArgs(strings.Fields(tt.args))
		if err != nil {
			t.Errorf("ParseArgs(%q) = %v", tt.args, err)
			continue
		}
		if l.GBPMark != tt.want || !l.GBP {
			t.Errorf("ParseArgs(%q): GBP %v, GBPMark %#x; want true, %#x", tt.args, l.GBP, l.GBPMark, tt.want)
		}
		checkLink(t, l)
	}
}

func TestParseArgsGBPMarkErrors(t *testing.T) {
	tests := []struct {
		args  string
		class error
		msg   string
	}{
		{"id 42 gbpmark 0x800ff", ErrGBPMarkNeedsGBP, "vxlan: 'gbpmark' requires 'gbp' to be specified"},
		{"id 42 gbpmark 0", ErrGBPMarkNeedsGBP, "vxlan: 'gbpmark' requires 'gbp' to be specified"},
		{"external gpe gbpmark 1", ErrGBPMarkNeedsGBP, "vxlan: 'gbpmark' requires 'gbp' to be specified"},
		{"id 42 gbp gbpmark 0x1000000", ErrGBPMarkBits, ErrGBPMarkBits.Error()},
		{"id 42 gbp gbpmark 0x10000", ErrGBPMarkBits, ErrGBPMarkBits.Error()},
		{"id 42 gbp gbpmark 0x100000000", ErrArgument, `Error: argument "0x100000000" is wrong: invalid gbpmark`},
		{"id 42 gbp gbpmark -1", ErrArgument, `Error: argument "-1" is wrong: invalid gbpmark`},
		{"id 42 gbp gbpmark policy", ErrArgument, `Error: argument "policy" is wrong: invalid gbpmark`},
		{"id 42 gbp gbpmark", ErrIncomplete, ErrIncomplete.Error()},
		{"id 42 gbp gbpmark 1 gbpmark 2", ErrDuplicate, `Error: either "gbpmark" is duplicate, or "2" is garbage.`},
		{"id 42 gbp gbpm 1", ErrUnknownKeyword, `vxlan: unknown command "gbpm"?`}, // extensions are not abbreviated
	}
	for _, tt := range tests {
		l, err := ParseArgs(strings.Fields(tt.args))
		if err == nil {
			t.Errorf("ParseArgs(%q) = %+v, want error %q", tt.args, l, tt.msg)
			continue
		}
		if !errors.Is(err, tt.class) || err.Error() != tt.msg {
			t.Errorf("ParseArgs(%q) = %q, want %q (class %v)", tt.args, err, tt.msg, tt.class)
		}
		if errors.Is(tt.class, ErrInvalid) && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseArgs(%q) = %v, does not match ErrInvalid", tt.args, err)
		}
	}
	// "gb" still abbreviates gbp, not gbpmark.
	if l, err := ParseArgs(strings.Fields("id 1 gb")); err != nil || !l.GBP {
		t.Errorf(`ParseArgs("id 1 gb") = %+v, %v; want gbp`, l, err)
	}
}

func TestValidateGBPMark(t *testing.T) {
	for _, tt := range []struct {
		l    Link
		want error
	}{
		{Link{VNI: 1, GBP: true, GBPMark: 0x800ff}, nil},
		{Link{VNI: 1, GBPMark: 0x800ff}, ErrGBPMarkNeedsGBP},
		{Link{VNI: 1, GBP: true, GBPMark: 0x800ff | 1<<31}, ErrGBPMarkBits},
	} {
		if err := tt.l.Validate(); err != tt.want {
			t.Errorf("Validate(%+v) = %v, want %v", tt.l, err, tt.want)
		}
	}
}

func TestGBPMarkOutput(t *testing.T) {
	l := mustParse(t, "id 42 remote 10.0.0.2 dstport 4789 gbp gbpmark 524543")
	wantArgs := []string{"id", "42", "remote", "10.0.0.2", "dstport", "4789", "gbp", "gbpmark", "0x800ff"}
	if got := l.Args(); !reflect.DeepEqual(got, wantArgs) {
		t.Errorf("Args() = %q, want %q", got, wantArgs)
	}
	// iproute2 has no gbpmark: the kernel device is created without it.
	l.Name = "vx0"
	wantIP := []string{"vx0", "type", "vxlan", "id", "42", "remote", "10.0.0.2", "dstport", "4789", "gbp"}
	if got := l.IPLinkArgs(); !reflect.DeepEqual(got, wantIP) {
		t.Errorf("IPLinkArgs() = %q, want %q", got, wantIP)
	}
	details := map[Style]string{
		StyleLegacy: "vxlan id 42 remote 10.0.0.2 srcport 0 0 dstport 4789 ttl auto ageing 300 " +
			"udpcsum noudp6zerocsumtx noudp6zerocsumrx gbp gbpmark 0x800ff",
		StyleCurrent: "vxlan id 42 remote 10.0.0.2 srcport 0 0 dstport 4789 ttl auto ageing 300 " +
			"reserved_bits 0x77000000000000ff gbp gbpmark 0x800ff",
	}
	for st, want := range details {
		if got := l.DetailsStyle(st); got != want {
			t.Errorf("DetailsStyle(%d) =\n %q\nwant\n %q", st, got, want)
		}
	}
	info := string(l.InfoData())
	if !strings.Contains(info, `"gbp":null,"gbp_mark":"0x800ff",`) {
		t.Errorf("InfoData() = %s, want \"gbp\":null,\"gbp_mark\":\"0x800ff\"", info)
	}
	var j Link
	b, _ := json.Marshal(l)
	if err := json.Unmarshal(b, &j); err != nil || j != l {
		t.Errorf("JSON round trip: %+v, %v", j, err)
	}
	// A number is accepted too, as for the other hex keys.
	d, err := ParseInfoData([]byte(`{"id":42,"gbp":null,"gbp_mark":524543}`))
	if err != nil || d.GBPMark != 0x800ff {
		t.Errorf("ParseInfoData with a numeric gbp_mark = %+v, %v", d, err)
	}
	if _, err := ParseInfoData([]byte(`{"id":42,"gbp_mark":"0x800ff"}`)); !errors.Is(err, ErrGBPMarkNeedsGBP) {
		t.Errorf("ParseInfoData of gbp_mark without gbp = %v, want %v", err, ErrGBPMarkNeedsGBP)
	}

	// Without a mark, nothing is printed.
	n := mustParse(t, "id 42 gbp")
	for _, st := range []Style{StyleLegacy, StyleCurrent, StyleCurrentAll} {
		if s := n.DetailsStyle(st); strings.Contains(s, "gbpmark") {
			t.Errorf("DetailsStyle(%d) of a device without a mark = %q", st, s)
		}
	}
	if s := string(n.InfoData()); strings.Contains(s, "gbp_mark") {
		t.Errorf("InfoData() of a device without a mark = %s", s)
	}
	if a := n.Args(); strings.Contains(strings.Join(a, " "), "gbpmark") {
		t.Errorf("Args() of a device without a mark = %q", a)
	}
}

func TestChangeGBPMark(t *testing.T) {
	gbp := mustParse(t, "id 42 remote 10.0.0.2 gbp")
	n, err := gbp.Change([]string{"gbpmark", "0x800ff"})
	if err != nil || n.GBPMark != 0x800ff {
		t.Fatalf("Change(gbpmark 0x800ff) = %+v, %v", n, err)
	}
	if err := CanChange(gbp, n); err != nil {
		t.Errorf("CanChange(gbp, gbp gbpmark) = %v", err)
	}
	m, err := n.Change([]string{"ttl", "9"})
	if err != nil || m.GBPMark != 0x800ff {
		t.Errorf("Change(ttl 9) lost the mark: %+v, %v", m, err)
	}
	z, err := n.Change([]string{"gbpmark", "0"})
	if err != nil || z != gbp {
		t.Errorf("Change(gbpmark 0) = %+v, %v; want %+v", z, err, gbp)
	}
	if _, err := n.Change([]string{"gbpmark", "0x1000000"}); !errors.Is(err, ErrGBPMarkBits) {
		t.Errorf("Change(gbpmark 0x1000000) = %v, want %v", err, ErrGBPMarkBits)
	}
	// gbp itself still cannot change, with or without a mark.
	if _, err := n.Change([]string{"gbp", "gbpmark", "1"}); err == nil || err.Error() != "vxlan: cannot change GBP flag" {
		t.Errorf("Change(gbp gbpmark 1) = %v", err)
	}

	plain := mustParse(t, "id 42 remote 10.0.0.2")
	for _, args := range []string{"gbpmark 0x800ff", "gbpmark 0"} {
		if got, err := plain.Change(strings.Fields(args)); !errors.Is(err, ErrGBPMarkNeedsGBP) || got != plain {
			t.Errorf("Change(%q) on a device without gbp = %+v, %v; want %v", args, got, err, ErrGBPMarkNeedsGBP)
		}
	}
	withMark := plain
	withMark.GBPMark = 1
	if err := CanChange(plain, withMark); !errors.Is(err, ErrGBPMarkNeedsGBP) {
		t.Errorf("CanChange(plain, plain+mark) = %v, want %v", err, ErrGBPMarkNeedsGBP)
	}
}

func TestParseFileGBPMark(t *testing.T) {
	f, err := ParseFile([]byte("links:\n  - {name: vx0, args: id 42 remote 10.0.0.2 gbp gbpmark 0x800ff}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := f.Link("vx0"); !ok || l.Link.GBPMark != 0x800ff {
		t.Errorf("vx0 = %+v, %v", l, ok)
	}
	if _, err := ParseFile([]byte("links:\n  - {name: vx0, args: id 42 gbpmark 1}\n")); !errors.Is(err, ErrGBPMarkNeedsGBP) {
		t.Errorf("ParseFile of gbpmark without gbp = %v", err)
	}
}
