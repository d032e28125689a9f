package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigPublic: -public exits 3 on a valid config that names no
// public address and no [tls], 0 once it does, and 1 on problems.
func TestCheckConfigPublic(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"local", "[turn]\nsecrets = [\"0123456789abcdef0123\"]\n", 3},
		{"public_host", "[turn]\npublic_host = \"call.example.com\"\n", 0},
		{"public_ip", "[turn]\npublic_ip = \"203.0.113.10\"\n", 0},
		{"broken", "[turn]\npublic_host = \"call.example.com\"\nrelay_port_min = 2\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".toml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := run([]string{"check-config", "-public", "-config", path}, &out, &errOut); code != tc.want {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.want, out.String(), errOut.String())
			}
			if tc.want == 3 && !strings.Contains(out.String(), "public_host") {
				t.Errorf("exit 3 without naming public_host: %s", out.String())
			}
			// Without -public the same file is just valid.
			if code := run([]string{"check-config", "-config", path}, &out, &errOut); tc.want != 1 && code != 0 {
				t.Errorf("without -public: exit %d, want 0", code)
			}
		})
	}
}

// TestCheckConfigWarnings: check-config prints each risky setting as a
// warning naming its key and still exits 0; a refused secret exits 1.
func TestCheckConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	body := "[turn]\nsecrets = [\"0123456789abcdef-secret\"]\nallowed_peer_ranges = [\"0.0.0.0/0\"]\n[metrics]\nlisten = \"0.0.0.0:9479\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"config: warning: turn.allowed_peer_ranges[0]: 0.0.0.0/0",
		"config: warning: metrics.listen:",
		"config: warning: " + path + ": holds secrets (turn.secrets) and is readable by every user on this machine (mode 0644)",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "ok, with 3 warnings") {
		t.Errorf("stdout %q", out.String())
	}

	secret := filepath.Join(dir, "secret")
	_ = os.WriteFile(secret, []byte("abc\n"), 0o600)
	_ = os.WriteFile(path, []byte("[turn]\nsecret_file = \""+secret+"\"\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 1 {
		t.Fatalf("a 3-character file secret: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "turn.secret_file: "+secret+", line 1: must be at least 16 characters (got 3)") {
		t.Fatalf("stderr:\n%s", errOut.String())
	}
}
