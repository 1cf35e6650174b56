package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// Backend is what the handler drives: the daemon's links, FDBs and
// neighbour tables. The handler has already parsed and checked every
// request against what it can know without the system; a Backend checks
// the rest (names in use, lower devices, MTU limits) and must leave
// everything unchanged when it refuses a request.
//
// Errors are converted with [ErrorOf]; a Backend returns an [*Error] for
// anything that needs iproute2's exact words (ErrNoDevice for an unknown
// link).
type Backend interface {
	// Links returns every link, sorted by interface index.
	Links(ctx context.Context, stats bool) ([]LinkInfo, error)
	// Link returns one link, or ErrNoDevice.
	Link(ctx context.Context, name string, stats bool) (LinkInfo, error)
	// AddLink creates a link; cfg is canonical and valid, with Name set.
	AddLink(ctx context.Context, cfg config.Link, up bool) (LinkInfo, error)
	// SetLink changes a link.
	SetLink(ctx context.Context, name string, ch LinkChange) (LinkInfo, error)
	// DelLink deletes a link.
	DelLink(ctx context.Context, name string) error
	// UpdateFDB performs a bridge fdb add/append/replace/del on link dev.
	// via is the name of the interface for req.Ifindex, which the backend
	// resolves; "" means none.
	UpdateFDB(ctx context.Context, op FDBOp, dev string, req fdb.Request, via string) error
	// FlushFDB performs a bridge fdb flush on link dev.
	FlushFDB(ctx context.Context, dev string, f fdb.FlushFilter) (int, error)
	// FDB dumps the FDB of link dev, or of every link when dev is "".
	FDB(ctx context.Context, dev string) ([]FDBEntry, error)
	// UpdateMDB performs a bridge mdb add/replace/del on link dev; via is
	// the name of the interface for req.Ifindex, "" for none.
	UpdateMDB(ctx context.Context, op MDBOp, dev string, req fdb.MDBRequest, via string) error
	// FlushMDB performs a bridge mdb flush on link dev and returns the
	// number of remotes it deleted.
	FlushMDB(ctx context.Context, dev string, f fdb.MDBFlushFilter) (int, error)
	// MDB dumps the MDB of link dev, or of every link when dev is "".
	// With get, it returns that entry of link dev, or the kernel's ENOENT.
	MDB(ctx context.Context, dev string, get *MDBGet) ([]MDBEntry, error)
	// UpdateVNI performs a bridge vni add or del of VNIs first to last
	// (first when they are equal) on link dev; remote is an add's group or
	// remote, or the zero Addr. It checks the request with CheckVNIUpdate
	// and changes nothing when it refuses it.
	UpdateVNI(ctx context.Context, op VNIOp, dev string, first, last header.VNI, remote netip.Addr) error
	// VNIFilters returns the VNI filter of link dev, or of every link
	// created with vnifilter that has VNIs when dev is ""; stats adds
	// each VNI's counters. A dev without vnifilter is ErrNoVNIFilter.
	VNIFilters(ctx context.Context, dev string, stats bool) ([]VNIFilter, error)
	// Neighbors returns the neighbour table of link dev, or of every link
	// when dev is "".
	Neighbors(ctx context.Context, dev string) ([]Neighbor, error)
	// Subscribe returns a channel of events that pass f. The backend
	// closes it when ctx is done. A subscriber that does not keep up may
	// lose events; it must not slow the datapath down.
	Subscribe(ctx context.Context, f EventFilter) (<-chan Event, error)
}

// DeviceFinder is an optional interface of a Backend: HasDevice reports
// whether name is a network interface of the daemon's namespace, as
// iproute2's ll_name_to_index finds it. The handler then answers a request
// that names an interface that does not exist as ip and bridge do, with
// `Cannot find device "NAME"`, before any check of the driver.
type DeviceFinder interface {
	HasDevice(name string) bool
}

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	// Version is reported by GET /v1/version.
	Version string
	// Logger receives one record per refused or changing request; nil
	// discards them.
	Logger *slog.Logger
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

