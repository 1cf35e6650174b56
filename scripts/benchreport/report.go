package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vtepd/vtep/internal/nstest"
)

// A metricDef says where a metric comes from and how to show it.
type metricDef struct {
	Key    string // JSON key
	File   string // raw file name in a repetition directory
	Title  string // Markdown column title; "" = JSON only
	Unit   string
	Better string // "higher" or "lower"
	// Scale converts the JSON value to the Markdown unit.
	Scale  float64
	Digits int
	// Optional metrics may be absent without counting as a failure.
	Optional bool
	// Value extracts the metric from the raw file.
	Value func([]byte) (float64, error)
	// FromDir, when set instead of Value, computes the metric from the
	// repetition directory (File is then the file whose absence means the
	// metric was not measured).
	FromDir func(dir string) (float64, error)
}

// receivedGbps is an iperf3 report's received rate in Gbit/s.
var receivedGbps = iperfValue(func(r nstest.Iperf3Result) float64 { return r.Received.BitsPerSecond / 1e9 })

var metrics = []metricDef{
	{Key: "tcp1_gbps", File: "tcp1.json", Title: "TCP, 1 stream (Gbit/s)", Unit: "Gbit/s", Better: "higher",
		Scale: 1, Digits: 2, Value: receivedGbps},
	// Both iperf3 ends pinned to one CPU (iperf3 -A 0,0): what the path
	// costs decides, not where the scheduler puts sender and receiver,
	// which on two CPUs moves one stream by ±30%.
	{Key: "tcp1_cpu0_gbps", File: "tcp1cpu0.json", Title: "TCP, 1 stream, one CPU (Gbit/s)", Unit: "Gbit/s", Better: "higher",
		Scale: 1, Digits: 2, Optional: true, Value: receivedGbps},
	// RPS on the underlay veth (every CPU): one flow's packets are handled
	// on one CPU, as a NIC's RSS queue delivers them, instead of on
	// whichever CPU sent each one; what is left is the path's own order.
	{Key: "tcp1_rps_gbps", File: "tcp1rps.json", Title: "TCP, 1 stream, RPS (Gbit/s)", Unit: "Gbit/s", Better: "higher",
		Scale: 1, Digits: 2, Optional: true, Value: receivedGbps},
	{Key: "tcp4_gbps", File: "tcp4.json", Title: "TCP, 4 streams (Gbit/s)", Unit: "Gbit/s", Better: "higher",
		Scale: 1, Digits: 2, Value: receivedGbps},
	{Key: "udp64_pps", File: "udp64.json", Title: "UDP 64 B received (kpps)", Unit: "packets/s", Better: "higher",
		Scale: 1e-3, Digits: 0, Value: iperfValue(nstest.Iperf3Result.ReceivedPacketsPerSecond)},
	{Key: "udp64_sent_pps", File: "udp64.json", Unit: "packets/s", Better: "higher",
		Value: iperfValue(nstest.Iperf3Result.SentPacketsPerSecond)},
	{Key: "ping_rtt_avg_us", File: "ping.txt", Title: "ping RTT avg (µs)", Unit: "µs", Better: "lower",
		Scale: 1, Digits: 0, Value: pingValue(func(r nstest.PingResult) float64 { return float64(r.RTTAvg.Nanoseconds()) / 1e3 })},
	{Key: "ping_loss_pct", File: "ping.txt", Unit: "%", Better: "lower",
		Value: pingValue(func(r nstest.PingResult) float64 { return r.Loss })},
	// CPU time the whole machine spent (all processes: iperf3, vtepd,
	// softirqs) per GB the TCP run carried: what a byte costs on each path.
	{Key: "tcp1_cpu_s_per_gb", File: "tcp1.cpu", Title: "CPU per GB, TCP 1 stream (s)", Unit: "CPU s/GB", Better: "lower",
		Scale: 1, Digits: 3, Optional: true, FromDir: cpuPerGB("tcp1")},
	{Key: "tcp4_cpu_s_per_gb", File: "tcp4.cpu", Unit: "CPU s/GB", Better: "lower", Optional: true, FromDir: cpuPerGB("tcp4")},
	// The machine's 1-minute load average when the run started: a busy
	// machine explains outliers.
	{Key: "loadavg_1min", File: "loadavg", Unit: "", Better: "lower", Optional: true, Value: loadValue},
}

