package config_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vtepd/vtep/config"
)

func ExampleParseArgs() {
	l, err := config.ParseArgs(strings.Fields("id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 nolearning"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Port(), l.AgeingTime(), l.Overhead(), l.DeviceMTU(1500))
	fmt.Println(l.Details())
	fmt.Println(strings.Join(l.IPLinkArgs(), " "))
	// Output:
	// 4789 5m0s 50 1450
	// vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 srcport 0 0 dstport 4789 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx
	// type vxlan id 42 remote 10.0.0.2 local 10.0.0.1 dev eth0 dstport 4789 nolearning
}

func ExampleParseArgs_errors() {
	for _, args := range []string{
		"id 42 remote 239.1.1.1",
		"id 42 group 239.1.1.1",
		"id 42 ttl 1 hoplimit 2",
		"id 42 srcport 2000 1000",
	} {
		_, err := config.ParseArgs(strings.Fields(args))
		fmt.Printf("%v (argument: %v, invalid: %v)\n", err, errors.Is(err, config.ErrArgument), errors.Is(err, config.ErrInvalid))
	}
	// Output:
	// Error: argument "239.1.1.1" is wrong: invalid remote address (argument: true, invalid: false)
	// vxlan: 'group' requires 'dev' to be specified (argument: false, invalid: true)
	// Error: either "ttl" is duplicate, or "2" is garbage. (argument: false, invalid: false)
	// Invalid source port range (argument: false, invalid: true)
}

func ExampleLink_Change() {
	l, _ := config.ParseArgs(strings.Fields("id 42 group 239.1.1.1 dev eth0"))
	l, err := l.Change(strings.Fields("ttl 64 nolearning"))
	fmt.Println(l.TTL, l.NoLearning, err)
	_, err = l.Change(strings.Fields("proxy"))
	fmt.Println(err, errors.Is(err, config.ErrCannotChange))
	// Output:
	// 64 true <nil>
	// vxlan: cannot change PROXY flag true
}

func ExampleParseFile() {
	f, err := config.ParseFile([]byte(`
links:
  - name: vx0
    args: "id 42 local 10.0.0.1"
fdb:
  - {mac: "00:00:00:00:00:00", dev: vx0, dst: 10.0.0.2, op: append}
  - {mac: "02:00:00:00:00:01", dev: vx9, dst: 10.0.0.2}
`))
	fmt.Println(f, err)
	// Output:
	// <nil> line 7: fdb[1]: dev "vx9" is not a link of this file
}
