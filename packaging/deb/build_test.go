package deb_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The versions the tests build: a first install and an upgrade.
const (
	firstVersion   = "v0.9.0"
	upgradeVersion = "v0.9.1-3-gabcdef0"
)

// release is what one mkdist run wrote.
type release struct {
	dir     string // the -out directory
	deb     string // the .deb
	archive string // the tar.gz ("" when not asked for)
}

var builds struct {
	once     sync.Once
	first    release
	upgrade  release
	err      error
	mkdist   string
	cleanups []string
}

// moduleRoot is the directory holding go.mod, found from this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestMain removes the packages built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range builds.cleanups {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// packages builds, once per test process, with the real mkdist that make
// dist runs: a release for this machine's architecture (archive and .deb)
// at firstVersion, and a .deb at upgradeVersion. One architecture only:
// make dist builds both, and a cross-built binary could not run here.
func packages(t *testing.T) (first, upgrade release) {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("mkdist builds amd64 and arm64 packages; this is %s", runtime.GOARCH)
	}
	builds.once.Do(func() {
		dir, err := os.MkdirTemp("", "streamsync-deb-test-")
		if err != nil {
			builds.err = err
			return
		}
		builds.cleanups = append(builds.cleanups, dir)
		builds.mkdist = filepath.Join(dir, "mkdist")
		if builds.err = goCommand("build", "-o", builds.mkdist, "./packaging/mkdist"); builds.err != nil {
			return
		}
		if builds.first, builds.err = mkdist(filepath.Join(dir, "first"), firstVersion, "tar,deb"); builds.err != nil {
			return
		}
		builds.upgrade, builds.err = mkdist(filepath.Join(dir, "upgrade"), upgradeVersion, "deb")
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.first, builds.upgrade
}

func goCommand(args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return &cmdError{cmd: "go " + strings.Join(args, " "), err: err, out: out}
	}
	return nil
}

func mkdist(out, version, formats string) (release, error) {
	cmd := exec.Command(builds.mkdist, "-version", version, "-arch", runtime.GOARCH, "-formats", formats, "-out", out)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1790000000")
	stdout, err := cmd.Output()
	if err != nil {
		return release{}, &cmdError{cmd: cmd.String(), err: err, out: stdout}
	}
	r := release{dir: out}
	for _, line := range strings.Fields(string(stdout)) {
		switch {
		case strings.HasSuffix(line, ".deb"):
			r.deb = line
		case strings.HasSuffix(line, ".tar.gz"):
			r.archive = line
		}
	}
	return r, nil
}

type cmdError struct {
	cmd string
	err error
	out []byte
}

func (e *cmdError) Error() string { return e.cmd + ": " + e.err.Error() + "\n" + string(e.out) }

// output runs a command and returns its standard output, failing the test
// with everything it printed when it fails.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", cmd, err, out, stderr.String())
	}
	return string(out)
}
