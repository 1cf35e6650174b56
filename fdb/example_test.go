package fdb_test

import (
	"fmt"
	"net/netip"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// A link `id 42 dstport 4789 remote 10.0.0.3`: one static entry, one learned
// address, and a frame to an unknown MAC flooded through the default entry.
func Example() {
	tb, err := fdb.New(fdb.Config{VNI: 42, Port: 4789, Remote: netip.MustParseAddr("10.0.0.3")})
	if err != nil {
		panic(err)
	}
	// bridge fdb add 02:00:00:00:00:0a dev vx0 dst 10.0.0.1 (iproute2 sends
	// state NOARP|PERMANENT and flag SELF).
	err = tb.Add(fdb.Request{
		MAC:   header.MustParseMAC("02:00:00:00:00:0a"),
		State: fdb.StateNoARP | fdb.StatePermanent,
		Flags: fdb.FlagSelf,
		Dst:   netip.MustParseAddr("10.0.0.1"),
	})
	fmt.Println("add:", err)
	fmt.Println("add again:", tb.Add(fdb.Request{
		MAC:   header.MustParseMAC("02:00:00:00:00:0a"),
		State: fdb.StatePermanent,
		Dst:   netip.MustParseAddr("10.0.0.2"),
	}))

	// A frame from 02:00:00:00:00:0b arrives from VTEP 10.0.0.2.
	fmt.Println("learn:", tb.Learn(header.MustParseMAC("02:00:00:00:00:0b"), 42, netip.MustParseAddr("10.0.0.2"), 0))

	// Transmit to an unknown unicast address: flood to the default entry.
	e, flood := tb.Resolve(header.MustParseMAC("02:00:00:00:00:ff"), 42)
	fmt.Println("flood:", flood, "to", e.Remotes()[0].IP)

	// bridge fdb show dev vx0
	for n := range tb.Neighs() {
		fmt.Printf("%q\n", n.AppendText(nil, nil))
	}
	// Output:
	// add: <nil>
	// add again: RTNETLINK answers: File exists
	// learn: created
	// flood: true to 10.0.0.3
	// "02:00:00:00:00:0b dst 10.0.0.2 self "
	// "02:00:00:00:00:0a dst 10.0.0.1 self permanent"
	// "00:00:00:00:00:00 dst 10.0.0.3 self permanent"
}
