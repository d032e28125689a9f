package deb_test

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"
	"time"

	streamsync "github.com/streamsync/streamsync"
	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/packaging/deb"
)

func TestVersion(t *testing.T) {
	commit := time.Date(2026, 11, 22, 4, 33, 38, 0, time.UTC)
	for _, tc := range []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-4-gdeadbee", "1.2.3+git4.deadbee"},
		{"v1.2.3-rc1-4-gdeadbee", "1.2.3~rc1+git4.deadbee"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-4-gdeadbee-dirty", "1.2.3+git4.deadbee+dirty"},
		{"af0aa89", "0.0~git20261122043338.af0aa89"},
		{"af0aa89-dirty", "0.0~git20261122043338.af0aa89+dirty"},
	} {
		got, err := deb.Version(tc.describe, commit)
		if err != nil || got != tc.want {
			t.Errorf("Version(%q) = %q, %v; want %q", tc.describe, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "devel", "v1.2.3-rc-1", "v1.2.3 ", "1.2.3_4", "../x"} {
		if got, err := deb.Version(bad, commit); err == nil {
			t.Errorf("Version(%q) = %q, want an error", bad, got)
		}
	}
}

// TestVersionOrder: dpkg sorts the mapped versions as the builds go.
func TestVersionOrder(t *testing.T) {
	dpkg := apptest.Tool(t, "dpkg", "dpkg")
	early, late := time.Unix(1790000000, 0), time.Unix(1790000100, 0)
	order := []struct {
		describe string
		at       time.Time
	}{
		{"aaaaaaa", early}, {"0000000", late}, // untagged: commit time orders
		{"v1.0.0-rc1", early}, {"v1.0.0-rc1-2-gbbbbbbb", early},
		{"v1.0.0", early}, {"v1.0.0-1-gccccccc", early}, {"v1.0.0-10-gddddddd", early}, {"v1.0.1", early},
	}
	for i := 1; i < len(order); i++ {
		a, err1 := deb.Version(order[i-1].describe, order[i-1].at)
		b, err2 := deb.Version(order[i].describe, order[i].at)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg: %s (%s) is not older than %s (%s)", a, order[i-1].describe, b, order[i].describe)
		}
	}
}

// TestConffile: the packaged config is the example with the secret file
// set, under a header, and it validates.
func TestConffile(t *testing.T) {
	got, err := deb.Conffile(streamsync.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(got)
	if err != nil {
		t.Fatalf("packaged config does not parse: %v", err)
	}
	if cfg.TURN.SecretFile != deb.SecretFile {
		t.Errorf("turn.secret_file = %q, want %q", cfg.TURN.SecretFile, deb.SecretFile)
	}
	want, err := config.Parse(streamsync.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	want.TURN.SecretFile = deb.SecretFile
	if !reflect.DeepEqual(cfg, want) {
		t.Error("the packaged config differs from the example in more than turn.secret_file")
	}
	header, _, ok := strings.Cut(string(got), string(streamsync.ExampleConfig[:40]))
	if !ok {
		t.Fatal("the example does not follow the header")
	}
	for _, w := range []string{"public_host", "[tls]", "systemctl start streamsync", deb.SecretFile} {
		if !strings.Contains(header, w) {
			t.Errorf("header does not mention %q:\n%s", w, header)
		}
	}
	if _, err := deb.Conffile([]byte("[turn]\n")); err == nil {
		t.Error("Conffile accepted an example without secret_file")
	}
}

// TestUnit: the packaged unit differs from systemd/streamsync.service in
// the ExecStart path only.
func TestUnit(t *testing.T) {
	src, err := os.ReadFile(moduleRoot() + "/systemd/streamsync.service")
	if err != nil {
		t.Fatal(err)
	}
	got, err := deb.Unit(src)
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(string(src), "\n"), strings.Split(string(got), "\n")
	if len(a) != len(b) {
		t.Fatalf("unit has %d lines, packaged %d", len(a), len(b))
	}
	changed := 0
	for i := range a {
		if a[i] != b[i] {
			changed++
			if !strings.HasPrefix(b[i], "ExecStart="+deb.Binary+" serve ") {
				t.Errorf("changed line %q -> %q", a[i], b[i])
			}
		}
	}
	if changed != 1 {
		t.Errorf("%d lines changed, want 1 (ExecStart)", changed)
	}
}
