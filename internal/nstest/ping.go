package nstest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PingOptions configures [NS.Ping]. Zero values pick the defaults noted.
type PingOptions struct {
	// Count is the number of echo requests (-c); default 3.
	Count int
	// Interval is the time between requests (-i); default 200ms. Below
	// 2ms ping needs root, which the tests have anyway.
	Interval time.Duration
	// Wait is how long to wait for each reply (-W); default 1s.
	Wait time.Duration
	// Size is the ICMP payload size (-s); default ping's 56 bytes.
	Size int
	// Interface is the source interface or address (-I), if non-empty.
	Interface string
	// DontFragment sets -M do (refuse fragmentation), useful for MTU tests.
	DontFragment bool
}

// Args returns the ping arguments for dst (with -q: only the summary).
func (o PingOptions) Args(dst netip.Addr) []string {
	count := o.Count
	if count <= 0 {
		count = 3
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	wait := o.Wait
	if wait <= 0 {
		wait = time.Second
	}
	args := []string{"-q", "-n", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', -1, 64),
		"-W", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64)}
	if o.Size > 0 {
		args = append(args, "-s", strconv.Itoa(o.Size))
	}
	if o.Interface != "" {
		args = append(args, "-I", o.Interface)
	}
	if o.DontFragment {
		args = append(args, "-M", "do")
	}
	return append(args, dst.String())
}

// PingResult is ping's summary.
type PingResult struct {
	Transmitted int
	Received    int
	// Duplicates and Errors are the "+N duplicates" and "+N errors"
	// counts (ICMP errors such as "destination unreachable").
	Duplicates int
	Errors     int
	// Loss is the reported packet loss in percent.
	Loss float64
	// RTT statistics; zero when nothing was received.
	RTTMin, RTTAvg, RTTMax, RTTMdev time.Duration
}

// Ping runs ping inside the namespace and parses its summary. Packet loss is
// not an error (ping's non-zero exit status is ignored when it printed a
// summary); check the result.
func (ns *NS) Ping(ctx context.Context, dst netip.Addr, opt PingOptions) (PingResult, error) {
	out, err := ns.Exec(ctx, "ping", opt.Args(dst)...)
	res, perr := ParsePing(out)
	if perr != nil {
		if err != nil {
			return res, err
		}
		return res, perr
	}
	return res, nil
}

// PingOK pings dst and fails the test unless every request was answered.
func (ns *NS) PingOK(t testing.TB, dst netip.Addr, opt PingOptions) PingResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	res, err := ns.Ping(ctx, dst, opt)
	if err != nil {
		t.Fatalf("[%s] ping %s: %v", ns.Name, dst, err)
	}
	if res.Received < res.Transmitted || res.Transmitted == 0 {
		t.Fatalf("[%s] ping %s: %d transmitted, %d received, %d errors (%.1f%% loss)",
			ns.Name, dst, res.Transmitted, res.Received, res.Errors, res.Loss)
	}
	t.Logf("[%s] ping %s: %d/%d, rtt avg %v", ns.Name, dst, res.Received, res.Transmitted, res.RTTAvg)
	return res
}

// ParsePing parses the summary that iputils ping (and busybox ping) print
// at the end:
//
//	3 packets transmitted, 3 received, +1 duplicates, 0% packet loss, time 2003ms
//	rtt min/avg/max/mdev = 0.013/0.441/1.285/0.596 ms, pipe 2
func ParsePing(out string) (PingResult, error) {
	var res PingResult
	var haveStats bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "packets transmitted"):
			if err := parsePingStats(line, &res); err != nil {
				return PingResult{}, err
			}
			haveStats = true
		case strings.HasPrefix(line, "rtt ") || strings.HasPrefix(line, "round-trip "):
			if err := parsePingRTT(line, &res); err != nil {
				return PingResult{}, err
			}
		}
	}
	if !haveStats {
		return PingResult{}, errors.New("nstest: ping: no statistics line in output")
	}
	return res, nil
}

// parsePingStats parses "N packets transmitted, N received, …".
func parsePingStats(line string, res *PingResult) error {
	var sawTx, sawRx bool
	for part := range strings.SplitSeq(line, ",") {
		part = strings.TrimSpace(part)
		num, rest, _ := strings.Cut(part, " ")
		switch {
		case rest == "packets transmitted":
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 {
				return fmt.Errorf("nstest: ping: bad count in %q", part)
			}
			res.Transmitted, sawTx = n, true
		case rest == "received" || rest == "packets received":
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 {
				return fmt.Errorf("nstest: ping: bad count in %q", part)
			}
			res.Received, sawRx = n, true
		case rest == "errors" || rest == "duplicates":
			n, err := strconv.Atoi(strings.TrimPrefix(num, "+"))
			if err != nil || n < 0 {
				return fmt.Errorf("nstest: ping: bad count in %q", part)
			}
			if rest == "errors" {
				res.Errors = n
			} else {
				res.Duplicates = n
			}
		case rest == "packet loss":
			f, err := strconv.ParseFloat(strings.TrimSuffix(num, "%"), 64)
			if err != nil || !strings.HasSuffix(num, "%") || !(f >= 0 && f <= 100) {
				return fmt.Errorf("nstest: ping: bad loss in %q", part)
			}
			res.Loss = f
		}
	}
	if !sawTx || !sawRx {
		return fmt.Errorf("nstest: ping: incomplete statistics line %q", line)
	}
	return nil
}

// parsePingRTT parses "rtt min/avg/max/mdev = a/b/c/d ms".
func parsePingRTT(line string, res *PingResult) error {
	_, vals, ok := strings.Cut(line, " = ")
	if !ok {
		return fmt.Errorf("nstest: ping: bad rtt line %q", line)
	}
	// iputils may append ", pipe N" (replies outstanding) or, with -f or
	// a short -i, ", ipg/ewma a/b ms".
	vals, _, _ = strings.Cut(vals, ",")
	vals, unit, _ := strings.Cut(strings.TrimSpace(vals), " ")
	scale := time.Millisecond
	switch strings.TrimSpace(unit) {
	case "ms", "":
	case "s":
		scale = time.Second
	case "us", "µs":
		scale = time.Microsecond
	default:
		return fmt.Errorf("nstest: ping: unknown rtt unit in %q", line)
	}
	fields := strings.Split(vals, "/")
	if len(fields) < 3 || len(fields) > 4 {
		return fmt.Errorf("nstest: ping: bad rtt line %q", line)
	}
	dst := []*time.Duration{&res.RTTMin, &res.RTTAvg, &res.RTTMax, &res.RTTMdev}
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v >= 0 && v <= 1e9) {
			return fmt.Errorf("nstest: ping: bad rtt value %q", f)
		}
		*dst[i] = time.Duration(v * float64(scale))
	}
	return nil
}
