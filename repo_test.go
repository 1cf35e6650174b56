// Package repo holds tree-wide checks: formatting, package docs and the
// dependency rules stated in docs/architecture.md.
package repo

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/vtepd/vtep"

type listedPackage struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencyRules enforces the layering in docs/architecture.md.
func TestDependencyRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH")
	}
	// allowed lists, per package, the module packages it may import.
	allowed := map[string][]string{
		"checksum":        {},
		"header":          {"checksum"},
		"config":          {"header", "checksum"},
		"fdb":             {"header", "checksum", "nexthop"},
		"nexthop":         {"internal/nlattr"},
		"mroute":          {"internal/nlattr"},
		"internal/nlattr": {},
		"flow":            {"header", "checksum"},
		"gso":             {"header", "checksum"},
		"gro":             {"header", "checksum"},
	}
	forbiddenEverywhere := []string{"cmd/", "internal/netlab", "internal/nstest"}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				if rel == "checksum" || rel == "header" || rel == "nexthop" || rel == "mroute" || rel == "internal/nlattr" {
					if strings.Contains(imp, ".") {
						t.Errorf("%s imports third-party %s; it must use the standard library only", rel, imp)
					}
				}
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			for _, f := range forbiddenEverywhere {
				if strings.HasPrefix(dep, f) && !strings.HasPrefix(rel, "scripts/") {
					t.Errorf("%s imports %s, which only tests may import", rel, dep)
				}
			}
			if list, ok := allowed[rel]; ok {
				okDep := false
				for _, a := range list {
					if dep == a {
						okDep = true
					}
				}
				if !okDep {
					t.Errorf("%s imports %s; allowed: %v", rel, dep, list)
				}
			}
			if rel == "vtep" && (strings.HasSuffix(dep, "_linux") || dep == "internal/sys" || strings.HasPrefix(dep, "control")) {
				t.Errorf("vtep imports %s; it must depend on the tap/underlay interfaces only", dep)
			}
		}
	}
}

// TestOnePackageDoc checks that every package directory has exactly one
// package doc comment.
func TestOnePackageDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		docs := 0
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil {
				docs++
			}
		}
		if docs != 1 {
			t.Errorf("%s: %d package doc comments, want exactly 1", p.ImportPath, docs)
		}
	}
}

// TestGofmt fails on any file gofmt would change.
func TestGofmt(t *testing.T) {
	gofmt := filepath.Join(os.Getenv("GOROOT"), "bin", "gofmt")
	if _, err := os.Stat(gofmt); err != nil {
		var lerr error
		gofmt, lerr = exec.LookPath("gofmt")
		if lerr != nil {
			t.Skip("gofmt not found")
		}
	}
	out, err := exec.Command(gofmt, "-l", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("files need gofmt:\n%s", s)
	}
}
