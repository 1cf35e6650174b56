package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vtepd/vtep/header"
)

// File is the daemon's declarative configuration (`vtepd -config FILE`):
// the VXLAN devices to create and the static FDB and neighbour entries to
// install on them, as
//
//	links:
//	  - name: vx0
//	    args: "id 42 local 10.0.0.1 dstport 4789 nolearning"
//	    up: true
//	    addresses: [10.42.0.1/24, "fd42::1/64"]
//	fdb:
//	  - {mac: "00:00:00:00:00:00", dev: vx0, dst: 10.0.0.2, op: append}
//	  - {mac: "02:00:00:00:00:02", dev: vx0, dst: 10.0.0.2, state: static}
//	mdb:
//	  - {dev: vx0, grp: 239.1.1.1, dst: 10.0.0.3}
//	neighbors:
//	  - {dev: vx0, ip: 10.42.0.2, lladdr: "02:00:00:00:00:02"}
//
// A link's args are the words after `ip link add NAME type vxlan` (see
// [ParseArgs]). An FDB entry is `bridge fdb OP MAC dev DEV {dst DST [port
// PORT] [vni VNI] [via DEV] | nhid ID} [src_vni VNI] [STATE] [router]
// [extern_learn] self`; an MDB entry is `bridge mdb OP dev DEV port DEV grp GROUP ...
// permanent dst DST ...` (see [MDBSpec]); a neighbour is `ip neigh add IP
// lladdr LLADDR dev DEV [router] nud permanent`. See testdata/example.yaml.
type File struct {
	Links     []LinkSpec
	FDB       []FDBSpec
	MDB       []MDBSpec
	Neighbors []NeighSpec
}

// LinkSpec is one entry of links.
type LinkSpec struct {
	// Link is the device; Link.Name is the entry's name.
	Link Link
	// Up says whether to set the device up.
	Up bool
	// Addresses are the IP addresses to add, as `ip addr add`: a bare
	// address is a /32 or /128.
	Addresses []netip.Prefix
	// Line is the entry's line in the file.
	Line int
}

// FDBState is the state of a static FDB entry.
type FDBState uint8

const (
	// FDBPermanent is bridge fdb's default, "permanent" (NUD_NOARP|
	// NUD_PERMANENT): never aged, blocks roaming.
	FDBPermanent FDBState = iota
	// FDBStatic is "static" (NUD_NOARP|NUD_REACHABLE): never aged, blocks
	// roaming.
	FDBStatic
	// FDBDynamic is "dynamic" (NUD_REACHABLE): aged like a learned entry,
	// and may move.
	FDBDynamic
)

func (s FDBState) String() string {
	switch s {
	case FDBPermanent:
		return "permanent"
	case FDBStatic:
		return "static"
	case FDBDynamic:
		return "dynamic"
	}
	return fmt.Sprintf("FDBState(%d)", uint8(s))
}

// FDBOp is how an FDB entry is installed (bridge fdb add, append,
// replace).
type FDBOp uint8

const (
	// FDBAdd creates the entry; it fails if one exists for the MAC
	// (NLM_F_CREATE|NLM_F_EXCL).
	FDBAdd FDBOp = iota
	// FDBAppend adds a remote to the entry for a multicast or all-zeros
	// MAC, creating it if needed (NLM_F_CREATE|NLM_F_APPEND).
	FDBAppend
	// FDBReplace creates the entry or replaces its first remote; unicast
	// MACs only (NLM_F_CREATE|NLM_F_REPLACE).
	FDBReplace
)

func (o FDBOp) String() string {
	switch o {
	case FDBAdd:
		return "add"
	case FDBAppend:
		return "append"
	case FDBReplace:
		return "replace"
	}
	return fmt.Sprintf("FDBOp(%d)", uint8(o))
}

// FDBSpec is one entry of fdb. Port, VNI and SrcVNI hold the values the
// kernel uses when they are not given (vxlan_fdb_parse): the device's
// port and VNI.
type FDBSpec struct {
	MAC         header.MAC
	Dev         string
	Dst         netip.Addr
	Port        uint16
	VNI         header.VNI
	SrcVNI      header.VNI
	Via         string // lower device for this remote, or ""
	NHID        uint32 // FDB nexthop group (`nhid`) instead of a remote, or 0
	State       FDBState
	Router      bool
	ExternLearn bool
	Op          FDBOp
	Line        int
}