// cpuPerGB returns the CPU seconds per GB (10^9 bytes received) of iperf3
// run name: name.cpu holds the machine's /proc/stat "cpu" line before and
// after the run (keys before= and after=) and clk_tck=; busy time is all
// but idle, iowait and steal.
func cpuPerGB(name string) func(dir string) (float64, error) {
	return func(dir string) (float64, error) {
		kv := map[string]string{}
		if err := readKV(filepath.Join(dir, name+".cpu"), kv); err != nil {
			return 0, err
		}
		busy := func(line string) (float64, error) {
			f := strings.Fields(line)
			if len(f) < 9 || f[0] != "cpu" {
				return 0, fmt.Errorf("%s.cpu: not a /proc/stat cpu line: %q", name, line)
			}
			var sum float64
			for i, x := range f[1:] {
				v, err := strconv.ParseFloat(x, 64)
				if err != nil {
					return 0, fmt.Errorf("%s.cpu: %w", name, err)
				}
				switch i {
				case 3, 4, 7: // idle, iowait, steal
				default:
					if i < 8 { // guest time is already in user
						sum += v
					}
				}
			}
			return sum, nil
		}
		b0, err := busy(kv["before"])
		if err != nil {
			return 0, err
		}
		b1, err := busy(kv["after"])
		if err != nil {
			return 0, err
		}
		hz, err := strconv.ParseFloat(kv["clk_tck"], 64)
		if err != nil || hz <= 0 {
			return 0, fmt.Errorf("%s.cpu: bad clk_tck %q", name, kv["clk_tck"])
		}
		j, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			return 0, fmt.Errorf("%s.json missing", name)
		}
		r, err := nstest.ParseIperf3(j)
		if err != nil {
			return 0, err
		}
		gb := float64(r.Received.Bytes) / 1e9
		if gb <= 0 {
			return 0, fmt.Errorf("%s: nothing received", name)
		}
		return (b1 - b0) / hz / gb, nil
	}
}

func loadValue(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty loadavg")
	}
	return strconv.ParseFloat(f[0], 64)
}

func iperfValue(f func(nstest.Iperf3Result) float64) func([]byte) (float64, error) {
	return func(b []byte) (float64, error) {
		r, err := nstest.ParseIperf3(b)
		if err != nil {
			return 0, err
		}
		return f(r), nil
	}
}

func pingValue(f func(nstest.PingResult) float64) func([]byte) (float64, error) {
	return func(b []byte) (float64, error) {
		r, err := nstest.ParsePing(string(b))
		if err != nil {
			return 0, err
		}
		if r.Received == 0 {
			return 0, fmt.Errorf("no replies (%d sent, %d errors)", r.Transmitted, r.Errors)
		}
		return f(r), nil
	}
}

// labels names the scenarios bench.sh knows; others show their raw name.
var labels = map[string]string{
	"veth":           "veth, no tunnel",
	"kernel":         "kernel vxlan",
	"tap-relay":      "TAP relay, no tunnel",
	"vtep-offload":   "vtep, offloads on",
	"vtep-tgso":      "vtep, tunnel GSO",
	"vtep-ebpf":      "vtep, eBPF data path",
	"vtep-nooffload": "vtep, offloads off",
}

// baseline is the scenario the ratios are relative to.
const baseline = "kernel"

// Metric is one metric of one scenario over all repetitions.
type Metric struct {
	Unit    string    `json:"unit"`
	Better  string    `json:"better"`
	Samples []float64 `json:"samples"`
	// Median is null when no repetition produced a value.
	Median *float64 `json:"median"`
	Errors []string `json:"errors,omitempty"`
}

// Scenario is one measured path.
type Scenario struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Status is "ok", "partial" (some measurements failed) or "error".
	Status  string             `json:"status"`
	Error   string             `json:"error,omitempty"`
	Metrics map[string]*Metric `json:"metrics"`
	// RatioToKernel is median(this) / median(kernel) per metric.
	RatioToKernel map[string]float64 `json:"ratio_to_kernel,omitempty"`
}

// Report is the whole run.
type Report struct {
	Meta      map[string]string `json:"meta"`
	Scenarios []*Scenario       `json:"scenarios"`
}

// Load reads a raw directory written by scripts/bench.sh.
func Load(dir string) (*Report, error) {
	rep := &Report{Meta: map[string]string{}}
	if err := readKV(filepath.Join(dir, "meta.txt"), rep.Meta); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	names, err := readLines(filepath.Join(dir, "scenarios.txt"))
	if err != nil {
		return nil, fmt.Errorf("no scenarios.txt in %s: %w", dir, err)
	}
	for _, name := range names {
		rep.Scenarios = append(rep.Scenarios, loadScenario(filepath.Join(dir, name), name))
	}
	rep.computeRatios()
	return rep, nil
}

