package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOperatorMistakes: each mistake issue 15 found accepted silently is
// now an error or a warning, naming its key (and, for files, the mode).
func TestOperatorMistakes(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const turnOK = "[turn]\nsecrets = [\"0123456789abcdef-secret\"]\n"
	for _, tc := range []struct {
		name    string
		toml    string
		mode    os.FileMode // of the config file; 0600 when 0
		err     string      // a problem that must be reported ("" = none)
		warning string      // a warning that must be given ("" = none)
	}{
		{name: "short secret in turn.secret_file",
			toml: "[turn]\nsecret_file = \"" + file("short", "abc\n", 0o600) + "\"\n",
			err:  "turn.secret_file: " + filepath.Join(dir, "short") + ", line 1: must be at least 16 characters (got 3)"},
		{name: "one-character create password from a file",
			toml: turnOK + "[signaling]\ncreate_password_file = \"" + file("pw", "x\n", 0o600) + "\"\n",
			err:  "signaling.create_password_file: " + filepath.Join(dir, "pw") + ": must be at least 8 characters (got 1)"},
		{name: "short inline create password",
			toml: turnOK + "[signaling]\ncreate_password = \"abc\"\n",
			err:  "signaling.create_password: must be at least 8 characters (got 3)"},
		{name: "the README's placeholder secret",
			toml: "[turn]\nsecrets = [\"a long random string\"]\n",
			err:  `turn.secrets[0]: is the README's placeholder "a long random string"`},
		{name: "the placeholder in a secret file",
			toml: "[turn]\nsecret_file = \"" + file("ph", "a long random string\n", 0o600) + "\"\n",
			err:  "turn.secret_file: " + filepath.Join(dir, "ph") + ", line 1: is the README's placeholder"},
		{name: "secret file readable by every user",
			toml:    "[turn]\nsecret_file = \"" + file("open", "0123456789abcdef-secret\n", 0o644) + "\"\n",
			warning: "turn.secret_file: " + filepath.Join(dir, "open") + " is readable by every user on this machine (mode 0644)"},
		{name: "config with secrets readable by every user",
			toml: turnOK, mode: 0o644,
			warning: "holds secrets (turn.secrets) and is readable by every user on this machine (mode 0644)"},
		{name: "config without secrets may be readable", toml: "[log]\nlevel = \"debug\"\n", mode: 0o644},
		{name: "allowed_peer_ranges 0.0.0.0/0",
			toml:    turnOK + "allowed_peer_ranges = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n",
			warning: "turn.allowed_peer_ranges[1]: 0.0.0.0/0 lets relayed traffic reach every address"},
		{name: "allowed_peer_ranges ::/0",
			toml:    turnOK + "allowed_peer_ranges = [\"::/0\"]\n",
			warning: "turn.allowed_peer_ranges[0]: ::/0 lets relayed traffic reach every address"},
		{name: "allowed_peer_ranges with loopback",
			toml:    turnOK + "allowed_peer_ranges = [\"127.0.0.0/8\"]\n",
			warning: "turn.allowed_peer_ranges[0]: 127.0.0.0/8 lets relayed traffic reach this host's loopback services"},
		{name: "trusted_proxies 0.0.0.0/0",
			toml: turnOK + "[signaling]\ntrusted_proxies = [\"::1/128\", \"0.0.0.0/0\"]\n",
			err:  "signaling.trusted_proxies[1]: trusts every address"},
		{name: "trusted_proxies ::/0",
			toml: turnOK + "[signaling]\ntrusted_proxies = [\"::/0\"]\n",
			err:  "signaling.trusted_proxies[0]: trusts every address"},
		{name: "trusted_proxies two halves of IPv4",
			toml: turnOK + "[signaling]\ntrusted_proxies = [\"0.0.0.0/1\", \"128.0.0.0/1\"]\n",
			err:  "signaling.trusted_proxies[1]: trusts too many addresses (shorter than /8 for IPv4, /32 for IPv6)"},
		{name: "trusted_proxies IPv4 /7",
			toml: turnOK + "[signaling]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.0.0/7\"]\n",
			err:  "signaling.trusted_proxies[1]: trusts too many addresses"},
		{name: "trusted_proxies IPv6 /31",
			toml: turnOK + "[signaling]\ntrusted_proxies = [\"2000::/3\"]\n",
			err:  "signaling.trusted_proxies[0]: trusts too many addresses"},
		{name: "trusted_proxies a /8 and a /32", toml: turnOK + "[signaling]\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"},
		{name: "metrics on every interface",
			toml:    turnOK + "[metrics]\nlisten = \":9479\"\n",
			warning: `metrics.listen: ":9479" is reachable from other hosts and /metrics has no access control`},
		{name: "metrics on a public address",
			toml:    turnOK + "[metrics]\nlisten = \"203.0.113.5:9479\"\n",
			warning: `metrics.listen: "203.0.113.5:9479" is reachable`},
		{name: "metrics on loopback", toml: turnOK + "[metrics]\nlisten = \"[::1]:9479\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == 0 {
				mode = 0o600
			}
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, warnings, err := LoadChecked(path)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
			joined := strings.Join(warnings, "\n")
			switch {
			case tc.warning == "" && len(warnings) > 0:
				t.Fatalf("unexpected warnings:\n%s", joined)
			case tc.warning != "" && !strings.Contains(joined, tc.warning):
				t.Fatalf("warnings:\n%s\nwant one with %q", joined, tc.warning)
			}
		})
	}
}

// TestEveryProblemAtOnce: a bad value and a bad secret file are reported
// together, not the file only once the rest is fixed.
func TestEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("abc\n"), 0o600)
	p := filepath.Join(dir, "c.toml")
	body := "[turn]\nsecret_file = \"" + short + "\"\n[signaling]\ntrusted_proxies = [\"0.0.0.0/0\"]\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadChecked(p)
	for _, want := range []string{"signaling.trusted_proxies[0]", "turn.secret_file: " + short} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestLoadSecretsPrefixesEveryProblem: every problem of a section's secret
// files names the section, not only the first.
func TestLoadSecretsPrefixesEveryProblem(t *testing.T) {
	dir := t.TempDir()
	body := "[turn]\nsecrets = [\"0123456789abcdef-secret\"]\n[cluster]\nuser = \"u\"\npassword_file = \"" +
		filepath.Join(dir, "missing-pw") + "\"\n"
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c.Cluster.TokenFile = filepath.Join(dir, "missing-token") // both set: two problems in one section
	lines := Problems(c.LoadSecrets())
	for _, line := range lines {
		if !strings.HasPrefix(line, "cluster.") {
			t.Errorf("problem without its section: %q", line)
		}
	}
	for _, want := range []string{
		"cluster.password_file: open " + filepath.Join(dir, "missing-pw") + ": ",
		"cluster.token_file: open " + filepath.Join(dir, "missing-token") + ": ",
	} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("problems %q: none starts with %q", lines, want)
		}
	}
}

// TestTwoBadSecretFiles: two bad secret files of two sections, loaded as
// the appliance loads its config, print one line each, each with its key.
func TestTwoBadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short-secret")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing-token")
	body := "[turn]\nsecret_file = \"" + short + "\"\n" +
		"[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\ntoken_file = \"" + missing + "\"\n"
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadChecked(p)
	if err == nil {
		t.Fatal("LoadChecked accepted two bad secret files")
	}
	lines := Problems(err)
	for _, want := range []string{
		"turn.secret_file: " + short + ", line 1: must be at least 16 characters (got 3)",
		"cluster.token_file: open " + missing + ": ",
	} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("problems %q: none has %q", lines, want)
		}
	}
}
