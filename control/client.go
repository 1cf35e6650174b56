package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// DefaultSocket is where vtepd listens unless told otherwise.
const DefaultSocket = "/run/vtep/vtepd.sock"

// Client talks to vtepd over its unix socket. Its methods return an
// [*Error] when the daemon refuses a request, and a [*ConnError] when the
// daemon cannot be reached.
type Client struct {
	socket string
	hc     *http.Client
	base   string
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}, base: "http://vtepd"}
}

// NewClientHTTP returns a client that sends its requests to baseURL with
// hc, e.g. an httptest.Server's.
func NewClientHTTP(hc *http.Client, baseURL string) *Client {
	return &Client{socket: baseURL, hc: hc, base: baseURL}
}

// Socket returns the socket path the client connects to.
func (c *Client) Socket() string { return c.socket }

// ConnError reports that the daemon could not be reached.
type ConnError struct {
	Socket string
	Err    error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("vtep: cannot talk to vtepd at %s: %v", e.Socket, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &ConnError{Socket: c.socket, Err: fmt.Errorf("bad answer: %w", err)}
	}
	return nil
}

// send performs a request and returns a successful response; refusals
// are decoded into *Error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnError{Socket: c.socket, Err: unwrapURL(err)}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error == nil {
			return nil, &Error{Code: int(syscall.EIO), Message: fmt.Sprintf("vtep: vtepd answered %s: %s", resp.Status, bytes.TrimSpace(b))}
		}
		return nil, eb.Error
	}
	return resp, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, nil, &v)
	return v, err
}

func statsQuery(stats bool) url.Values {
	if !stats {
		return nil
	}
	return url.Values{"stats": {"1"}}
}

// Links returns every link; stats adds their counters.
func (c *Client) Links(ctx context.Context, stats bool) ([]LinkInfo, error) {
	var ls []LinkInfo
	err := c.do(ctx, http.MethodGet, "/v1/links", statsQuery(stats), nil, &ls)
	return ls, err
}

// Link returns one link.
func (c *Client) Link(ctx context.Context, name string, stats bool) (LinkInfo, error) {
	var li LinkInfo
	err := c.do(ctx, http.MethodGet, "/v1/links/"+url.PathEscape(name), statsQuery(stats), nil, &li)
	return li, err
}

// AddLink creates a link.
func (c *Client) AddLink(ctx context.Context, req LinkAddRequest) (LinkInfo, error) {
	var li LinkInfo
	err := c.do(ctx, http.MethodPost, "/v1/links", nil, &req, &li)
	return li, err
}

// SetLink changes a link.
func (c *Client) SetLink(ctx context.Context, name string, req LinkSetRequest) (LinkInfo, error) {
	var li LinkInfo
	err := c.do(ctx, http.MethodPatch, "/v1/links/"+url.PathEscape(name), nil, &req, &li)
	return li, err
}

// DelLink deletes a link.
func (c *Client) DelLink(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/links/"+url.PathEscape(name), nil, nil, nil)
}

// FDB dumps the FDB of link dev, or of every link if dev is "".
func (c *Client) FDB(ctx context.Context, dev string) ([]FDBEntry, error) {
	var q url.Values
	if dev != "" {
		q = url.Values{"dev": {dev}}
	}
	var es []FDBEntry
	err := c.do(ctx, http.MethodGet, "/v1/fdb", q, nil, &es)
	return es, err
}

// UpdateFDB performs a bridge fdb add, append, replace or del.
func (c *Client) UpdateFDB(ctx context.Context, req FDBRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/fdb", nil, &req, nil)
}

// FlushFDB performs a bridge fdb flush and returns the number of entries
// deleted.
func (c *Client) FlushFDB(ctx context.Context, req FlushRequest) (int, error) {
	var res FlushResult
	err := c.do(ctx, http.MethodPost, "/v1/fdb/flush", nil, &req, &res)
	return res.Deleted, err
}

// Neighbors returns the neighbour table of link dev, or of every link.
func (c *Client) Neighbors(ctx context.Context, dev string) ([]Neighbor, error) {
	var q url.Values
	if dev != "" {
		q = url.Values{"dev": {dev}}
	}
	var ns []Neighbor
	err := c.do(ctx, http.MethodGet, "/v1/neigh", q, nil, &ns)
	return ns, err
}

// Monitor calls fn for each event that passes f until ctx is done, fn
// returns an error, or the daemon ends the stream. It returns nil when
// ctx is done.
func (c *Client) Monitor(ctx context.Context, f EventFilter, fn func(Event) error) error {
	q := url.Values{}
	if f.FDB {
		q.Set("fdb", "1")
	}
	if f.MDB {
		q.Set("mdb", "1")
	}
	if f.Miss {
		q.Set("miss", "1")
	}
	if f.Dev != "" {
		q.Set("dev", f.Dev)
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/monitor", q, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxBody)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return &ConnError{Socket: c.socket, Err: fmt.Errorf("bad event: %w", err)}
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return &ConnError{Socket: c.socket, Err: err}
	}
	return nil
}