func loadScenario(dir, name string) *Scenario {
	sc := &Scenario{Name: name, Label: labels[name], Metrics: map[string]*Metric{}}
	if sc.Label == "" {
		sc.Label = name
	}
	if b, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
		sc.Error = summarize(b)
	}
	var setupErr string // the first per-repetition setup failure
	reps, _ := os.ReadDir(dir)
	var repDirs []string
	for _, e := range reps {
		if _, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			repDirs = append(repDirs, e.Name())
		}
	}
	slices.SortFunc(repDirs, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	for _, r := range repDirs {
		if b, err := os.ReadFile(filepath.Join(dir, r, "setup.err")); err == nil && setupErr == "" {
			setupErr = "run " + r + ": " + summarize(b)
		}
	}
	for _, def := range metrics {
		m := &Metric{Unit: def.Unit, Better: def.Better, Samples: []float64{}}
		for _, r := range repDirs {
			v, err := readMetric(filepath.Join(dir, r), def)
			if err != nil && def.Optional && !failed(filepath.Join(dir, r), def) {
				continue // not measured
			}
			if err != nil {
				m.Errors = append(m.Errors, fmt.Sprintf("run %s: %v", r, err))
				continue
			}
			m.Samples = append(m.Samples, v)
		}
		if med, ok := Median(m.Samples); ok {
			m.Median = &med
		}
		sc.Metrics[def.Key] = m
	}
	if sc.Error == "" && setupErr != "" && !sc.hasSamples() {
		sc.Error = setupErr
	}
	sc.Status = status(sc)
	return sc
}

func (sc *Scenario) hasSamples() bool {
	for _, def := range metrics {
		if !def.Optional && len(sc.Metrics[def.Key].Samples) > 0 {
			return true
		}
	}
	return false
}

func status(sc *Scenario) string {
	if sc.Error != "" {
		return "error"
	}
	var some, failed bool
	for _, def := range metrics {
		if def.Optional {
			continue
		}
		m := sc.Metrics[def.Key]
		some = some || m.Median != nil
		failed = failed || len(m.Errors) > 0 || m.Median == nil
	}
	switch {
	case !some:
		return "error"
	case failed:
		return "partial"
	}
	return "ok"
}

// failed reports whether the measurement of def in repetition directory
// dir failed (it left NAME.err).
func failed(dir string, def metricDef) bool {
	_, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(def.File, filepath.Ext(def.File))+".err"))
	return err == nil
}

func readMetric(dir string, def metricDef) (float64, error) {
	b, err := os.ReadFile(filepath.Join(dir, def.File))
	if err == nil && def.FromDir != nil {
		return def.FromDir(dir)
	}
	if err != nil {
		base := strings.TrimSuffix(def.File, filepath.Ext(def.File))
		if e, err2 := os.ReadFile(filepath.Join(dir, base+".err")); err2 == nil {
			return 0, fmt.Errorf("%s", summarize(e))
		}
		if e, err2 := os.ReadFile(filepath.Join(dir, "setup.err")); err2 == nil {
			return 0, fmt.Errorf("%s", summarize(e))
		}
		return 0, fmt.Errorf("%s missing", def.File)
	}
	return def.Value(b)
}

// summarize keeps the last non-empty lines of an error file, on one line.
func summarize(b []byte) string {
	var lines []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " / ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	if s == "" {
		s = "failed (no message)"
	}
	return s
}

// Median returns the median of xs (the mean of the middle two for an even
// count) and false when xs is empty.
func Median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func (r *Report) computeRatios() {
	var base *Scenario
	for _, sc := range r.Scenarios {
		if sc.Name == baseline {
			base = sc
		}
	}
	if base == nil {
		return
	}
	for _, sc := range r.Scenarios {
		if sc == base {
			continue
		}
		for _, def := range metrics {
			m, b := sc.Metrics[def.Key], base.Metrics[def.Key]
			if m.Median == nil || b.Median == nil || *b.Median == 0 {
				continue
			}
			if sc.RatioToKernel == nil {
				sc.RatioToKernel = map[string]float64{}
			}
			sc.RatioToKernel[def.Key] = *m.Median / *b.Median
		}
	}
}

