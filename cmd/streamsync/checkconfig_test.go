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
