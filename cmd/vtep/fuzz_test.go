package main

import (
	"strings"
	"testing"

	"github.com/vtepd/vtep/control"
)

var grammarSeeds = []string{
	"02:00:00:00:00:01 dev vx0 dst 10.0.0.2",
	"0:0:0:0:0:0 dev vx0 dst fd00::2 port 8472 vni 0x10 src_vni 5 via eth0 self static router extern_learn",
	"to 02:00:00:00:00:01 dev vx0 dst 10.0.0.2 dynamic sticky use nhid 3",
	"dev vx0 dynamic noextern_learn router permanent nostatic src_vni 3 vni 4 port vxlan dst 10.0.0.9",
	"vx0 up mtu 1400 address 02:00:00:00:00:05 type vxlan id 1 dstport 4789",
	"name vx0 dev vx1 type",
	"dev",
}

// FuzzFDBGrammar checks that the bridge fdb parsers never panic, and that
// what they accept is complete: a device, and for add/del a MAC that
// prints and parses back to itself.
func FuzzFDBGrammar(f *testing.F) {
	for _, s := range grammarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := strings.Fields(s)
		for _, op := range []control.FDBOp{control.FDBAdd, control.FDBDel} {
			req, err := parseFDB(op, words)
			if err != nil {
				continue
			}
			if req.Dev == "" || req.Op != op {
				t.Fatalf("%q: accepted %+v", s, req)
			}
			m, err := parseBridgeMAC(req.MAC.String())
			if err != nil || m != req.MAC {
				t.Fatalf("%q: MAC %v does not round-trip: %v %v", s, req.MAC, m, err)
			}
			if req.VNI != nil && *req.VNI >= 1<<24 {
				t.Fatalf("%q: VNI %d accepted", s, *req.VNI)
			}
		}
		if req, err := parseFlush(words); err == nil {
			if req.Dev == "" || req.State&^req.StateMask != 0 || req.Flags&^req.FlagsMask != 0 {
				t.Fatalf("%q: accepted flush %+v", s, req)
			}
		}
	})
}

// FuzzLinkGrammar checks that the ip link parsers never panic and that
// what they accept names a link.
func FuzzLinkGrammar(f *testing.F) {
	for _, s := range grammarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := strings.Fields(s)
		if req, err := parseLinkAdd(words); err == nil && (req.Name == "" || req.Args == nil) {
			t.Fatalf("%q: accepted add %+v", s, req)
		}
		if name, req, err := parseLinkSet(words); err == nil && (name == "" || req.MTU < 0) {
			t.Fatalf("%q: accepted set %s %+v", s, name, req)
		}
		if name, err := parseDevName(words, "missing"); err == nil && name == "" {
			t.Fatalf("%q: accepted an empty name", s)
		}
	})
}