// Summary describes one raw file (an iperf3 -J report or ping -q output) in
// one line, for the progress log.
func Summary(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(path, ".json") {
		r, err := nstest.ParseIperf3(b)
		if err != nil {
			return "", err
		}
		if r.Protocol == "UDP" {
			return fmt.Sprintf("%.0f kpps received of %.0f kpps sent (%d-byte datagrams)",
				r.ReceivedPacketsPerSecond()/1e3, r.SentPacketsPerSecond()/1e3, r.BlockSize), nil
		}
		return fmt.Sprintf("%.2f Gbit/s received, %d streams, %d retransmits",
			r.Received.BitsPerSecond/1e9, r.Streams, r.Sent.Retransmits), nil
	}
	r, err := nstest.ParsePing(string(b))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d replies, rtt min/avg/max %.0f/%.0f/%.0f µs", r.Received, r.Transmitted,
		float64(r.RTTMin.Nanoseconds())/1e3, float64(r.RTTAvg.Nanoseconds())/1e3, float64(r.RTTMax.Nanoseconds())/1e3), nil
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown returns a table for the README, with footnotes for failures.
func (r *Report) Markdown() string {
	var sb strings.Builder
	m := r.Meta
	sb.WriteString("| Path |")
	align := "|---|"
	for _, def := range metrics {
		if def.Title != "" {
			fmt.Fprintf(&sb, " %s |", def.Title)
			align += "--:|"
		}
	}
	sb.WriteString("\n" + align + "\n")
	var notes []string
	note := func(s string) string {
		notes = append(notes, s)
		return fmt.Sprintf("[%d]", len(notes))
	}
	for _, sc := range r.Scenarios {
		fmt.Fprintf(&sb, "| %s |", sc.Label)
		for _, def := range metrics {
			if def.Title == "" {
				continue
			}
			met := sc.Metrics[def.Key]
			switch {
			case sc.Error != "":
				if def.Key == metrics[0].Key {
					fmt.Fprintf(&sb, " failed %s |", note(sc.Label+": "+sc.Error))
				} else {
					sb.WriteString(" – |")
				}
				continue
			case met.Median == nil && def.Optional && len(met.Errors) == 0:
				sb.WriteString(" – |") // not measured
				continue
			case met.Median == nil:
				fmt.Fprintf(&sb, " failed %s |", note(sc.Label+", "+def.Title+": "+strings.Join(met.Errors, "; ")))
				continue
			}
			cell := strconv.FormatFloat(*met.Median*def.Scale, 'f', def.Digits, 64)
			if ratio, ok := sc.RatioToKernel[def.Key]; ok {
				cell += fmt.Sprintf(" (%.2f×)", ratio)
			}
			if len(met.Errors) > 0 {
				cell += " " + note(fmt.Sprintf("%s, %s: %d of %d runs failed: %s", sc.Label, def.Title,
					len(met.Errors), len(met.Errors)+len(met.Samples), strings.Join(met.Errors, "; ")))
			}
			fmt.Fprintf(&sb, " %s |", cell)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n")
	runs := "Medians of " + orDash(m["reps"]) + " runs"
	if m["reps"] == "1" {
		runs = "One run"
	}
	fmt.Fprintf(&sb, "%s (`scripts/bench.sh`, %s s per iperf3 run, ping: %s echo requests every %s s)",
		runs, orDash(m["duration"]), orDash(m["pings"]), orDash(m["ping_interval"]))
	fmt.Fprintf(&sb, " on %s: Linux %s, %s CPUs (%s), iperf3 %s, commit %s.",
		orDash(m["date"]), orDash(m["kernel"]), orDash(m["cpus"]), orDash(m["cpu_model"]),
		orDash(m["iperf3"]), orDash(m["commit"]))
	if m["tcp_cc"] != "" {
		fmt.Fprintf(&sb, " TCP congestion control %s.", m["tcp_cc"])
	}
	sb.WriteString(" Both namespaces share one machine, so the sender, the receiver and the tunnel compete for the same CPUs." +
		" Ratios in parentheses are relative to the kernel's vxlan over the same veth (RTT: lower is better).")
	if m["loadavg_start"] != "" {
		fmt.Fprintf(&sb, " Load average at start %s, at end %s.", m["loadavg_start"], orDash(m["loadavg_end"]))
	}
	sb.WriteString("\n")
	if len(notes) > 0 {
		sb.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&sb, "[%d] %s\n", i+1, n)
		}
	}
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func readKV(path string, into map[string]string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, "="); ok {
			into[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, s.Err()
}
