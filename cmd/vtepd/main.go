// Command vtepd is the vtep daemon: it runs VXLAN links in user space, each
// carried by a TAP interface with the link's name, MAC and MTU, in the
// network namespace it is started in.
//
//	vtepd [-socket PATH] [-config FILE] [-log-level LEVEL] [-offload on|off] [-workers N] [-batch N] [-cpuprofile FILE]
//
// The control API (package control) listens on the unix socket PATH
// (default /run/vtep/vtepd.sock, mode 0600); the vtep command talks to it.
// FILE is a YAML configuration (package config, config.File) applied at
// start and again on SIGHUP, adding, changing and removing what differs
// from the file applied before, without disturbing unchanged links.
// SIGTERM and SIGINT delete every link, removing the interfaces, and exit
// with status 0.
//
// -workers N (default: the number of CPUs) sizes the datapath: each
// link's TAP has N queues (IFF_MULTI_QUEUE), each read by its own transmit
// routine, and each UDP port has N sockets sharing it (SO_REUSEPORT), each
// read by its own receive routine, which writes to the TAP queue of the
// same number. The kernel keeps each flow on one queue and one socket, so
// flows stay in order. -offload off opens plain TAPs and turns UDP GSO and
// GRO off. -batch N is the most frames one TAP read returns and packets
// one UDP read or write handles (default 64). -cpuprofile FILE writes a
// CPU profile for `go tool pprof` until the daemon exits.
//
// What a user does to a link's interface directly has the kernel's
// effects: `ip link set vx0 down` flushes the dynamic FDB entries (as
// vxlan_stop does) and makes the datapath drop, `up` resumes; `ip link set
// vx0 mtu N` is honoured within the kernel's limit (the lower device's
// MTU minus the VXLAN overhead; a larger MTU, which the kernel would
// refuse with EINVAL, cannot be refused on a TAP and is set back to the
// previous value); `ip link set vx0 address` changes the link's MAC; `ip
// link del vx0`, or deleting the lower device, deletes the link; `ip neigh
// add ... dev vx0` entries are what proxy ARP/ND and route short-circuit
// answer from; the host's addresses decide local bypass. Logs are
// structured (log/slog, to standard error); nothing is logged per packet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/internal/kernelnet"
	"github.com/vtepd/vtep/internal/sys"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// version is the daemon's version; the build may set it with -ldflags -X.
var version = "devel"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the command-line flags.
type options struct {
	socket   string
	config   string
	logLevel slog.Level
	offload  bool
	pin      bool
	tgso     bool
	ebpf     bool
	workers  int
	batch    int
	cpuProf  string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("vtepd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.socket, "socket", control.DefaultSocket, "control socket `path`")
	fs.StringVar(&o.config, "config", "", "YAML configuration `file`, applied at start and on SIGHUP")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	offload := fs.String("offload", "on", "TAP and UDP segmentation and checksum offloads: on or off")
	fs.IntVar(&o.workers, "workers", 0, "datapath workers: TAP queues per link and UDP sockets per port (0: one per CPU)")
	pin := fs.String("pin", "on", "on: bind worker w's threads to the w-th CPU the daemon may use, and keep each flow on one worker by its outer source port; off: leave threads to the Go scheduler and spread flows by hash")
	tgso := fs.String("tunnel-gso", "off", "on: send TCP super-frames whole, as UDP tunnel GSO packets through a TAP of their own and bpf_redirect_neigh (Linux 6.17+; skips netfilter's OUTPUT and POSTROUTING hooks); off: segment them and send every datagram through the UDP sockets")
	ebpf := fs.String("ebpf", "off", "on: tc programs do each eligible link's common case in the kernel, without vtepd: on its TAP, encapsulate the frames to known unicast IPv4 remotes and send them with bpf_redirect_neigh (skips netfilter's OUTPUT and POSTROUTING hooks); on the underlay devices, decapsulate the packets from known sources into the TAP (Linux 6.6+); off: every frame goes through vtepd")
	fs.IntVar(&o.batch, "batch", 0, "frames per TAP read and packets per UDP read or write (0: 64)")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile (runtime/pprof) to `file` until exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stderr, "vtepd", version)
		return o, flag.ErrHelp
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("-log-level %q: want debug, info, warn or error", *level)
	}
	var err error
	if o.offload, err = onOff("offload", *offload); err != nil {
		return o, err
	}
	if o.pin, err = onOff("pin", *pin); err != nil {
		return o, err
	}
	if o.tgso, err = onOff("tunnel-gso", *tgso); err != nil {
		return o, err
	}
	if o.ebpf, err = onOff("ebpf", *ebpf); err != nil {
		return o, err
	}
	if o.tgso && !o.offload {
		return o, errors.New("-tunnel-gso on needs -offload on: super-frames come from the TAP's TSO")
	}
	if o.workers < 0 {
		return o, fmt.Errorf("-workers %d: must not be negative", o.workers)
	}
	if o.batch < 0 || o.batch > 256 {
		return o, fmt.Errorf("-batch %d: must be between 0 and 256", o.batch)
	}
	return o, nil
}

// onOff parses the value v of flag -name, which is on or off.
func onOff(name, v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("-%s %q: want on or off", name, v)
}

