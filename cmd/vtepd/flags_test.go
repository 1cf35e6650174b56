package main

import (
	"io"
	"testing"
)

// TestParseFlagsWorkers: -workers, -batch and -cpuprofile are parsed and
// checked; 0 workers means one per CPU (decided in run).
func TestParseFlagsWorkers(t *testing.T) {
	o, err := parseFlags([]string{"-workers", "3", "-batch", "128", "-cpuprofile", "/tmp/x.prof"}, io.Discard)
	if err != nil || o.workers != 3 || o.batch != 128 || o.cpuProf != "/tmp/x.prof" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.workers != 0 || o.batch != 0 {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-workers", "-1"}, {"-batch", "-1"}, {"-batch", "257"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}
