package apptest

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of a command a test needs from a Debian package
// (lintian, promtool, dpkg...): missing in CI is a failure, since
// scripts/test-deps.sh installs it; elsewhere the test is skipped, saying
// which package brings it.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing in CI; scripts/test-deps.sh installs Debian's %s", name, debianPackage)
	}
	t.Skipf("%s not installed (Debian's %s; scripts/test-deps.sh installs it)", name, debianPackage)
	return ""
}
