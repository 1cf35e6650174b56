package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		got, ok := Median(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Error("Median sorted its argument in place")
	}
}

func loadTestReport(t *testing.T) *Report {
	t.Helper()
	rep, err := Load("testdata/raw")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 4 {
		t.Fatalf("got %d scenarios, want 4", len(rep.Scenarios))
	}
	return rep
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestLoadMediansAndRatios(t *testing.T) {
	rep := loadTestReport(t)
	veth, kernel, vtep := rep.Scenarios[0], rep.Scenarios[1], rep.Scenarios[2]

	if kernel.Status != "ok" {
		t.Errorf("kernel status = %q, want ok", kernel.Status)
	}
	if m := kernel.Metrics["tcp1_gbps"]; m.Median == nil || !near(*m.Median, 10) || len(m.Samples) != 3 {
		t.Errorf("kernel tcp1 = %+v, want median 10 of 3", m)
	}
	if m := kernel.Metrics["ping_rtt_avg_us"]; m.Median == nil || !near(*m.Median, 50) {
		t.Errorf("kernel rtt = %+v, want median 50µs", m)
	}
	if m := kernel.Metrics["udp64_pps"]; m.Median == nil || math.Abs(*m.Median-677654/1.00006) > 1 {
		t.Errorf("kernel udp64 = %+v", m)
	}

	// veth: two runs, one tcp4 failure.
	if veth.Status != "partial" {
		t.Errorf("veth status = %q, want partial", veth.Status)
	}
	if m := veth.Metrics["tcp1_gbps"]; m.Median == nil || !near(*m.Median, 21) {
		t.Errorf("veth tcp1 = %+v, want median 21", m)
	}
	if m := veth.Metrics["tcp4_gbps"]; len(m.Errors) != 1 || !strings.Contains(m.Errors[0], "unable to connect") {
		t.Errorf("veth tcp4 errors = %q", m.Errors)
	}
	if r := veth.RatioToKernel["tcp1_gbps"]; !near(r, 2.1) {
		t.Errorf("veth/kernel tcp1 ratio = %v, want 2.1", r)
	}
	if r := veth.RatioToKernel["ping_rtt_avg_us"]; !near(r, 0.5) {
		t.Errorf("veth/kernel rtt ratio = %v, want 0.5", r)
	}
	if _, ok := kernel.RatioToKernel["tcp1_gbps"]; ok {
		t.Error("kernel has a ratio to itself")
	}

	if vtep.Status != "error" || !strings.Contains(vtep.Error, "binaries missing") || vtep.Label != "vtep, offloads on" {
		t.Errorf("vtep scenario = %+v", vtep)
	}
	if len(vtep.RatioToKernel) != 0 {
		t.Errorf("failed scenario has ratios %v", vtep.RatioToKernel)
	}
	if m := kernel.Metrics["loadavg_1min"]; m.Median == nil || *m.Median != 1.5 {
		t.Errorf("kernel load = %+v, want median 1.5", m)
	}
	if m := veth.Metrics["loadavg_1min"]; len(m.Errors) != 0 {
		t.Errorf("missing optional loadavg counted as errors: %q", m.Errors)
	}
}

func TestSetupFailureInOneRound(t *testing.T) {
	// ORDER=interleaved sets a scenario up once per repetition; a failed
	// setup loses that repetition only.
	sc := loadTestReport(t).Scenarios[3]
	if sc.Status != "partial" || sc.Error != "" {
		t.Errorf("status %q error %q, want partial without a scenario error", sc.Status, sc.Error)
	}
	m := sc.Metrics["tcp1_gbps"]
	if len(m.Samples) != 1 || len(m.Errors) != 1 || !strings.Contains(m.Errors[0], "run 1: setup failed (exit 1) / 04:00:01 timed out") {
		t.Errorf("tcp1 = %+v", m)
	}
}

func TestJSONShape(t *testing.T) {
	b, err := loadTestReport(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Meta      map[string]string `json:"meta"`
		Scenarios []struct {
			Name    string `json:"name"`
			Status  string `json:"status"`
			Metrics map[string]struct {
				Median  *float64  `json:"median"`
				Samples []float64 `json:"samples"`
			} `json:"metrics"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Meta["kernel"] != "6.18.44" || len(got.Scenarios) != 4 {
		t.Fatalf("decoded %+v", got)
	}
	if m := got.Scenarios[2].Metrics["tcp1_gbps"]; m.Median != nil || m.Samples == nil {
		t.Errorf("failed scenario metric = %+v, want null median and empty samples", m)
	}
}

func TestMarkdownTable(t *testing.T) {
	md := loadTestReport(t).Markdown()
	for _, want := range []string{
		"| Path | TCP, 1 stream (Gbit/s) | TCP, 1 stream, one CPU (Gbit/s) | TCP, 1 stream, RPS (Gbit/s) | TCP, 4 streams (Gbit/s) | UDP 64 B received (kpps) | ping RTT avg (µs) |",
		"| kernel vxlan | 10.00 | 10.00 | 10.00 | 13.00 | 678 | 50 |",
		"| veth, no tunnel | 21.00 (2.10×) | failed [1] | – | 30.00 (2.31×) [2] | 678 (1.00×) | 25 (0.50×) |",
		"| vtep, offloads on | failed [3] | – | – | – | – | – |",
		"[2] veth, no tunnel, TCP, 4 streams (Gbit/s): 1 of 2 runs failed: run 2:",
		"[3] vtep, offloads on: setup failed (exit 1) / 04:00:00 vtepd/vtep binaries missing",
		"Medians of 3 runs", "Linux 6.18.44, 2 CPUs (Test CPU), iperf3 3.12, commit abc1234. TCP congestion control bbr.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestSummary(t *testing.T) {
	for path, want := range map[string]string{
		"testdata/raw/kernel/1/tcp1.json":  "10.00 Gbit/s received, 2 streams, 8845 retransmits",
		"testdata/raw/kernel/1/udp64.json": "678 kpps received of 694 kpps sent (64-byte datagrams)",
		"testdata/raw/kernel/1/ping.txt":   "200/200 replies, rtt min/avg/max 10/50/300 µs",
	} {
		got, err := Summary(path)
		if err != nil || got != want {
			t.Errorf("Summary(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
}

// TestCPUPerGB: CPU seconds per GB come from the /proc/stat lines around
// the run (busy = all but idle, iowait and steal) and the bytes iperf3
// received; a path without the file shows "–", not a failure.
func TestCPUPerGB(t *testing.T) {
	rep := loadTestReport(t)
	kernel, nooff := rep.Scenarios[1], rep.Scenarios[3]
	// busy ticks: (1100-1000) + (430-400) + (120-100) = 150 at 100 Hz.
	want := 1.5 / (2479160968 / 1e9)
	if m := kernel.Metrics["tcp1_cpu_s_per_gb"]; m.Median == nil || !near(*m.Median, want) {
		t.Errorf("kernel tcp1 CPU per GB = %+v, want %v", m, want)
	}
	if kernel.Status != "ok" {
		t.Errorf("kernel status = %q: an optional metric measured in one run only must not make it partial", kernel.Status)
	}
	if m := nooff.Metrics["tcp1_cpu_s_per_gb"]; m.Median != nil || len(m.Errors) != 0 {
		t.Errorf("vtep-nooffload tcp1 CPU per GB = %+v, want not measured", m)
	}
	md := rep.Markdown()
	if !strings.Contains(md, "CPU per GB, TCP 1 stream (s)") || !strings.Contains(md, fmt.Sprintf(" %.3f |", want)) {
		t.Errorf("Markdown lacks the CPU column or the kernel's value %.3f:\n%s", want, md)
	}
}

// TestRPSOneStream: the stream with RPS on the underlay is optional too:
// absent where the scenario has no underlay veth (tap-relay) or the raw
// data predates it, which shows as "–" and leaves the scenario ok.
func TestRPSOneStream(t *testing.T) {
	rep := loadTestReport(t)
	veth, kernel := rep.Scenarios[0], rep.Scenarios[1]
	if m := kernel.Metrics["tcp1_rps_gbps"]; m.Median == nil || !near(*m.Median, 10) || len(m.Samples) != 2 {
		t.Errorf("kernel RPS stream = %+v, want median 10 of 2", m)
	}
	if kernel.Status != "ok" {
		t.Errorf("kernel status = %q, want ok with the RPS stream measured in 2 of 3 runs", kernel.Status)
	}
	if m := veth.Metrics["tcp1_rps_gbps"]; m.Median != nil || len(m.Errors) != 0 {
		t.Errorf("veth RPS stream = %+v, want not measured", m)
	}
	if md := rep.Markdown(); !strings.Contains(md, "TCP, 1 stream, RPS (Gbit/s)") {
		t.Errorf("Markdown lacks the RPS column:\n%s", md)
	}
}

// TestPinnedOneStream: the one-CPU stream is optional (older raw data has
// none), but a run that failed is reported, not taken for "not measured".
func TestPinnedOneStream(t *testing.T) {
	rep := loadTestReport(t)
	veth, kernel, vtep := rep.Scenarios[0], rep.Scenarios[1], rep.Scenarios[2]
	if m := kernel.Metrics["tcp1_cpu0_gbps"]; m.Median == nil || !near(*m.Median, 10) || len(m.Samples) != 2 {
		t.Errorf("kernel one-CPU stream = %+v, want median 10 of 2", m)
	}
	if m := veth.Metrics["tcp1_cpu0_gbps"]; len(m.Errors) != 1 || !strings.Contains(m.Errors[0], "unable to set CPU affinity") {
		t.Errorf("veth one-CPU stream errors = %q, want the failed run", m.Errors)
	}
	if m := vtep.Metrics["tcp1_cpu0_gbps"]; m.Median != nil || len(m.Errors) != 0 {
		t.Errorf("vtep one-CPU stream = %+v, want not measured", m)
	}
	md := rep.Markdown()
	for _, want := range []string{"TCP, 1 stream, one CPU (Gbit/s)", "unable to set CPU affinity"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