// NeighSpec is one entry of neighbors: a permanent neighbour on a VXLAN
// device, as the proxy option answers from.
type NeighSpec struct {
	Dev    string
	IP     netip.Addr
	LLAddr header.MAC
	Router bool
	Line   int
}

// Link returns the links entry named name.
func (f *File) Link(name string) (LinkSpec, bool) {
	for _, l := range f.Links {
		if l.Link.Name == name {
			return l, true
		}
	}
	return LinkSpec{}, false
}

// FileError is a problem with one entry of a configuration file.
type FileError struct {
	Path string // file name, or "" for ParseFile
	Line int    // line of the entry
	Item string // e.g. "links[0] (vx0)", "fdb[3]"
	Err  error
}

func (e *FileError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteByte(':')
	} else {
		b.WriteString("line ")
	}
	fmt.Fprintf(&b, "%d: %s: %v", e.Line, e.Item, e.Err)
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// ErrFile is the class of errors in a configuration file that are not
// errors of a link's args: missing or malformed fields, references to
// undefined links, conflicting entries.
var ErrFile = errors.New("invalid configuration file")

func fileErr(format string, args ...any) error {
	return &fileProblem{msg: fmt.Sprintf(format, args...)}
}

type fileProblem struct{ msg string }

func (e *fileProblem) Error() string        { return e.msg }
func (e *fileProblem) Is(target error) bool { return target == ErrFile }

// LoadFile reads and validates the configuration file at path; see
// [ParseFile]. Errors name the file.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parseFile(b, path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ParseFile parses and validates a configuration file. Decoding is
// strict: unknown fields, duplicate keys and values of the wrong type are
// errors, reported with their line. Every entry is then checked, and all
// problems are returned together (errors.Join of *FileError):
//
//   - links: name set, valid and unique; args parse ([ParseArgs]);
//     addresses are prefixes or addresses, not repeated; no two links
//     share a VNI, port, address family and receive flags (the kernel's
//     vxlan_vni_in_use, "A VXLAN device with the specified VNI already
//     exists");
//   - fdb: mac, dev and dst are given; dev is a link of the file; dst has
//     the link's address family (EAFNOSUPPORT); vni and src_vni fit 24
//     bits, src_vni only on external links; state and op are known; add
//     does not hit an existing entry, including the all-zeros entry the
//     link's remote creates (EEXIST); replace is for unicast MACs
//     (EOPNOTSUPP); append to an existing unicast MAC is refused, since
//     the kernel would silently not add the remote; entries fit the
//     link's maxaddress (ENOSPC);
//   - mdb: dev, grp and dst are given and parse; dst has the link's
//     address family; filter_mode is include or exclude and comes with
//     any source_list; proto is a name or number; vni and src_vni fit 24
//     bits, src_vni only on external links; op is add or replace, and add
//     does not list the same remote of an entry twice. The vxlan
//     driver's own MDB rules are checked when the daemon applies them;
//   - neighbors: dev, ip and lladdr are given; dev is a link of the file
//     and not a gpe link (which has no link layer); no (dev, ip) twice.
func ParseFile(b []byte) (*File, error) { return parseFile(b, "") }

// The YAML shapes. Field names are the file's keys.
type (
	rawFile struct {
		Links     []rawLink  `yaml:"links"`
		FDB       []rawFDB   `yaml:"fdb"`
		MDB       []rawMDB   `yaml:"mdb"`
		Neighbors []rawNeigh `yaml:"neighbors"`
	}
	rawLink struct {
		Name      string   `yaml:"name"`
		Args      string   `yaml:"args"`
		Up        bool     `yaml:"up"`
		Addresses []string `yaml:"addresses"`
	}
	rawFDB struct {
		MAC         string  `yaml:"mac"`
		Dev         string  `yaml:"dev"`
		Dst         string  `yaml:"dst"`
		Port        uint16  `yaml:"port"`
		VNI         *uint32 `yaml:"vni"`
		SrcVNI      *uint32 `yaml:"src_vni"`
		Via         string  `yaml:"via"`
		NHID        uint32  `yaml:"nhid"`
		State       string  `yaml:"state"`
		Router      bool    `yaml:"router"`
		ExternLearn bool    `yaml:"extern_learn"`
		Op          string  `yaml:"op"`
	}
	rawNeigh struct {
		Dev    string `yaml:"dev"`
		IP     string `yaml:"ip"`
		LLAddr string `yaml:"lladdr"`
		Router bool   `yaml:"router"`
	}
)

