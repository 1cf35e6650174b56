// Command vtep is the command-line client of vtepd, in iproute2's grammar:
//
//	vtep [-socket PATH] [-j] [-s] [-d] OBJECT COMMAND ...
//
//	vtep link add NAME [up] [mtu MTU] [address LLADDR] type vxlan ARGS
//	vtep link set NAME [up|down] [mtu MTU] [address LLADDR] [type vxlan ARGS]
//	vtep link del NAME
//	vtep [-d] [-s] link show [NAME]
//	vtep fdb add|append|replace|del LLADDR dev NAME [dst IP] [port N] [vni N]
//	        [src_vni N] [via DEV] [self] [permanent|static|dynamic] [router]
//	        [extern_learn] [sticky] [use]
//	vtep fdb flush dev NAME [src_vni N] [port N] [dst IP] [vni N] [nhid N]
//	        [self] [[no]permanent|[no]static|[no]dynamic] [[no]extern_learn]
//	        [[no]router] [[no]offloaded] [[no]sticky]
//	vtep [-s] fdb show [dev NAME]
//	vtep mdb add|replace|del dev NAME port NAME grp GROUP [src SOURCE]
//	        [permanent] [filter_mode include|exclude] [source_list S[,S...]]
//	        [proto PROTO] dst IP [dst_port PORT] [vni N] [src_vni N] [via DEV]
//	vtep mdb flush dev NAME [port NAME] [src_vni N] [proto PROTO]
//	        [[no]permanent] [dst IP] [dst_port PORT] [vni N]
//	vtep mdb get dev NAME grp GROUP [src SOURCE] [src_vni N]
//	vtep [-d] [-s] mdb show [dev NAME]
//	vtep vni add dev NAME vni VNI[-VNI] [group ADDR | remote ADDR]
//	vtep vni del dev NAME vni VNI[-VNI]
//	vtep [-s] vni show [dev NAME]
//	vtep neigh show [dev NAME]
//	vtep monitor [fdb] [mdb] [miss] [dev NAME]
//	vtep version
//
// Output matches `ip link show`, `bridge fdb show`, `bridge mdb show`,
// `bridge vni show` and `ip neigh show` for the same objects, and -j
// prints the JSON those commands print with -j. Errors go to standard
// error in iproute2's words. The exit status is 0 on success, 1 for a
// malformed command or an unknown device, and 2 when the daemon refuses
// the request (as ip does for RTNETLINK errors).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vtepd/vtep/control"
)

// version is the CLI's version; the build may set it with -ldflags -X.
var version = "devel"

// api is the part of control.Client the CLI uses; tests provide a fake.
type api interface {
	Version(ctx context.Context) (control.VersionInfo, error)
	Links(ctx context.Context, stats bool) ([]control.LinkInfo, error)
	Link(ctx context.Context, name string, stats bool) (control.LinkInfo, error)
	AddLink(ctx context.Context, req control.LinkAddRequest) (control.LinkInfo, error)
	SetLink(ctx context.Context, name string, req control.LinkSetRequest) (control.LinkInfo, error)
	DelLink(ctx context.Context, name string) error
	FDB(ctx context.Context, dev string) ([]control.FDBEntry, error)
	UpdateFDB(ctx context.Context, req control.FDBRequest) error
	FlushFDB(ctx context.Context, req control.FlushRequest) (int, error)
	MDB(ctx context.Context, dev string) ([]control.MDBEntry, error)
	GetMDB(ctx context.Context, dev string, g control.MDBGet) ([]control.MDBEntry, error)
	UpdateMDB(ctx context.Context, req control.MDBRequest) error
	FlushMDB(ctx context.Context, req control.MDBFlushRequest) (int, error)
	VNIFilters(ctx context.Context, dev string, stats bool) ([]control.VNIFilter, error)
	UpdateVNI(ctx context.Context, req control.VNIRequest) error
	Neighbors(ctx context.Context, dev string) ([]control.Neighbor, error)
	Monitor(ctx context.Context, f control.EventFilter, fn func(control.Event) error) error
}

var _ api = (*control.Client)(nil)

// options are the global options.
type options struct {
	socket  string
	json    bool
	stats   int
	details bool
}

// cli is one invocation.
type cli struct {
	opts   options
	api    api
	stdout io.Writer
	stderr io.Writer
}

// usageError is a malformed command; its text is printed as is.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

