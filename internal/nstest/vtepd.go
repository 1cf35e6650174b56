package nstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BinDirEnv names an environment variable that, when set, points at a
// directory holding prebuilt vtepd and vtep binaries (`make build` puts them
// in bin/), so that tests do not build them again.
const BinDirEnv = "VTEP_BIN_DIR"

// Binaries are the paths of the vtep programs.
type Binaries struct {
	Vtepd string // the daemon
	Vtep  string // the CLI
}

// BuildBinaries returns the vtepd and vtep binaries: from $VTEP_BIN_DIR if
// set, otherwise built from the module's cmd/ into t.TempDir(). It skips the
// test when the module has no cmd/vtepd or cmd/vtep yet.
func BuildBinaries(t testing.TB) Binaries {
	t.Helper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		b := Binaries{Vtepd: filepath.Join(dir, "vtepd"), Vtep: filepath.Join(dir, "vtep")}
		for _, p := range []string{b.Vtepd, b.Vtep} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("nstest: $%s=%s: %v", BinDirEnv, dir, err)
			}
		}
		return b
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"vtepd", "vtep"} {
		if m, _ := filepath.Glob(filepath.Join(root, "cmd", c, "*.go")); len(m) == 0 {
			t.Skipf("nstest: skipping: cmd/%s is not in the tree yet", c)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", dir+string(filepath.Separator), "./cmd/vtepd", "./cmd/vtep")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nstest: go build ./cmd/vtepd ./cmd/vtep: %v\n%s", err, out)
	}
	return Binaries{Vtepd: filepath.Join(dir, "vtepd"), Vtep: filepath.Join(dir, "vtep")}
}

// ModuleRoot returns the directory of the go.mod enclosing the working
// directory (tests run in their package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("nstest: no go.mod above the working directory")
		}
		dir = parent
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// VtepdOptions configures [StartVtepd].
type VtepdOptions struct {
	// Offload is "on", "off" or "" (the daemon's default): -offload.
	Offload string
	// Workers, if non-zero, is -workers.
	Workers int
	// LogLevel, if non-empty, is -log-level (default "debug" here, so
	// that a failing test's log says what the daemon did).
	LogLevel string
	// Config, if non-empty, is a -config file.
	Config string
	// Args are appended verbatim.
	Args []string
}

// Vtepd is a vtepd running in a namespace, with its own control socket.
type Vtepd struct {
	NS *NS
	// Socket is the control socket path.
	Socket string
	Proc   *Proc
	Bin    Binaries
}

// StartVtepd starts vtepd in ns with a private control socket and waits until
// the socket exists. At cleanup the daemon gets SIGTERM (which must remove
// its interfaces); its log is written to the test log if the test failed.
func StartVtepd(t testing.TB, ns *NS, bin Binaries, opt VtepdOptions) *Vtepd {
	t.Helper()
	// Not t.TempDir: a unix socket path must fit in 108 bytes, and test
	// names make TempDir paths long.
	dir, err := os.MkdirTemp("", "vtepd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // runs after the daemon is stopped
	d := &Vtepd{NS: ns, Socket: filepath.Join(dir, "vtepd.sock"), Bin: bin}
	logLevel := opt.LogLevel
	if logLevel == "" {
		logLevel = "debug"
	}
	args := []string{"-socket", d.Socket, "-log-level", logLevel}
	if opt.Offload != "" {
		args = append(args, "-offload", opt.Offload)
	}
	if opt.Workers != 0 {
		args = append(args, "-workers", strconv.Itoa(opt.Workers))
	}
	if opt.Config != "" {
		args = append(args, "-config", opt.Config)
	}
	args = append(args, opt.Args...)
	d.Proc = ns.Start(t, bin.Vtepd, args...)
	d.Proc.Name = "vtepd"
	WaitFor(t, 15*time.Second, "vtepd control socket "+d.Socket, func() error {
		if exited, err := d.Proc.Exited(); exited {
			return Permanent(fmt.Errorf("vtepd exited: %v\n%s", err, d.Proc.Output()))
		}
		_, err := os.Stat(d.Socket)
		return err
	})
	return d
}

// CLI runs `vtep -socket SOCKET args…` in the daemon's namespace.
func (d *Vtepd) CLI(ctx context.Context, args ...string) (string, error) {
	return d.NS.Exec(ctx, d.Bin.Vtep, append([]string{"-socket", d.Socket}, args...)...)
}

// Run is CLI with a [CommandTimeout], failing the test on error.
func (d *Vtepd) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	t.Logf("[%s] $ vtep %s", d.NS.Name, strings.Join(args, " "))
	out, err := d.CLI(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
