package vtep_test

import (
	"testing"

	"github.com/vtepd/vtep/internal/netlab"
)

// TestGBPMarkFromConfig: a link created with "gbp gbpmark MARK" (vtep's
// config.Link.GBPMark) gives frames from a port without marks that mark,
// which vxlan_build_gbp_hdr's mapping puts in the header and the receiver
// turns back into a mark; `link set ... gbpmark N` changes it, "gbpmark 0"
// removes it, and other changes keep a mark set with SetDefaultMark.
func TestGBPMarkFromConfig(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "gbp gbpmark 0x800ff")
		f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, payload(8))
		check := func(what string, want uint32) {
			t.Helper()
			l1.Send(f)
			if got := expectFrames(t, l2, f); got[0].Meta.Mark != want {
				t.Errorf("%s: received mark %#x, want %#x", what, got[0].Meta.Mark, want)
			}
		}
		check("created with gbpmark 0x800ff", 0x800ff)

		change := func(args ...string) {
			t.Helper()
			cfg, err := l1.Config().Change(args)
			if err != nil {
				t.Fatal(err)
			}
			if err := l1.Change(cfg); err != nil {
				t.Fatal(err)
			}
		}
		change("gbpmark", "0x4000ab")
		check("changed to gbpmark 0x4000ab", 0x4000ab)
		change("ttl", "9")
		check("after an unrelated change", 0x4000ab)
		l1.SetDefaultMark(0x77)
		change("ttl", "10")
		check("SetDefaultMark, then an unrelated change", 0x77)
		change("gbpmark", "0")
		check("gbpmark 0", 0)
	})
}
