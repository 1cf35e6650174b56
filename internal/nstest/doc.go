// Package nstest builds small Linux network-namespace labs for root-only
// interop tests: uniquely named namespaces that disappear when the test ends,
// veth pairs with IPv4 and IPv6 addresses, kernel vxlan devices, background
// processes (vtepd, iperf3) whose output lands in the test log when the test
// fails, and measuring tools (ping, iperf3, a checksummed TCP transfer) whose
// output is parsed into structs.
//
// Every helper that changes the system registers its undo with t.Cleanup, so
// a failing or panicking test still removes its namespaces and stops its
// processes. Tests start with [SkipUnlessRoot] (and [RequireTools] for
// external programs) so that they skip, with a message saying why, on an
// unprivileged machine.
//
// Commands run inside a namespace through `ip netns exec`, which gives each
// program its own process and a /sys that matches the namespace. Go code that
// needs sockets inside a namespace uses [NS.Do], which runs a function on a
// fresh OS thread switched into the namespace; a socket keeps the namespace it
// was created in, so the returned listeners and connections can then be used
// from any goroutine.
//
// Nothing here is used on the datapath; it is imported only from tests and
// from the benchmark reporter in scripts/.
package nstest
