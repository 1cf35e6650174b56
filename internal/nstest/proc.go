package nstest

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultStopTimeout is how long [Proc.Stop] waits after SIGTERM before it
// sends SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// maxProcOutput bounds the output a Proc keeps (the tail is kept).
const maxProcOutput = 1 << 20

// Proc is a background process running in a namespace. Its stdout and
// stderr are captured together; they are written to the test log when the
// test fails, or can be read at any time with [Proc.Output].
type Proc struct {
	// Name is a short label used in log lines.
	Name string
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL;
	// zero means DefaultStopTimeout. Set it before calling Stop.
	StopTimeout time.Duration

	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // set before done is closed

	stopOnce sync.Once
	stopErr  error
	killed   bool // Stop had to use SIGKILL
}

// Start starts prog in the namespace (`ip netns exec NAME prog args…`) in
// the background. The test fails at once if the program cannot be started.
// At cleanup the process is stopped (SIGTERM, then SIGKILL) and, if the test
// failed, its output is logged.
func (ns *NS) Start(t testing.TB, prog string, args ...string) *Proc {
	t.Helper()
	full := append([]string{"netns", "exec", ns.Name, prog}, args...)
	p, err := startProc(prog, "ip", full...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("[%s] started %s (pid %d): %s %s", ns.Name, prog, p.Pid(), prog, strings.Join(args, " "))
	t.Cleanup(func() {
		err := p.Stop()
		if p.killed || (err != nil && t.Failed()) {
			t.Logf("[%s] %s: %v", ns.Name, p.Name, err)
		}
		if t.Failed() {
			t.Logf("[%s] output of %s (pid %d):\n%s", ns.Name, p.Name, p.Pid(), p.Output())
		}
	})
	return p
}

func startProc(name, prog string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, out: &tailBuffer{max: maxProcOutput}, done: make(chan struct{})}
	p.cmd = exec.Command(prog, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	// Own process group: a Ctrl-C aimed at `go test` does not reach it
	// before the cleanup does, and SIGKILL can reach its children. No
	// Pdeathsig: it fires when the forking *thread* exits, and NS.Do
	// deliberately throws threads away.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("nstest: starting %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its wait error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output returns what the process has written so far to stdout and stderr
// (the last MiB of it).
func (p *Proc) Output() string { return p.out.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM, waits up to StopTimeout for the process to exit, then
// kills its process group. It returns the process's wait error (nil for a
// clean exit with status 0). It is idempotent.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		timeout := p.StopTimeout
		if timeout == 0 {
			timeout = DefaultStopTimeout
		}
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			tm := time.NewTimer(timeout)
			select {
			case <-p.done:
				tm.Stop()
			case <-tm.C:
				syscall.Kill(-p.Pid(), syscall.SIGKILL)
				<-p.done
				p.killed = true
				p.stopErr = fmt.Errorf("nstest: %s did not exit within %v of SIGTERM; killed", p.Name, timeout)
			}
		}
		if p.stopErr == nil {
			p.stopErr = p.err
		}
	})
	return p.stopErr
}

// exitedBySignal reports whether the process was ended by a signal (an
// expected outcome of Stop for programs that do not catch SIGTERM).
func (p *Proc) exitedBySignal() bool {
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// tailBuffer is a goroutine-safe writer that keeps the last max bytes.
type tailBuffer struct {
	mu  sync.Mutex // guards following
	buf []byte
	max int
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[… earlier output dropped …]\n" + string(b.buf)
	}
	return string(b.buf)
}