// defaultTTL reads net.ipv4.ip_default_ttl, the TTL a route gives
// "ttl auto" links; 0 lets the datapath use 64.
func defaultTTL() uint8 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 8)
	if err != nil {
		return 0
	}
	return uint8(n)
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "vtepd:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	if o.cpuProf != "" {
		stop, err := startCPUProfile(o.cpuProf)
		if err != nil {
			log.Error("cannot start the CPU profile", "file", o.cpuProf, "err", err)
			return 1
		}
		defer stop()
	}

	var file *config.File
	if o.config != "" {
		if file, err = config.LoadFile(o.config); err != nil {
			log.Error("cannot load the configuration", "file", o.config, "err", err)
			return 1
		}
	}
	nl, err := kernelnet.Open()
	if err != nil {
		log.Error("cannot open rtnetlink", "err", err)
		return 1
	}
	defer nl.Close()
	workers := o.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	ls := &linuxSystem{Handle: nl, offload: o.offload, workers: workers, batch: o.batch, log: log, mcrep: underlay.NewMulticastReporter()}
	defer ls.mcrep.Close()
	var pinThread func(int) error
	if o.pin {
		if cpus, err := sys.AllowedCPUs(); err != nil {
			log.Warn("cannot read the CPUs the daemon may use; workers run unpinned", "err", err)
		} else {
			ls.pinCPUs = workerCPUs(cpus, workers)
			pinThread = func(w int) error { return sys.PinThread(ls.pinCPUs[w%len(ls.pinCPUs)]) }
		}
	}
	var inj vtep.Injector
	if o.tgso {
		j, err := underlay.OpenInjector(workers)
		if err != nil {
			log.Warn("tunnel GSO unavailable; super-frames are segmented", "err", err)
		} else {
			defer j.Close()
			log.Info("tunnel GSO on", "device", j.Name(), "queues", j.Queues())
			inj = j
		}
	}
	var fast vtep.FastPath
	if o.ebpf {
		fast = kernelPath{}
		log.Info("kernel data path on (-ebpf on)")
	}
	d, err := newDaemon(ls, log, defaultTTL(), workers, pinThread, ls.steerPorts() != 0, inj, fast)
	if err != nil {
		log.Error("cannot start the datapath", "err", err)
		return 1
	}
	defer d.close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := control.Listen(o.socket)
	if err != nil {
		log.Error("cannot listen", "socket", o.socket, "err", err)
		return 1
	}
	onErr := func(what string) func(error) {
		return func(err error) {
			if ctx.Err() == nil { // closing the subscription at exit reports an error too
				log.Warn("netlink subscription lost, resubscribing", "what", what, "err", err)
			}
		}
	}
	for _, w := range []func() error{
		func() error { return kernelnet.WatchLinks(ctx, d.onLink, onErr("links")) },
		func() error { return kernelnet.WatchAddrs(ctx, d.onAddr, onErr("addresses")) },
		func() error { return kernelnet.WatchNeighs(ctx, d.onNeigh, onErr("neighbours")) },
		func() error { return kernelnet.WatchNexthops(ctx, d.onNexthops, onErr("nexthops")) },
		func() error {
			return kernelnet.WatchMulticastRoutes(ctx, d.onMulticastRoutes, onErr("multicast routes"))
		},
	} {
		if err := w(); err != nil {
			ln.Close()
			log.Error("cannot subscribe to rtnetlink", "err", err)
			return 1
		}
	}
	if file != nil {
		if err := d.applyConfig(file); err != nil {
			log.Warn("configuration applied with errors", "file", o.config)
		} else {
			log.Info("configuration applied", "file", o.config, "links", len(file.Links))
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(d, o.config, log)
			}
		}
	}()

	log.Info("vtepd started", "version", version, "socket", o.socket, "offload", o.offload, "workers", workers, "worker_cpus", ls.pinCPUs, "steer_by_source_port", ls.steerPorts() != 0, "pid", os.Getpid())
	h := control.NewHandler(backend{d}, control.HandlerOptions{Version: version, Logger: log})
	if err := control.Serve(ctx, ln, h); err != nil {
		log.Error("control server failed", "err", err)
		return 1
	}
	log.Info("vtepd stopping")
	return 0
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// reload re-applies the configuration file on SIGHUP. A file that does
// not load leaves everything as it is.
func reload(d *daemon, path string, log *slog.Logger) {
	if path == "" {
		log.Warn("SIGHUP without -config: nothing to reload")
		return
	}
	f, err := config.LoadFile(path)
	if err != nil {
		log.Error("SIGHUP: cannot load the configuration, keeping the current state", "file", path, "err", err)
		return
	}
	if err := d.applyConfig(f); err != nil {
		log.Warn("SIGHUP: configuration applied with errors", "file", path)
		return
	}
	log.Info("SIGHUP: configuration applied", "file", path, "links", len(f.Links))
}

// workerCPUs returns the CPU of each of n workers: worker w runs on the
// w-th of the allowed CPUs, round robin when there are more workers.
func workerCPUs(allowed []int, n int) []int {
	cpus := make([]int, n)
	for w := range cpus {
		cpus[w] = allowed[w%len(allowed)]
	}
	return cpus
}
