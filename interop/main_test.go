package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// The vtep binaries, built once by TestMain. When they are not available,
// vtepSkip (the tree has no daemon yet) or vtepErr (the build failed) says
// why, and every vtep variant skips or fails with that message.
var (
	vtepBins nstest.Binaries
	vtepSkip string
	vtepErr  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() == 0 {
		if cleanup := buildBinaries(); cleanup != nil {
			defer cleanup()
		}
	}
	return m.Run()
}

// buildBinaries fills vtepBins, or vtepSkip/vtepErr. It returns a function
// removing the build directory, if it made one.
func buildBinaries() func() {
	if dir := os.Getenv(nstest.BinDirEnv); dir != "" {
		vtepBins = nstest.Binaries{Vtepd: filepath.Join(dir, "vtepd"), Vtep: filepath.Join(dir, "vtep")}
		for _, p := range []string{vtepBins.Vtepd, vtepBins.Vtep} {
			if _, err := os.Stat(p); err != nil {
				vtepErr = fmt.Sprintf("$%s=%s: %v", nstest.BinDirEnv, dir, err)
			}
		}
		return nil
	}
	root, err := nstest.ModuleRoot()
	if err != nil {
		vtepErr = err.Error()
		return nil
	}
	for _, c := range []string{"vtepd", "vtep"} {
		if m, _ := filepath.Glob(filepath.Join(root, "cmd", c, "*.go")); len(m) == 0 {
			vtepSkip = "cmd/" + c + " is not in the tree yet"
			return nil
		}
	}
	dir, err := os.MkdirTemp("", "vtep-interop-bin-")
	if err != nil {
		vtepErr = err.Error()
		return nil
	}
	cleanup := func() { os.RemoveAll(dir) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		vtepErr = fmt.Sprintf("go build ./cmd/...: %v\n%s", err, out)
		return cleanup
	}
	vtepBins = nstest.Binaries{Vtepd: filepath.Join(dir, "vtepd"), Vtep: filepath.Join(dir, "vtep")}
	return cleanup
}

// requireVtep skips (daemon not written yet) or fails (build broken) a vtep
// variant when the binaries are missing.
func requireVtep(t testing.TB) {
	t.Helper()
	switch {
	case vtepErr != "":
		t.Fatalf("interop: vtep binaries unavailable: %s", vtepErr)
	case vtepSkip != "":
		t.Skipf("interop: skipping the vtep variant: %s", vtepSkip)
	}
}
