// Package systemd_test checks the shipped unit with systemd's own tools.
package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"
)

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing in CI; scripts/test-deps.sh installs it")
		}
		t.Skip("systemd-analyze not installed (scripts/test-deps.sh installs it)")
	}
	return path
}

// unitWithBinary copies the unit into a temp dir with ExecStart pointing at
// a freshly built binary, since verify checks that the command exists.
func unitWithBinary(t *testing.T) string {
	t.Helper()
	unit, err := os.ReadFile("streamsync.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(unit), "/usr/local/bin/streamsync", apptest.Binary(t), 1)
	path := filepath.Join(t.TempDir(), "streamsync.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitVerifies(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "verify", unitWithBinary(t)).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitExposureAtMost2(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", unitWithBinary(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure level %.1f", level)
	if level > 2.0 {
		t.Fatalf("exposure level %.1f, want <= 2.0\n%s", level, out)
	}
}
