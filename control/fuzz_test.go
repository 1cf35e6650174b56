package control

import (
	"encoding/json"
	"net/http"
	"testing"
)

var endpoints = []struct{ method, path string }{
	{"POST", "/v1/links"}, {"PATCH", "/v1/links/vx0"}, {"POST", "/v1/fdb"}, {"POST", "/v1/fdb/flush"},
	{"POST", "/v1/vni"},
}

// FuzzHandler sends arbitrary bodies to every endpoint that changes
// something. The handler must not panic, must answer with JSON, and a
// refusal must leave the backend as it was.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		`{"name":"vx1","args":["id","7","dstport","4789"]}`,
		`{"up":true,"mtu":1400,"args":["ttl","9"]}`,
		`{"args":["id","43"]}`,
		`{"op":"add","dev":"vx0","mac":"02:00:00:00:00:09","dst":"10.0.0.9","state":"dynamic"}`,
		`{"op":"replace","dev":"vx0","mac":"00:00:00:00:00:00","dst":"10.0.0.9"}`,
		`{"op":"del","dev":"vx0","mac":"02:00:00:00:00:01","vni":16777216}`,
		`{"dev":"vx0","state":128,"state_mask":128,"flags":16,"flags_mask":16}`,
		`{"dev":"vx0","dst":"::1","src_vni":3}`,
		`{"op":"add","dev":"vxf","vni":100,"vniEnd":110,"group":"239.1.1.1"}`,
		`{"op":"add","dev":"vxf","vni":5,"remote":"10.0.0.2"}`,
		`{"op":"del","dev":"vxf","vni":1,"vniEnd":2}`,
		`{"op":"del","dev":"vx0","vni":16777216}`,
		`{`, `null`, `[]`, `{"name":""}`,
	}
	for _, s := range seeds {
		for i := range len(endpoints) {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		b, h := newTestHandler()
		addVX0(t, h)
		addVXF(t, h)
		ok(t, h, "POST", "/v1/vni", VNIRequest{Op: VNIAdd, Dev: "vxf", VNI: 1, Remote: mustAddr("10.0.0.7")}, nil)
		ok(t, h, "POST", "/v1/fdb", fdbReq(FDBAdd, "02:00:00:00:00:01", "10.0.0.3", nil), nil)
		before := b.state()
		ep := endpoints[which%uint8(len(endpoints))]
		method, path := ep.method, ep.path
		code, out := call(t, h, method, path, body)
		if code == http.StatusNoContent {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%s %s %q: status %d, answer is not JSON: %q", method, path, body, code, out)
		}
		if code >= 400 {
			var eb errorBody
			if err := json.Unmarshal(out, &eb); err != nil || eb.Error == nil || eb.Error.Message == "" {
				t.Fatalf("%s %s %q: bad refusal %q", method, path, body, out)
			}
			if after := b.state(); after != before {
				t.Fatalf("%s %s %q: refused (%s) but the state changed:\n%s", method, path, body, eb.Error.Message, after)
			}
		}
	})
}
