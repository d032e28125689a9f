package deb_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"

	streamsync "github.com/streamsync/streamsync"
	"github.com/streamsync/streamsync/ice"
	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/turnserver"
)

// scratchRoot is an empty system for dpkg --root: its database and
// nothing else. The maintainer scripts run outside it with DPKG_ROOT set
// (--force-script-chrootless), and run the static binary inside it with
// chroot.
type scratchRoot struct {
	t    *testing.T
	dir  string
	dpkg string
}

func newScratchRoot(t *testing.T) *scratchRoot {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root; installing into a scratch root needs it (chown, chroot)")
		}
		t.Skip("installing into a scratch root needs root (dpkg sets owners, postinst uses chroot)")
	}
	r := &scratchRoot{t: t, dir: t.TempDir(), dpkg: apptest.Tool(t, "dpkg", "dpkg")}
	apptest.Tool(t, "systemd-sysusers", "systemd")
	apptest.Tool(t, "deb-systemd-helper", "init-system-helpers")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(r.dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// dpkgDo runs dpkg on the root (dependencies are not there: systemd is the
// host's) and returns what it and the maintainer scripts printed.
func (r *scratchRoot) dpkgDo(args ...string) string {
	r.t.Helper()
	args = append([]string{"--root=" + r.dir, "--force-script-chrootless", "--force-depends"}, args...)
	out, err := exec.Command(r.dpkg, args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// path is name inside the root.
func (r *scratchRoot) path(name string) string { return filepath.Join(r.dir, name) }

// inside runs the installed binary in the root and returns its exit code
// and output.
func (r *scratchRoot) inside(args ...string) (int, string) {
	r.t.Helper()
	out, err := exec.Command("chroot", append([]string{r.dir, "/usr/bin/streamsync"}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		r.t.Fatalf("chroot streamsync %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return 0, string(out)
}

// id is a user's or group's numeric id in the root's passwd or group.
func (r *scratchRoot) id(db, name string) uint32 {
	r.t.Helper()
	f, err := os.Open(r.path("etc/" + db))
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 2 && fields[0] == name {
			n, err := strconv.ParseUint(fields[2], 10, 32)
			if err != nil {
				r.t.Fatal(err)
			}
			return uint32(n)
		}
	}
	r.t.Fatalf("no %s in the root's %s", name, db)
	return 0
}

// owned asserts a path's owner, group and mode.
func (r *scratchRoot) owned(name string, uid, gid uint32, mode os.FileMode) {
	r.t.Helper()
	fi, err := os.Stat(r.path(name))
	if err != nil {
		r.t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != mode {
		r.t.Errorf("%s: %d:%d %o, want %d:%d %o", name, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid, mode)
	}
}

// secret is the TURN secret postinst wrote (the file's one non-comment
// line).
func (r *scratchRoot) secret() string {
	r.t.Helper()
	data, err := os.ReadFile(r.path("etc/streamsync/turn-secret"))
	if err != nil {
		r.t.Fatal(err)
	}
	var secrets []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			secrets = append(secrets, line)
		}
	}
	if len(secrets) != 1 {
		r.t.Fatalf("turn-secret holds %d secrets, want 1:\n%s", len(secrets), data)
	}
	return secrets[0]
}

// TestInstallUpgradePurge installs the package as an operator would, with
// dpkg, into a scratch root: the user, owners and modes, a fresh secret
// that the installed config uses, the service enabled but not started and
// a message saying what to set; then an upgrade that keeps the edited
// config and the secret, a remove that keeps them, and a purge that
// removes them.
func TestInstallUpgradePurge(t *testing.T) {
	first, upgrade := packages(t)
	r := newScratchRoot(t)
	msg := r.dpkgDo("--install", first.deb)
	for _, want := range []string{"enabled, but not started", "public_host", "[tls]", "systemctl start streamsync"} {
		if !strings.Contains(msg, want) {
			t.Errorf("postinst does not say %q:\n%s", want, msg)
		}
	}

	uid, gid := r.id("passwd", "streamsync"), r.id("group", "streamsync")
	if uid == 0 || gid == 0 {
		t.Fatalf("streamsync user %d:%d", uid, gid)
	}
	r.owned("etc/streamsync", 0, gid, 0o750)
	r.owned("etc/streamsync/config.toml", 0, gid, 0o640)
	r.owned("etc/streamsync/turn-secret", 0, gid, 0o640)
	r.owned("var/lib/streamsync", uid, gid, 0o700)
	if target, err := os.Readlink(r.path("etc/systemd/system/multi-user.target.wants/streamsync.service")); err != nil || target != "/lib/systemd/system/streamsync.service" {
		t.Errorf("service not enabled: wants link -> %q (%v)", target, err)
	}

	secret := r.secret()
	if len(secret) < 40 || strings.Contains(string(streamsync.ExampleConfig), secret) {
		t.Errorf("secret %q: want 32 random bytes in base64, not from the example", secret)
	}
	other := newScratchRoot(t)
	other.dpkgDo("--install", first.deb)
	if other.secret() == secret {
		t.Errorf("two installs made the same secret %q", secret)
	}
	checkConfigUses(t, r, secret)

	// The operator says where browsers reach the appliance, then upgrades.
	conf := r.path("etc/streamsync/config.toml")
	edited := editConfig(t, conf, `public_host = ""`, `public_host = "call.example.com"`)
	if code, out := r.inside("check-config", "-public", "-config", "/etc/streamsync/config.toml"); code != 0 {
		t.Errorf("check-config -public after setting public_host: exit %d\n%s", code, out)
	}
	msg = r.dpkgDo("--install", upgrade.deb)
	if strings.Contains(msg, "not started") {
		t.Errorf("postinst still says not started once public_host is set:\n%s", msg)
	}
	if got, _ := os.ReadFile(conf); string(got) != edited {
		t.Error("the upgrade replaced the edited config")
	}
	if r.secret() != secret {
		t.Error("the upgrade replaced the secret")
	}
	if code, out := r.inside("version"); code != 0 || strings.TrimSpace(out) != "streamsync "+upgradeVersion {
		t.Errorf("after the upgrade: version %q (exit %d), want %s", out, code, upgradeVersion)
	}

	// remove keeps the config, secret and state; purge removes them.
	if err := os.WriteFile(r.path("var/lib/streamsync/acme-account"), []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.dpkgDo("--remove", "streamsync")
	for _, f := range []string{"etc/streamsync/config.toml", "etc/streamsync/turn-secret", "var/lib/streamsync/acme-account"} {
		if _, err := os.Stat(r.path(f)); err != nil {
			t.Errorf("remove (not purge) deleted %s: %v", f, err)
		}
	}
	if _, err := os.Stat(r.path("usr/bin/streamsync")); !os.IsNotExist(err) {
		t.Errorf("remove left the binary: %v", err)
	}
	r.dpkgDo("--purge", "streamsync")
	for _, f := range []string{"etc/streamsync", "var/lib/streamsync", "etc/systemd/system/multi-user.target.wants/streamsync.service"} {
		if _, err := os.Lstat(r.path(f)); !os.IsNotExist(err) {
			t.Errorf("purge left %s (%v)", f, err)
		}
	}
}

// checkConfigUses asserts that check-config accepts the installed config
// (valid, for this machine only until public_host is set), that it names
// the secret file, and that the credentials it mints are signed with
// secret.
func checkConfigUses(t *testing.T, r *scratchRoot, secret string) {
	t.Helper()
	if code, out := r.inside("check-config", "-config", "/etc/streamsync/config.toml"); code != 0 || !strings.Contains(out, ": ok") {
		t.Errorf("check-config on the installed config: exit %d\n%s", code, out)
	}
	if code, out := r.inside("check-config", "-public", "-config", "/etc/streamsync/config.toml"); code != 3 {
		t.Errorf("check-config -public before public_host is set: exit %d, want 3\n%s", code, out)
	}
	data, err := os.ReadFile(r.path("etc/streamsync/config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TURN.SecretFile != "/etc/streamsync/turn-secret" || len(cfg.TURN.Secrets) != 0 {
		t.Errorf("installed config: secret_file %q, secrets %q; want only the secret file", cfg.TURN.SecretFile, cfg.TURN.Secrets)
	}
	code, out := r.inside("credentials", "-config", "/etc/streamsync/config.toml", "-user", "pkgtest")
	if code != 0 {
		t.Fatalf("credentials on the installed config: exit %d\n%s", code, out)
	}
	var ic ice.Config
	if err := json.Unmarshal([]byte(out), &ic); err != nil {
		t.Fatalf("credentials output: %v\n%s", err, out)
	}
	minted := false
	for _, s := range ic.Servers {
		if s.Username != "" {
			minted = true
			if s.Credential != turnserver.RESTPassword(secret, s.Username) {
				t.Errorf("credential for %s is not signed with the installed secret", s.Username)
			}
		}
	}
	if !minted {
		t.Errorf("no TURN credentials minted:\n%s", out)
	}
}

// editConfig replaces old by repl in the config file, as an operator's
// editor would, and returns the new content.
func editConfig(t *testing.T, path, old, repl string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("%s: want one %q", path, old)
	}
	edited := strings.Replace(string(data), old, repl, 1)
	if err := os.WriteFile(path, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	return edited
}
