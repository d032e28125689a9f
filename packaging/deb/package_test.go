package deb_test

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"
)

// TestLintian: Debian's lintian finds no error and no warning in the
// package (the overrides in lintian-overrides say why each exception is
// one).
func TestLintian(t *testing.T) {
	t.Parallel()
	lintian := apptest.Tool(t, "lintian", "lintian")
	first, _ := packages(t)
	cmd := exec.Command(lintian, "--fail-on", "error,warning", "--display-level", ">=warning", first.deb)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
			t.Errorf("lintian: %s", line)
		}
	}
}

// debEntry is one line of `dpkg-deb --contents`.
type debEntry struct{ mode, owner string }

// TestDebContents: the files, their owners and modes, the conffile list
// and the control fields, as dpkg-deb reads them.
func TestDebContents(t *testing.T) {
	t.Parallel()
	dpkgDeb := apptest.Tool(t, "dpkg-deb", "dpkg")
	first, _ := packages(t)

	entries := map[string]debEntry{}
	for _, line := range strings.Split(strings.TrimSpace(output(t, dpkgDeb, "--contents", first.deb)), "\n") {
		f := strings.Fields(line) // drwxr-x--- root/streamsync 0 2026-01-01 00:00 ./etc/streamsync/
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", line)
		}
		entries[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = debEntry{f[0], f[1]}
	}
	want := map[string]debEntry{
		"/usr/bin/streamsync":                                       {"-rwxr-xr-x", "root/root"},
		"/lib/systemd/system/streamsync.service":                    {"-rw-r--r--", "root/root"},
		"/usr/lib/sysusers.d/streamsync.conf":                       {"-rw-r--r--", "root/root"},
		"/etc/streamsync":                                           {"drwxr-x---", "root/streamsync"},
		"/etc/streamsync/config.toml":                               {"-rw-r-----", "root/streamsync"},
		"/var/lib/streamsync":                                       {"drwx------", "streamsync/streamsync"},
		"/usr/share/doc/streamsync/copyright":                       {"-rw-r--r--", "root/root"},
		"/usr/share/doc/streamsync/changelog.Debian.gz":             {"-rw-r--r--", "0/0"},
		"/usr/share/doc/streamsync/README.md.gz":                    {"-rw-r--r--", "root/root"},
		"/usr/share/doc/streamsync/examples/config.example.toml.gz": {"-rw-r--r--", "root/root"},
		"/usr/share/man/man1/streamsync.1.gz":                       {"-rw-r--r--", "root/root"},
		"/usr/share/lintian/overrides/streamsync":                   {"-rw-r--r--", "root/root"},
		"/usr/share/streamsync/grafana/streamsync.json":             {"-rw-r--r--", "root/root"},
		"/usr/share/streamsync/prometheus/alerts.yml":               {"-rw-r--r--", "root/root"},
	}
	for path, w := range want {
		got, ok := entries[path]
		switch {
		case !ok:
			t.Errorf("%s: not in the package", path)
		case got.mode != w.mode || (got.owner != w.owner && !(w.owner == "0/0" && got.owner == "root/root")):
			t.Errorf("%s: %s %s, want %s %s", path, got.mode, got.owner, w.mode, w.owner)
		}
	}
	for path, e := range entries {
		if _, ok := want[path]; !ok && !strings.HasPrefix(e.mode, "d") {
			t.Errorf("%s: unexpected file in the package", path)
		}
	}
	if got := strings.TrimSpace(output(t, dpkgDeb, "--info", first.deb, "conffiles")); got != "/etc/streamsync/config.toml" {
		t.Errorf("conffiles = %q, want only /etc/streamsync/config.toml", got)
	}
	fields := map[string]string{
		"Package":      "streamsync",
		"Version":      "0.9.0-1",
		"Architecture": runtime.GOARCH,
		"Depends":      "systemd (>= 238) | systemd-sysusers",
	}
	for field, w := range fields {
		if got := strings.TrimSpace(output(t, dpkgDeb, "--field", first.deb, field)); got != w {
			t.Errorf("control %s = %q, want %q", field, got, w)
		}
	}
	if name := filepath.Base(first.deb); name != "streamsync_0.9.0-1_"+runtime.GOARCH+".deb" {
		t.Errorf("package file %s, want streamsync_0.9.0-1_%s.deb", name, runtime.GOARCH)
	}

	dir := t.TempDir()
	output(t, dpkgDeb, "--extract", first.deb, dir)
	unit, err := os.ReadFile(filepath.Join(dir, "lib/systemd/system/streamsync.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart=/usr/bin/streamsync serve -config /etc/streamsync/config.toml\n") {
		t.Errorf("packaged unit does not start /usr/bin/streamsync on /etc/streamsync/config.toml:\n%s", unit)
	}
	checkBinary(t, filepath.Join(dir, "usr/bin/streamsync"), "v0.9.0")
}

// checkBinary asserts a static ELF for this machine that reports version.
func checkBinary(t *testing.T, path, version string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is not static: it has %s", path, p.Type)
		}
	}
	if got := strings.TrimSpace(output(t, path, "version")); got != "streamsync "+version {
		t.Errorf("%s version = %q, want %q", path, got, "streamsync "+version)
	}
}

// TestArchive: the tar.gz holds the binary, README, LICENSE, example config
// and unit in one directory named after the release, and SHA256SUMS
// matches every file written.
func TestArchive(t *testing.T) {
	t.Parallel()
	first, _ := packages(t)
	prefix := "streamsync-v0.9.0-linux-" + runtime.GOARCH + "/"
	if filepath.Base(first.archive) != strings.TrimSuffix(prefix, "/")+".tar.gz" {
		t.Fatalf("archive %s, want %s.tar.gz", first.archive, strings.TrimSuffix(prefix, "/"))
	}
	f, err := os.Open(first.archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "root" {
			t.Errorf("%s owned by %s (%d:%d), want root", h.Name, h.Uname, h.Uid, h.Gid)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		names = append(names, strings.TrimPrefix(h.Name, prefix))
		if h.Name == prefix+"streamsync" {
			out, err := os.OpenFile(filepath.Join(dir, "streamsync"), os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			_ = out.Close()
		}
	}
	want := []string{"LICENSE", "README.md", "config.example.toml", "streamsync", "systemd/streamsync.service"}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("archive files %q, want %q", names, want)
	}
	checkBinary(t, filepath.Join(dir, "streamsync"), "v0.9.0")

	sums := apptest.Tool(t, "sha256sum", "coreutils")
	cmd := exec.Command(sums, "--check", "--strict", "SHA256SUMS")
	cmd.Dir = first.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum --check: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), ": OK"); n != 2 {
		t.Errorf("SHA256SUMS checks %d files, want 2 (archive and package):\n%s", n, out)
	}
}
