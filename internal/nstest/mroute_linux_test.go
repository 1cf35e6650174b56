package nstest

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// The kernel's multicast cache tables as read in a test namespace: an
// IPv4 (S, G) entry, an IPv6 one with a packet on the wrong interface,
// and an unresolved IPv4 entry (ipmr_mfc_seq_show shows its counters 0).
const (
	mfcCache4 = "Group    Origin   Iif     Pkts    Bytes    Wrong Oifs\n" +
		"0100FCE9 640200C0 1          1       96        0  0:1    2:1  \n" +
		"0200FCE9 640200C0 -1         0        0        0\n"
	mfcCache6 = "Group                            Origin                           Iif      Pkts  Bytes     Wrong  Oifs\n" +
		"ff0e:0000:0000:0000:0000:0001:0002:0003 2001:0db8:0004:0000:0000:0000:0000:0001 1          1      116        1  0:1    2:1  \n"
)

// TestParseMFCCache reads ipmr_mfc_seq_show's tables of both families.
func TestParseMFCCache(t *testing.T) {
	src4, src6 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8:4::1")
	for _, tc := range []struct {
		name string
		out  string
		v6   bool
		want []MFCStats
	}{
		{"ipv4", mfcCache4, false, []MFCStats{
			{Group: netip.MustParseAddr("233.252.0.1"), Src: src4, Pkts: 1, Bytes: 96},
			{Group: netip.MustParseAddr("233.252.0.2"), Src: src4},
		}},
		{"ipv6", mfcCache6, true, []MFCStats{
			{Group: netip.MustParseAddr("ff0e::1:2:3"), Src: src6, Pkts: 1, Bytes: 116, Wrong: 1},
		}},
		{"empty", "Group    Origin   Iif     Pkts    Bytes    Wrong Oifs\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMFCCache(tc.out, tc.v6)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseMFCCacheRejects: a line that is not an entry is an error.
func TestParseMFCCacheRejects(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		v6         bool
	}{
		{"short", "0100FCE9 640200C0 1 1 96", false},
		{"not hex", "0100FCEX 640200C0 1 1 96 0", false},
		{"IPv4 in an IPv6 table", "0100FCE9 640200C0 1 1 96 0", true},
		{"dotted IPv4 in an IPv6 table", "233.252.0.1 192.0.2.100 1 1 96 0", true},
		{"negative count", "0100FCE9 640200C0 1 -1 96 0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := parseMFCCache("header\n"+tc.line+"\n", tc.v6); err == nil {
				t.Errorf("parsed %+v", got)
			}
		})
	}
}

func FuzzParseMFCCache(f *testing.F) {
	f.Add(mfcCache4, false)
	f.Add(mfcCache6, true)
	f.Fuzz(func(t *testing.T, out string, v6 bool) {
		got, err := parseMFCCache(out, v6)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with entries %+v", err, got)
			}
			return
		}
		lines := len(strings.Split(strings.TrimSpace(out), "\n"))
		if len(got) >= lines && len(got) > 0 {
			t.Fatalf("%d entries from %d lines, the first a header", len(got), lines)
		}
		for _, s := range got {
			if s.Group.Is6() != v6 || s.Src.Is6() != v6 {
				t.Fatalf("entry %+v in a table of IPv6 %v", s, v6)
			}
		}
	})
}
