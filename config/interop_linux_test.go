//go:build linux

package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The tests in this file compare the package with the real thing: they
// create vxlan devices with the installed iproute2 in a private network
// namespace (unshare -n) and check that ParseArgs and Change accept and
// refuse the same arguments, with the same messages, that Details matches
// `ip -d link show` and that `ip -d -j link show` decodes to the parsed
// configuration. They need root and skip otherwise.

// ipTool returns the iproute2 version as major*100+minor, or skips.
func ipTool(t *testing.T) int {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping in -short mode: spawns ip in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create vxlan devices in a private network namespace")
	}
	for _, tool := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found", tool)
		}
	}
	out, err := exec.Command("ip", "-V").CombinedOutput()
	if err != nil {
		t.Skipf("skipping: ip -V: %v", err)
	}
	m := regexp.MustCompile(`iproute2-(?:ss)?v?(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Skipf("skipping: cannot read the iproute2 version from %q", out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	// Probe: a network namespace with a veth pair and a vxlan device.
	probe := exec.Command("unshare", "-n", "sh", "-c",
		"ip link add v0 type veth peer name v1 && ip link add vx0 type vxlan id 1 dstport 4789")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create veth and vxlan devices in a network namespace: %v: %s", err, out)
	}
	return major*100 + minor
}

// ipResult is what `ip link add/set` did in a fresh namespace.
type ipResult struct {
	err     string // first line of ip's error output, or ""
	details string // the vxlan part of `ip -d link show vx0`
	json    []byte // `ip -d -j link show vx0`
}

const ipScript = `
ip link add v0 type veth peer name v1 >/dev/null 2>&1 || exit 99
if [ -n "$BASE" ]; then ip link add vx0 type vxlan $BASE || exit 98; fi
if ! out=$(ip link $OP vx0 type vxlan "$@" 2>&1 >/dev/null); then
	echo "ERR $out" | head -n 1
	exit 0
fi
echo OK
ip -d link show vx0 | sed -n 's/^ *\(vxlan .*\)/\1/p'
ip -d -j link show vx0
`

// runIP runs `ip link add vx0 type vxlan ARGS` (base == "") or creates vx0
// with base and runs `ip link set vx0 type vxlan ARGS`, in a new network
// namespace that has a veth pair v0/v1 for dev.
func runIP(t *testing.T, base string, args []string) ipResult {
	t.Helper()
	op := "add"
	if base != "" {
		op = "set"
	}
	cmd := exec.Command("unshare", append([]string{"-n", "sh", "-c", ipScript, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "BASE="+base, "OP="+op)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ip script (%s %q): %v: %s", op, args, err, out)
	}
	lines := strings.SplitN(string(out), "\n", 4)
	if strings.HasPrefix(lines[0], "ERR ") {
		return ipResult{err: strings.TrimPrefix(lines[0], "ERR ")}
	}
	if len(lines) < 3 || lines[0] != "OK" {
		t.Fatalf("ip script (%s %q): unexpected output %q", op, args, out)
	}
	// iproute2 prints the vxlan options and then the generic ones
	// (addrgenmode, numtxqueues, ...) on the same line.
	details, _, _ := strings.Cut(lines[1], " addrgenmode ")
	return ipResult{details: strings.TrimSpace(details), json: []byte(lines[2])}
}

// ipMessage returns the line ip prints for err: iproute2's own messages
// as they are, the kernel's extended ack as "Error: MSG.".
func ipMessage(err error) string {
	var a *ArgError
	var ad *AddrError
	var d *DuplicateError
	var u *UnknownError
	switch {
	case errors.As(err, &a), errors.As(err, &ad), errors.As(err, &d), errors.As(err, &u),
		errors.Is(err, ErrIncomplete), errors.Is(err, ErrMissingVNI), errors.Is(err, ErrExternalVNI),
		errors.Is(err, ErrVNIFilterNeedsExternal), errors.Is(err, ErrGroupAndRemote), errors.Is(err, ErrGroupNeedsDev):
		return err.Error()
	}
	return "Error: " + err.Error() + "."
}

func decodeIPJSON(t *testing.T, b []byte) Link {
	t.Helper()
	var links []Link
	if err := json.Unmarshal(b, &links); err != nil || len(links) != 1 {
		t.Fatalf("decoding ip -j output %s: %v", b, err)
	}
	l := links[0]
	l.Name, l.MTU, l.Address = "", 0, [6]byte{}
	return l
}

// dumped returns what of l the kernel reports (vxlan_fill_info): an
// unspecified remote or local is not reported, so its family is lost.
func dumped(l Link) Link {
	if l.Remote.IsUnspecified() {
		l.Remote = netip.Addr{}
	}
	if l.Local.IsUnspecified() {
		l.Local = netip.Addr{}
	}
	return l
}

// ipMessageFor adjusts ipMessage to the iproute2 version: before 6.13
// duparg2 said "is a garbage".
func ipMessageFor(err error, version int) string {
	m := ipMessage(err)
	if version < 613 {
		m = strings.Replace(m, "is garbage.", "is a garbage.", 1)
	}
	return m
}

// interopAdd lists `ip link add` arguments that iproute2 6.1 knows. Every
// case gives dstport, whose default differs (gpe excepted, where iproute2
// sends 4790 itself).
var interopAdd = []string{
	"id 42 remote 10.0.0.2 local 10.0.0.1 dev v0 dstport 4789",
	"id 42 dstport 8472",
	"id 7 group 239.1.1.1 dev v0 ttl inherit tos inherit df inherit nolearning proxy rsc l2miss l3miss noudpcsum udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx gbp maxaddress 10 ageing 0 srcport 1000 2000 dstport 8472",
	"id 8 remote 2001:db8::1 flowlabel 0x12345 tos 10 ttl 10 df set dstport 4789",
	"id 9 local fe80::1 remote fe80::2 dev v0 dstport 4789",
	"id 9 local fe80::1 group ff02::9 dev v0 dstport 4789",
	"external gpe",
	"external vnifilter dstport 4789",
	"external dstport 4789 learning",
	"id 1 remote :: dstport 4789",
	"id 1 remote 10.0.0.2 local 0.0.0.0 dstport 4789",
	"id 1 remote 10.0.0.2 local default dstport 4789",
	"i 5 r 10.0.0.2 d v0 dst 4789 p 5 6 n t 7",
	"id 1 tos EF ageing none maxaddress unlimited dstport 4789",
	"id 1 srcport 0 0 dstport 0x12b5",
	// Refusals by iproute2.
	"remote 10.0.0.2 dstport 4789",
	"id 16777216 dstport 4789",
	"id 1 remote 10.0.0.2 group 239.1.1.1 dev v0 dstport 4789",
	"id 1 group 239.1.1.1 dstport 4789",
	"id 1 dstport 4789 dstport 4790",
	"id 1 learning nolearning dstport 4789",
	"id 1 local 10.0.0.1 remote 2001:db8::1 dstport 4789",
	"id 1 local any dstport 4789",
	"id 1 ttl 256 dstport 4789",
	"id 1 tos 100 dstport 4789",
	"id 1 df maybe dstport 4789",
	"id 1 flowlabel 0x100000 remote 2001:db8::1 dstport 4789",
	"id 1 bogus",
	"id 1 srcport 5",
	"external id 1 dstport 4789",
	"id 1 vnifilter dstport 4789",
	// Refusals by the kernel.
	"id 1 srcport 5 4 dstport 4789",
	"id 1 flowlabel 5 dstport 4789",
	"id 1 gpe",
	"external gpe learning",
	"external gpe gbp",
	"id 1 local fe80::1 remote 2001:db8::2 dev v0 dstport 4789",
	"id 1 remote fe80::2 dev v0 dstport 4789",
	"id 1 local fe80::1 dstport 4789",
}

func TestInteropIPLinkAdd(t *testing.T) {
	version := ipTool(t)
	style := StyleLegacy
	if version >= 604 {
		style = StyleCurrent
	}
	for _, args := range interopAdd {
		t.Run(args, func(t *testing.T) {
			words := strings.Fields(args)
			ip := runIP(t, "", words)
			l, err := ParseArgs(words)
			switch {
			case ip.err != "" && err == nil:
				t.Fatalf("ip refused %q with %q; ParseArgs accepted it: %+v", args, ip.err, l)
			case ip.err == "" && err != nil:
				t.Fatalf("ip accepted %q; ParseArgs: %v", args, err)
			case err != nil:
				if got := ipMessageFor(err, version); got != ip.err {
					t.Errorf("ParseArgs(%q) error\n %q\nip says\n %q", args, got, ip.err)
				}
				return
			}
			if got := l.DetailsStyle(style); got != ip.details {
				t.Errorf("DetailsStyle(%d) =\n %q\nip -d link show says\n %q", style, got, ip.details)
			}
			if got, want := decodeIPJSON(t, ip.json), dumped(l); got != want {
				t.Errorf("ip -d -j link show decodes to\n %+v\nParseArgs gives\n %+v", got, l)
			}
		})
	}
}

// interopSet lists `ip link set vx0 type vxlan` arguments, applied to a
// device created with interopBase (kci_test_encap_vxlan's device).
const interopBase = "id 42 group 239.1.1.1 dev v0 dstport 4789"

var interopSet = []string{
	"vni 43", "id 42", "group ffe5::5 dev v0", "group 239.1.1.2", "group 239.1.1.2 dev v0",
	"ttl inherit", "ttl 64", "ttl auto", "nolearning", "learning",
	"proxy", "noproxy", "norsc", "l2miss", "l3miss", "external", "noexternal",
	"udpcsum", "udp6zerocsumtx", "udp6zerocsumrx", "remcsumtx", "remcsumrx", "gbp", "gpe",
	"vnifilter", "novnifilter", "maxaddress 5", "srcport 1 2", "srcport 0 0", "srcport 5 4",
	"dstport 4789", "dstport 0", "ageing 0", "ageing 60", "tos 0x10", "df set", "flowlabel 5",
	"local 10.0.0.1", "local 2001:db8::1", "remote 10.1.1.1", "remote 10.1.1.1 local default", "dev lo",
	"gbp proxy",
}

func TestInteropIPLinkSet(t *testing.T) {
	version := ipTool(t)
	old := mustParse(t, interopBase)
	for _, args := range interopSet {
		t.Run(args, func(t *testing.T) {
			words := strings.Fields(args)
			ip := runIP(t, interopBase, words)
			n, err := old.Change(words)
			switch {
			case ip.err != "" && err == nil:
				t.Fatalf("ip refused %q with %q; Change accepted it: %+v", args, ip.err, n)
			case ip.err == "" && err != nil:
				t.Fatalf("ip accepted %q; Change: %v", args, err)
			case err != nil:
				if got := ipMessageFor(err, version); got != ip.err {
					t.Errorf("Change(%q) error\n %q\nip says\n %q", args, got, ip.err)
				}
				return
			}
			if got, want := decodeIPJSON(t, ip.json), dumped(n); got != want {
				t.Errorf("after ip link set, ip -d -j link show decodes to\n %+v\nChange gives\n %+v", got, n)
			}
		})
	}
}