const usageText = `Usage: vtep [ OPTIONS ] OBJECT { COMMAND | help }
where  OBJECT := { link | fdb | mdb | vni | neigh | monitor | version }
       OPTIONS := { -socket PATH | -j[son] | -s[tatistics] | -d[etails] }

       vtep link add NAME [ up ] [ mtu MTU ] [ address LLADDR ] type vxlan ARGS
       vtep link set NAME [ up | down ] [ mtu MTU ] [ address LLADDR ] [ type vxlan ARGS ]
       vtep link del NAME
       vtep link show [ NAME ]
       vtep fdb { add | append | replace | del } LLADDR dev NAME [ dst IP ] [ port PORT ]
               [ vni VNI ] [ src_vni VNI ] [ via DEV ] [ self ] [ permanent | static | dynamic ]
               [ router ] [ extern_learn ] [ sticky ] [ use ]
       vtep fdb flush dev NAME [ FILTERS ]
       vtep fdb show [ dev NAME ]
       vtep mdb { add | replace | del } dev NAME port NAME grp GROUP [ src SOURCE ] [ permanent ]
               [ filter_mode { include | exclude } ] [ source_list SOURCE[,SOURCE...] ]
               [ proto PROTO ] dst IP [ dst_port PORT ] [ vni VNI ] [ src_vni VNI ] [ via DEV ]
       vtep mdb flush dev NAME [ port NAME ] [ src_vni VNI ] [ proto PROTO ] [ [no]permanent ]
               [ dst IP ] [ dst_port PORT ] [ vni VNI ]
       vtep mdb get dev NAME grp GROUP [ src SOURCE ] [ src_vni VNI ]
       vtep mdb show [ dev NAME ]
       vtep vni { add | del } dev NAME vni VNI[-VNI] [ { group | remote } IP ]
       vtep vni show [ dev NAME ]
       vtep neigh show [ dev NAME ]
       vtep monitor [ fdb ] [ mdb ] [ miss ] [ dev NAME ]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, func(socket string) api { return control.NewClient(socket) }))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, dial func(socket string) api) int {
	c := &cli{opts: options{socket: control.DefaultSocket}, stdout: stdout, stderr: stderr}
	args, err := c.parseOptions(args)
	if err == nil && len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 1
	}
	if err == nil {
		c.api = dial(c.opts.socket)
		err = c.dispatch(ctx, args)
	}
	return c.report(err)
}

// report prints err and returns the exit status for it.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	var ce *control.Error
	var conn *control.ConnError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(c.stderr, strings.TrimSuffix(ue.msg, "\n"))
		return 1
	case errors.As(err, &ce):
		fmt.Fprintln(c.stderr, strings.TrimSuffix(ce.Message, "\n"))
		if ce.Usage || ce.Code == int(syscall.ENODEV) {
			return 1
		}
		return 2
	case errors.As(err, &conn):
		fmt.Fprintln(c.stderr, err)
		return 1
	}
	fmt.Fprintln(c.stderr, "vtep:", err)
	return 1
}

// parseOptions consumes the global options, which may be abbreviated as
// ip allows ("-j", "-json"; "-s", "-stats", "-statistics"; "-d",
// "-details"), with one or two dashes.
func (c *cli) parseOptions(args []string) ([]string, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		opt := strings.TrimPrefix(strings.TrimPrefix(args[0], "-"), "-")
		args = args[1:]
		switch {
		case opt == "socket":
			if len(args) == 0 {
				return nil, usagef("Option \"-socket\" requires an argument")
			}
			c.opts.socket, args = args[0], args[1:]
		case strings.HasPrefix(opt, "socket="):
			c.opts.socket = strings.TrimPrefix(opt, "socket=")
		case opt == "j" || matches(opt, "json"):
			c.opts.json = true
		case opt == "s" || matches(opt, "stats") || matches(opt, "statistics"):
			c.opts.stats++
		case opt == "d" || matches(opt, "details"):
			c.opts.details = true
		case opt == "h" || matches(opt, "help"):
			return []string{"help"}, nil
		case opt == "V" || matches(opt, "Version"):
			return []string{"version"}, nil
		default:
			return nil, usagef("Option \"-%s\" is unknown, try \"vtep -help\".", opt)
		}
	}
	return args, nil
}

// matches reports whether word is a prefix of keyword, as iproute2's
// matches() does (the empty word matches nothing).
func matches(word, keyword string) bool {
	return word != "" && strings.HasPrefix(keyword, word)
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	obj, rest := args[0], args[1:]
	switch {
	case matches(obj, "link"):
		return c.link(ctx, rest)
	case matches(obj, "fdb"):
		return c.fdb(ctx, rest)
	case matches(obj, "mdb"):
		return c.mdb(ctx, rest)
	case matches(obj, "neighbor"), matches(obj, "neighbour"):
		return c.neigh(ctx, rest)
	case matches(obj, "monitor"):
		return c.monitor(ctx, rest)
	case matches(obj, "version"):
		return c.version(ctx)
	case matches(obj, "vni"):
		return c.vni(ctx, rest)
	case matches(obj, "help"):
		fmt.Fprint(c.stdout, usageText)
		return nil
	}
	return usagef("Object %q is unknown, try \"vtep help\".", obj)
}

func (c *cli) version(ctx context.Context) error {
	v, err := c.api.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "vtep %s, vtepd %s (api %d, %s)\n", version, v.Version, v.API, v.Go)
	return nil
}