type handler struct {
	b       Backend
	version string
	log     *slog.Logger
}

// NewHandler returns the HTTP handler of the control API, serving b. It
// needs no socket: tests drive it with net/http/httptest.
func NewHandler(b Backend, opts HandlerOptions) http.Handler {
	h := &handler{b: b, version: opts.Version, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.version == "" {
		h.version = "devel"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", h.getVersion)
	mux.HandleFunc("GET /v1/links", h.listLinks)
	mux.HandleFunc("POST /v1/links", h.addLink)
	mux.HandleFunc("GET /v1/links/{name}", h.getLink)
	mux.HandleFunc("PATCH /v1/links/{name}", h.setLink)
	mux.HandleFunc("DELETE /v1/links/{name}", h.delLink)
	mux.HandleFunc("GET /v1/fdb", h.showFDB)
	mux.HandleFunc("POST /v1/fdb", h.updateFDB)
	mux.HandleFunc("POST /v1/fdb/flush", h.flushFDB)
	mux.HandleFunc("GET /v1/mdb", h.showMDB)
	mux.HandleFunc("POST /v1/mdb", h.updateMDB)
	mux.HandleFunc("POST /v1/mdb/flush", h.flushMDB)
	mux.HandleFunc("GET /v1/vni", h.showVNI)
	mux.HandleFunc("POST /v1/vni", h.updateVNI)
	mux.HandleFunc("GET /v1/neigh", h.showNeigh)
	mux.HandleFunc("GET /v1/monitor", h.monitor)
	return mux
}

// errorBody is the JSON shape of a refusal.
type errorBody struct {
	Error *Error `json:"error"`
}

// status returns the HTTP status for a refusal.
func status(e *Error) int {
	switch syscall.Errno(e.Code) {
	case syscall.ENODEV, syscall.ENOENT:
		return http.StatusNotFound
	case syscall.EEXIST:
		return http.StatusConflict
	case syscall.EIO:
		return http.StatusInternalServerError
	}
	if e.Usage || e.Code == int(syscall.EINVAL) || e.Code == int(syscall.ERANGE) {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorOf(err)
	h.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "code", e.Code, "error", e.Message)
	writeJSON(w, status(e), errorBody{e})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decode reads a JSON request body into v, strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Usagef("vtepd: malformed request: %v", err)
	}
	return nil
}

// flag reports whether query parameter name is set to a true value ("1",
// "true", or present with no value).
func flag(r *http.Request, name string) bool {
	q := r.URL.Query()
	if !q.Has(name) {
		return false
	}
	v := q.Get(name)
	if v == "" {
		return true
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

func (h *handler) getVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo{Version: h.version, API: APIVersion, Go: runtime.Version()})
}

func (h *handler) listLinks(w http.ResponseWriter, r *http.Request) {
	ls, err := h.b.Links(r.Context(), flag(r, "stats"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ls == nil {
		ls = []LinkInfo{}
	}
	writeJSON(w, http.StatusOK, ls)
}

func (h *handler) getLink(w http.ResponseWriter, r *http.Request) {
	li, err := h.b.Link(r.Context(), r.PathValue("name"), flag(r, "stats"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, li)
}

// nameError converts a config.NameError into iproute2's words for an
// invalid interface name (ip/iplink.c: invarg "not a valid ifname").
func nameError(err error) error {
	var ne *config.NameError
	if errors.As(err, &ne) {
		return Usagef("Error: argument %q is wrong: %q not a valid ifname", ne.Name, ne.Field)
	}
	return err
}

func (h *handler) addLink(w http.ResponseWriter, r *http.Request) {
	var req LinkAddRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Name == "" {
		h.fail(w, r, Usagef(`Not enough information: "dev" argument is required.`))
		return
	}
	cfg, err := config.ParseArgs(req.Args)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cfg.Name = req.Name
	if err := cfg.Validate(); err != nil {
		h.fail(w, r, nameError(err))
		return
	}
	li, err := h.b.AddLink(r.Context(), cfg, req.Up)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("link added", "link", cfg.Name, "args", cfg.Args())
	writeJSON(w, http.StatusCreated, li)
}

func (h *handler) setLink(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req LinkSetRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	// dev_validate_mtu's extended acks, before the device is looked at.
	switch {
	case req.MTU > config.MaxMTU:
		h.fail(w, r, ExtAck(syscall.EINVAL, "mtu greater than device maximum"))
		return
	case req.MTU < 0 || (req.MTU > 0 && req.MTU < config.MinMTU):
		h.fail(w, r, ExtAck(syscall.EINVAL, "mtu less than device minimum"))
		return
	}
	ch := LinkChange{Up: req.Up}
	if len(req.Args) > 0 || req.MTU != 0 || req.Address != nil {
		cur, err := h.b.Link(r.Context(), name, false)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		old, err := cur.Config()
		if err != nil {
			h.fail(w, r, fmt.Errorf("vtepd: link %s has an unreadable configuration: %w", name, err))
			return
		}
		words := append([]string(nil), req.Args...)
		if req.MTU != 0 {
			words = append(words, "mtu", strconv.Itoa(req.MTU))
		}
		if req.Address != nil {
			words = append(words, "address", req.Address.String())
		}
		cfg, err := old.Change(words)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ch.Config = &cfg
	}
	if ch.Config == nil && ch.Up == nil {
		li, err := h.b.Link(r.Context(), name, false)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, li)
		return
	}
	li, err := h.b.SetLink(r.Context(), name, ch)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	attrs := []any{"link", name}
	if ch.Up != nil {
		attrs = append(attrs, "up", *ch.Up)
	}
	if ch.Config != nil {
		attrs = append(attrs, "args", ch.Config.Args())
	}
	h.log.Info("link changed", attrs...)
	writeJSON(w, http.StatusOK, li)
}

func (h *handler) delLink(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.b.DelLink(r.Context(), name); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("link deleted", "link", name)
	w.WriteHeader(http.StatusNoContent)
}

// FDBStateFlags returns the ndm_state and ndm_flags that `bridge fdb`
// sends for a request (bridge/fdb.c fdb_modify): state NUD_NOARP, plus
// PERMANENT for permanent (the default), REACHABLE for static, REACHABLE
// alone for dynamic; flags NTF_SELF unless master, plus router,
// extern_learn, sticky and use.
func FDBStateFlags(req *FDBRequest) (fdb.State, fdb.Flags, error) {
	state := fdb.StateNoARP
	switch req.State {
	case "", "permanent", "local":
		state |= fdb.StatePermanent
	case "static", "temp":
		state |= fdb.StateReachable
	case "dynamic":
		state = fdb.StateReachable
	default:
		return 0, 0, Usagef("Error: argument %q is wrong: invalid state", req.State)
	}
	var flags fdb.Flags
	if req.Master {
		flags |= fdb.FlagMaster
	}
	if req.Self || !req.Master {
		flags |= fdb.FlagSelf
	}
	if req.Router {
		flags |= fdb.FlagRouter
	}
	if req.ExternLearn {
		flags |= fdb.FlagExtLearned
	}
	if req.Sticky {
		flags |= fdb.FlagSticky
	}
	if req.Use {
		flags |= fdb.FlagUse
	}
	return state, flags, nil
}

// FDBRequestOf converts a wire request into the fdb.Request the kernel's
// vxlan driver would receive (Ifindex is left for the backend to resolve
// from Via).
func FDBRequestOf(req *FDBRequest) (fdb.Request, error) {
	switch req.Op {
	case FDBAdd, FDBAppend, FDBReplace, FDBDel:
	default:
		return fdb.Request{}, Usagef("Command %q is unknown, try \"bridge fdb help\".", string(req.Op))
	}
	if req.Dev == "" {
		return fdb.Request{}, Usagef("Device and address are required arguments.")
	}
	state, flags, err := FDBStateFlags(req)
	if err != nil {
		return fdb.Request{}, err
	}
	fr := fdb.Request{MAC: req.MAC, State: state, Flags: flags, Dst: req.Dst.Unmap(), Port: req.Port, NHID: req.NHID}
	if req.VNI != nil {
		if *req.VNI > uint32(header.MaxVNI) {
			return fdb.Request{}, Usagef("Error: argument %q is wrong: invalid VNI", strconv.FormatUint(uint64(*req.VNI), 10))
		}
		fr.VNI, fr.HasVNI = header.VNI(*req.VNI), true
	}
	if req.SrcVNI != nil {
		if *req.SrcVNI > uint32(header.MaxVNI) {
			return fdb.Request{}, Usagef("Error: argument %q is wrong: invalid src VNI", strconv.FormatUint(uint64(*req.SrcVNI), 10))
		}
		fr.SrcVNI, fr.HasSrcVNI = header.VNI(*req.SrcVNI), true
	}
	if req.NHID != 0 && (req.Dst.IsValid() || req.Port != 0 || req.VNI != nil) {
		return fdb.Request{}, Usagef("dst, port, vni are mutually exclusive with nhid")
	}
	return fr, nil
}

func (h *handler) updateFDB(w http.ResponseWriter, r *http.Request) {
	var req FDBRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	fr, err := FDBRequestOf(&req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Master {
		// The bridge FDB of a port belongs to the kernel bridge; `bridge
		// fdb ... master` reaches it directly.
		h.fail(w, r, Rtnetlink(syscall.EOPNOTSUPP))
		return
	}
	if err := h.b.UpdateFDB(r.Context(), req.Op, req.Dev, fr, req.Via); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("fdb "+string(req.Op), "link", req.Dev, "mac", req.MAC.String(), "dst", req.Dst)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) flushFDB(w http.ResponseWriter, r *http.Request) {
	var req FlushRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Dev == "" {
		h.fail(w, r, Usagef("Device is a required argument."))
		return
	}
	if req.Master {
		h.fail(w, r, Rtnetlink(syscall.EOPNOTSUPP))
		return
	}
	if req.SrcVNI > uint32(header.MaxVNI) || req.VNI > uint32(header.MaxVNI) {
		h.fail(w, r, Usagef("Error: VNI must be lower than 16777216."))
		return
	}
	f := fdb.FlushFilter{
		State: req.State, StateMask: req.StateMask, Flags: req.Flags, FlagsMask: req.FlagsMask,
		SrcVNI: header.VNI(req.SrcVNI), NHID: req.NHID, VNI: header.VNI(req.VNI), Port: req.Port,
		Dst: req.Dst.Unmap(),
	}
	n, err := h.b.FlushFDB(r.Context(), req.Dev, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("fdb flush", "link", req.Dev, "deleted", n)
	writeJSON(w, http.StatusOK, FlushResult{Deleted: n})
}

func (h *handler) showFDB(w http.ResponseWriter, r *http.Request) {
	es, err := h.b.FDB(r.Context(), r.URL.Query().Get("dev"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if es == nil {
		es = []FDBEntry{}
	}
	writeJSON(w, http.StatusOK, es)
}

func (h *handler) showNeigh(w http.ResponseWriter, r *http.Request) {
	ns, err := h.b.Neighbors(r.Context(), r.URL.Query().Get("dev"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ns == nil {
		ns = []Neighbor{}
	}
	writeJSON(w, http.StatusOK, ns)
}

// monitor streams events as JSON lines until the client goes away or the
// backend closes the subscription.
func (h *handler) monitor(w http.ResponseWriter, r *http.Request) {
	f := EventFilter{FDB: flag(r, "fdb"), MDB: flag(r, "mdb"), Miss: flag(r, "miss"), Dev: r.URL.Query().Get("dev")}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if f.Dev != "" {
		if _, err := h.b.Link(ctx, f.Dev, false); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	events, err := h.b.Subscribe(ctx, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !f.Match(&ev) {
				continue
			}
			if err := enc.Encode(&ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