// yamlTypeNames maps the Go names in yaml's messages to the file's words.
var yamlTypeNames = strings.NewReplacer(
	"type config.rawFile", "the file",
	"type config.rawLink", "a links entry",
	"type config.rawFDB", "an fdb entry",
	"type config.rawNeigh", "a neighbors entry",
	"type config.rawMDB", "an mdb entry",
	"config.rawFile", "the file",
	"config.rawLink", "a links entry",
	"config.rawFDB", "an fdb entry",
	"config.rawNeigh", "a neighbors entry",
	"config.rawMDB", "an mdb entry",
)

func parseFile(b []byte, path string) (*File, error) {
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && err != io.EOF {
		msg := yamlTypeNames.Replace(err.Error())
		if path != "" {
			msg = path + ": " + msg
		}
		return nil, &yamlError{msg: msg, err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, &yamlError{msg: withPath(path, "yaml: only one document is allowed"), err: err}
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(b, &doc) // cannot fail: Decode above succeeded
	lines := func(key string) []int { return itemLines(&doc, key) }

	v := validator{path: path, f: &File{}}
	v.links(raw.Links, lines("links"))
	v.fdb(raw.FDB, lines("fdb"))
	v.mdb(raw.MDB, lines("mdb"))
	v.neighbors(raw.Neighbors, lines("neighbors"))
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return v.f, nil
}

// yamlError is a decoding error, with yaml's line numbers.
type yamlError struct {
	msg string
	err error
}

func (e *yamlError) Error() string        { return e.msg }
func (e *yamlError) Unwrap() error        { return e.err }
func (e *yamlError) Is(target error) bool { return target == ErrFile }

func withPath(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// itemLines returns the line of each item of the top-level sequence key.
func itemLines(doc *yaml.Node, key string) []int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			var ls []int
			for _, n := range m.Content[i+1].Content {
				ls = append(ls, n.Line)
			}
			return ls
		}
	}
	return nil
}

type validator struct {
	path string
	f    *File
	errs []error
}

func (v *validator) fail(line int, item string, err error) {
	v.errs = append(v.errs, &FileError{Path: v.path, Line: line, Item: item, Err: err})
}

