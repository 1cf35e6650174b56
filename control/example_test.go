package control

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"syscall"

	"github.com/vtepd/vtep/header"
)

// The client talks to any server of NewHandler; vtepd serves it on a unix
// socket (NewClient), here it is an httptest server over a fake backend.
func ExampleClient() {
	srv := httptest.NewServer(NewHandler(newFakeBackend(), HandlerOptions{Version: "example"}))
	defer srv.Close()
	c := NewClientHTTP(srv.Client(), srv.URL)
	ctx := context.Background()

	// vtep link add vx0 type vxlan id 42 remote 10.0.0.2 dstport 4789
	li, err := c.AddLink(ctx, LinkAddRequest{Name: "vx0", Args: strings.Fields("id 42 remote 10.0.0.2 dstport 4789")})
	fmt.Println(li.Name, li.Args, err)

	// A second link with the same VNI is refused, in the kernel's words.
	_, err = c.AddLink(ctx, LinkAddRequest{Name: "vx1", Args: strings.Fields("id 42 dstport 4789")})
	fmt.Println(err, errors.Is(err, syscall.EEXIST))

	// vtep fdb add 02:00:00:00:00:01 dev vx0 dst 10.0.0.3
	err = c.UpdateFDB(ctx, FDBRequest{Op: FDBAdd, Dev: "vx0", MAC: header.MustParseMAC("02:00:00:00:00:01"), Dst: mustAddr("10.0.0.3")})
	fmt.Println(err)
	es, _ := c.FDB(ctx, "vx0")
	for _, e := range es {
		n := e.Neigh()
		fmt.Println(string(n.AppendText(nil, nil)))
	}
	// Output:
	// vx0 [id 42 remote 10.0.0.2 dstport 4789 address 02:00:00:00:00:05] <nil>
	// Error: A VXLAN device with the specified VNI already exists. true
	// <nil>
	// 02:00:00:00:00:01 dst 10.0.0.3 self permanent
	// 00:00:00:00:00:00 dst 10.0.0.2 self permanent
}
