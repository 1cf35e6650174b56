// Package control is vtepd's control protocol: HTTP+JSON over a unix
// socket, in the manner of Tailscale's LocalAPI.
//
// The package has three parts:
//
//   - the wire types ([LinkInfo], [FDBRequest], [FlushRequest], [FDBEntry],
//     [MDBRequest], [VNIRequest], [VNIFilter], [Neighbor], [Event], [Error])
//     that travel between the daemon and its clients;
//   - [NewHandler], an http.Handler that parses and checks requests and
//     calls a [Backend]. It does all of the grammar work that does not
//     need the running system (`type vxlan` arguments through
//     config.ParseArgs and config.Link.Change, bridge fdb states and
//     flags), so a request that is refused here never reaches the
//     backend, and a refused command changes nothing;
//   - [Client], a Go client for the socket, and [Listen], which creates the
//     socket with mode 0600.
//
// # Endpoints
//
//	GET    /v1/version
//	GET    /v1/links[?stats=1]          list links (ip link show)
//	POST   /v1/links                    add a link (ip link add)
//	GET    /v1/links/{name}[?stats=1]   one link
//	PATCH  /v1/links/{name}             change a link (ip link set)
//	DELETE /v1/links/{name}             delete a link (ip link del)
//	GET    /v1/fdb[?dev=NAME]           dump FDBs (bridge fdb show)
//	POST   /v1/fdb                      add, append, replace or del an entry
//	POST   /v1/fdb/flush                bridge fdb flush
//	GET    /v1/mdb[?dev=NAME&grp=G...]  dump MDBs, or get one entry (bridge mdb show, get)
//	POST   /v1/mdb                      add, replace or del an MDB remote
//	POST   /v1/mdb/flush                bridge mdb flush
//	GET    /v1/vni[?dev=NAME&stats=1]   VNI filters of vnifilter links (bridge [-s] vni show)
//	POST   /v1/vni                      add or del a VNI or range (bridge vni add, del)
//	GET    /v1/neigh[?dev=NAME]         the neighbour table proxy ARP/ND uses
//	GET    /v1/monitor[?fdb=1&miss=1&dev=NAME]  events, one JSON object a line
//
// Errors are JSON objects {"error": {"code": ERRNO, "message": TEXT}}:
// the code is the errno the kernel would have returned for the same
// request and the message is what iproute2 prints for it, such as
// "RTNETLINK answers: File exists" or "Error: VXLAN ID must be lower than
// 16777216.", so the CLI prints it as is.
package control