func lineOf(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

func (v *validator) links(raws []rawLink, lines []int) {
	byName := map[string]int{}
	for i, r := range raws {
		line := lineOf(lines, i)
		item := fmt.Sprintf("links[%d]", i)
		if r.Name != "" {
			item += " (" + r.Name + ")"
		}
		bad := func(err error) { v.fail(line, item, err) }
		switch {
		case r.Name == "":
			bad(fileErr(`"name" is required`))
			continue
		case !validIfname(r.Name):
			bad(&NameError{Field: "name", Name: r.Name})
			continue
		}
		if j, dup := byName[r.Name]; dup {
			bad(fileErr("name %q is already used by links[%d] (line %d)", r.Name, j, lineOf(lines, j)))
			continue
		}
		byName[r.Name] = i
		l, err := ParseArgs(strings.Fields(r.Args))
		if err != nil {
			bad(err)
			continue
		}
		l.Name = r.Name
		spec := LinkSpec{Link: l, Up: r.Up, Line: line}
		seen := map[netip.Prefix]bool{}
		for _, s := range r.Addresses {
			p, err := parsePrefix(s)
			if err != nil {
				bad(fileErr("address %q: %v", s, err))
				continue
			}
			if seen[p] {
				bad(fileErr("address %s is listed twice", p))
				continue
			}
			seen[p] = true
			spec.Addresses = append(spec.Addresses, p)
		}
		for _, o := range v.f.Links {
			if vniInUse(o.Link, l) {
				bad(fileErr("%v: links entry %s (line %d) has the same VNI %d, dstport %d and receive flags",
					errVNIInUse, o.Link.Name, o.Line, l.VNI, l.Port()))
			}
		}
		v.f.Links = append(v.f.Links, spec)
	}
}

var errVNIInUse = errors.New("A VXLAN device with the specified VNI already exists")

// vniInUse is the kernel's vxlan_vni_in_use for two configurations
// (vnifilter devices are compared by their device VNI only; their VNI
// lists are not part of the configuration).
func vniInUse(a, b Link) bool {
	return a.VNI == b.VNI && SameReceiver(a, b)
}

// SameReceiver reports whether a new link b would receive what the existing
// link a receives, so that the two may not share a VNI (vxlan_vni_in_use,
// the VNI itself aside): the same port, family and receive flags, and,
// when b is IPv6 link-local, the same lower device.
func SameReceiver(a, b Link) bool {
	const mask = RcvFlags | FlagIPv6
	if a.Port() != b.Port() || a.Flags()&mask != b.Flags()&mask {
		return false
	}
	return b.Flags()&FlagIPv6LinkLocal == 0 || a.Dev == b.Dev
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, errors.New("not an address/prefix-length")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not an address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

type fdbKey struct {
	dev string
	mac header.MAC
	vni header.VNI // source VNI, for external links
}

type fdbRemote struct {
	dst  netip.Addr
	port uint16
	vni  header.VNI
	via  string
	nhid uint32
}

type fdbEntry struct {
	remotes []fdbRemote
	where   string // what created it, for messages
}

func (v *validator) fdb(raws []rawFDB, lines []int) {
	entries := map[fdbKey]*fdbEntry{}
	count := map[string]int{}
	for _, ls := range v.f.Links {
		l := ls.Link
		if l.HasRemote() {
			k := fdbKey{l.Name, header.MAC{}, l.VNI}
			entries[k] = &fdbEntry{
				remotes: []fdbRemote{{l.Remote, l.Port(), l.VNI, l.Dev, 0}},
				where:   fmt.Sprintf("the default entry of %s's remote (line %d)", l.Name, ls.Line),
			}
			count[l.Name]++
		}
	}
	for i, r := range raws {
		line := lineOf(lines, i)
		item := fmt.Sprintf("fdb[%d]", i)
		bad := func(format string, args ...any) { v.fail(line, item, fileErr(format, args...)) }

		var e FDBSpec
		e.Line = line
		if r.MAC == "" {
			bad(`"mac" is required`)
			continue
		}
		m, err := header.ParseMAC(r.MAC)
		if err != nil {
			bad("invalid mac %q", r.MAC)
			continue
		}
		e.MAC = m
		if r.Dev == "" {
			bad(`"dev" is required`)
			continue
		}
		ls, ok := v.f.Link(r.Dev)
		if !ok {
			bad("dev %q is not a link of this file", r.Dev)
			continue
		}
		l := ls.Link
		e.Dev = r.Dev
		e.SrcVNI = l.VNI
		if r.NHID != 0 {
			// vxlan_fdb_parse: a nexthop entry has no remote of its own.
			if r.Dst != "" || r.Port != 0 || r.VNI != nil || r.Via != "" {
				bad("dst, port, vni and via are mutually exclusive with nhid")
				continue
			}
			e.NHID = r.NHID
		} else if msg := fdbRemoteOf(&e, &r, l); msg != "" {
			bad("%s", msg)
			continue
		}
		if r.SrcVNI != nil {
			if *r.SrcVNI > uint32(header.MaxVNI) {
				bad("invalid src_vni %d", *r.SrcVNI)
				continue
			}
			if !l.External {
				bad("src_vni is only used on external links; %s is not external", l.Name)
				continue
			}
			e.SrcVNI = header.VNI(*r.SrcVNI)
		}
		if r.Via != "" && !validIfname(r.Via) {
			v.fail(line, item, &NameError{Field: "via", Name: r.Via})
			continue
		}
		e.Via = r.Via
		switch r.State {
		case "", "permanent", "local":
			e.State = FDBPermanent
		case "static", "temp":
			e.State = FDBStatic
		case "dynamic":
			e.State = FDBDynamic
		default:
			bad(`state %q is not permanent, static or dynamic`, r.State)
			continue
		}
		switch r.Op {
		case "", "add":
			e.Op = FDBAdd
		case "append":
			e.Op = FDBAppend
		case "replace":
			e.Op = FDBReplace
		default:
			bad(`op %q is not add, append or replace`, r.Op)
			continue
		}
		e.Router, e.ExternLearn = r.Router, r.ExternLearn

		k := fdbKey{e.Dev, e.MAC, l.VNI}
		if l.External {
			k.vni = e.SrcVNI
		}
		rem := fdbRemote{e.Dst, e.Port, e.VNI, e.Via, e.NHID}
		unicast := e.MAC.IsValidUnicast()
		old := entries[k]
		here := fmt.Sprintf("fdb[%d] (line %d)", i, line)
		switch {
		case e.Op == FDBReplace && !unicast:
			bad("Cannot replace non-unicast fdb entries")
			continue
		case old != nil && e.Op == FDBAdd:
			bad("File exists: %s is already in %s's FDB, from %s; use op: append", e.MAC, e.Dev, old.where)
			continue
		case old != nil && e.Op == FDBAppend && unicast:
			bad("%s already has an entry (%s) and append adds no second remote to a unicast MAC", e.MAC, old.where)
			continue
		case old != nil && e.Op == FDBAppend:
			old.remotes = append(old.remotes, rem)
		case old != nil: // replace
			old.remotes[0] = rem
		default:
			if l.MaxAddress != 0 && uint32(count[e.Dev]) >= l.MaxAddress {
				bad("No space left on device: %s has maxaddress %d", e.Dev, l.MaxAddress)
				continue
			}
			count[e.Dev]++
			entries[k] = &fdbEntry{remotes: []fdbRemote{rem}, where: here}
		}
		v.f.FDB = append(v.f.FDB, e)
	}
}

// fdbRemoteOf fills e's remote (dst, port, vni) from r for link l and
// returns what is wrong with it, or "".
func fdbRemoteOf(e *FDBSpec, r *rawFDB, l Link) string {
	if r.Dst == "" {
		return `"dst" is required`
	}
	dst, err := netip.ParseAddr(r.Dst)
	if err != nil || dst.Zone() != "" {
		return fmt.Sprintf("invalid dst %q", r.Dst)
	}
	if dst.Is6() != l.IsIPv6() {
		return fmt.Sprintf("dst %s: Address family not supported by protocol (%s is %s)", dst, l.Name, familyName(l.IsIPv6()))
	}
	e.Dst = dst
	e.Port = r.Port
	if e.Port == 0 {
		e.Port = l.Port()
	}
	e.VNI = l.VNI
	if r.VNI != nil {
		if *r.VNI > uint32(header.MaxVNI) {
			return fmt.Sprintf("invalid VNI %d", *r.VNI)
		}
		e.VNI = header.VNI(*r.VNI)
	}
	return ""
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// entryLink checks that an entry has its dev and the other required
// fields (name, value pairs), and returns the link dev names.
func (v *validator) entryLink(bad func(string, ...any), dev string, fields ...string) (LinkSpec, bool) {
	fields = append([]string{"dev", dev}, fields...)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			bad("%q is required", fields[i])
			return LinkSpec{}, false
		}
	}
	ls, ok := v.f.Link(dev)
	if !ok {
		bad("dev %q is not a link of this file", dev)
	}
	return ls, ok
}

func (v *validator) neighbors(raws []rawNeigh, lines []int) {
	type key struct {
		dev string
		ip  netip.Addr
	}
	seen := map[key]int{}
	for i, r := range raws {
		line := lineOf(lines, i)
		item := fmt.Sprintf("neighbors[%d]", i)
		bad := func(format string, args ...any) { v.fail(line, item, fileErr(format, args...)) }
		ls, ok := v.entryLink(bad, r.Dev, "ip", r.IP, "lladdr", r.LLAddr)
		if !ok {
			continue
		}
		if ls.Link.GPE {
			bad("%s is a gpe link, which has no link-layer addresses", r.Dev)
			continue
		}
		ip, err := netip.ParseAddr(r.IP)
		if err != nil || ip.Zone() != "" {
			bad("invalid ip %q", r.IP)
			continue
		}
		mac, err := header.ParseMAC(r.LLAddr)
		if err != nil {
			bad("invalid lladdr %q", r.LLAddr)
			continue
		}
		k := key{r.Dev, ip}
		if j, dup := seen[k]; dup {
			bad("File exists: %s on %s is already neighbors[%d] (line %d)", ip, r.Dev, j, lineOf(lines, j))
			continue
		}
		seen[k] = i
		v.f.Neighbors = append(v.f.Neighbors, NeighSpec{Dev: r.Dev, IP: ip, LLAddr: mac, Router: r.Router, Line: line})
	}
}
