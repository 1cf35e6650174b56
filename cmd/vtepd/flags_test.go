package main

import (
	"io"
	"slices"
	"testing"
)

// TestParseFlagsWorkers: -workers, -batch and -cpuprofile are parsed and
// checked; 0 workers means one per CPU (decided in run).
func TestParseFlagsWorkers(t *testing.T) {
	o, err := parseFlags([]string{"-workers", "3", "-batch", "128", "-cpuprofile", "/tmp/x.prof"}, io.Discard)
	if err != nil || o.workers != 3 || o.batch != 128 || o.cpuProf != "/tmp/x.prof" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.workers != 0 || o.batch != 0 || !o.pin || !o.offload {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-workers", "-1"}, {"-batch", "-1"}, {"-batch", "257"}, {"-pin", "yes"}, {"-offload", "1"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

// TestParseFlagsPin: -pin takes on or off, and is on by default.
func TestParseFlagsPin(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want bool
	}{{"on", true}, {"off", false}} {
		o, err := parseFlags([]string{"-pin", tc.arg}, io.Discard)
		if err != nil || o.pin != tc.want {
			t.Errorf("-pin %s: pin %v, %v; want %v", tc.arg, o.pin, err, tc.want)
		}
	}
	_, err := parseFlags([]string{"-pin", "1"}, io.Discard)
	if err == nil || err.Error() != `-pin "1": want on or off` {
		t.Errorf("-pin 1: %v", err)
	}
}

// TestWorkerCPUs: worker w runs on the w-th allowed CPU, round robin.
func TestWorkerCPUs(t *testing.T) {
	if got := workerCPUs([]int{2, 5}, 3); !slices.Equal(got, []int{2, 5, 2}) {
		t.Errorf("workerCPUs([2 5], 3) = %v", got)
	}
	if got := workerCPUs([]int{0, 1, 2, 3}, 2); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("workerCPUs([0 1 2 3], 2) = %v", got)
	}
	if got := (&linuxSystem{workers: 3, pinCPUs: []int{2, 5, 2}}).steerPorts(); got != 3 {
		t.Errorf("steerPorts with 3 pinned workers = %d, want 3", got)
	}
	if got := (&linuxSystem{workers: 1, pinCPUs: []int{0}}).steerPorts(); got != 0 {
		t.Errorf("steerPorts with one worker = %d, want 0 (no group)", got)
	}
	if got := (&linuxSystem{workers: 2}).steerPorts(); got != 0 {
		t.Errorf("steerPorts unpinned = %d, want 0 (hash)", got)
	}
}
