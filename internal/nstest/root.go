package nstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// toolPackages maps a program to the Debian package that provides it, for
// skip messages.
var toolPackages = map[string]string{
	"ip":      "iproute2",
	"bridge":  "iproute2",
	"ss":      "iproute2",
	"iperf3":  "iperf3",
	"ping":    "iputils-ping",
	"tcpdump": "tcpdump",
	"tshark":  "tshark",
	"ethtool": "ethtool",
	"sysctl":  "procps",
	"nft":     "nftables",
}

// SkipUnlessRoot skips the test unless it runs as root, which creating
// network namespaces, veths and TAP devices needs. It also skips when the
// ip(8) program from iproute2 is missing.
func SkipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("nstest: skipping: needs root (network namespaces, veth, TAP); run the test as root, e.g. `sudo go test`")
	}
	RequireTools(t, "ip")
}

// RequireTools skips the test when any of the named programs is not in PATH,
// saying which Debian packages to install.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	if missing, pkgs := missingTools(tools...); len(missing) > 0 {
		t.Skipf("nstest: skipping: missing %s; install with `apt-get install %s`",
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
}

// missingTools returns the tools not in PATH and the packages providing them.
func missingTools(tools ...string) (missing, pkgs []string) {
	seen := map[string]bool{}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			continue
		}
		missing = append(missing, tool)
		pkg := toolPackages[tool]
		if pkg == "" {
			pkg = tool
		}
		if !seen[pkg] {
			seen[pkg] = true
			pkgs = append(pkgs, pkg)
		}
	}
	return missing, pkgs
}
