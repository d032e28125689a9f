package certs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeFileAtomic(t, certFile, []byte("x"), time.Now())
	writeFileAtomic(t, keyFile, []byte("x"), time.Now())
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings, one per expected problem; none = valid
	}{
		{"default is off and valid", func(*Config) {}, nil},
		{"files", func(c *Config) { c.CertFile, c.KeyFile = certFile, keyFile }, nil},
		{"acme", func(c *Config) { c.ACME, c.Domains, c.Email = true, []string{"call.example.com"}, "ops@example.com" }, nil},
		{"domains imply acme", func(c *Config) { c.Domains = []string{"call.example.com", "turn.example.com"} }, nil},
		{"both modes", func(c *Config) { c.CertFile, c.KeyFile, c.Domains = certFile, keyFile, []string{"call.example.com"} },
			[]string{"cert_file: set together with ACME"}},
		{"cert without key", func(c *Config) { c.CertFile = certFile }, []string{"key_file: must be set"}},
		{"unreadable", func(c *Config) { c.CertFile, c.KeyFile = missing, keyFile }, []string{"cert_file: open " + missing}},
		{"acme without domains", func(c *Config) { c.ACME = true }, []string{"domains: must list at least one"}},
		{"bad domains", func(c *Config) {
			c.Domains = []string{"203.0.113.1", "localhost", "*.example.com", "call.example.com:443", "https://x.example.com", "a..b", "call.example.com", "CALL.example.com"}
		}, []string{
			`domains[0]: must be a host name, not an IP address (got "203.0.113.1")`,
			`domains[1]: must be a fully qualified name such as call.example.com (got "localhost")`,
			`domains[2]: must be a host name`,
			`domains[3]: must be a host name`,
			`domains[4]: must be a host name`,
			`domains[5]: must be a host name`,
			`domains[7]: listed twice (got "CALL.example.com")`,
		}},
		{"bad email", func(c *Config) { c.Domains, c.Email = []string{"call.example.com"}, "Ops <ops@example.com>" },
			[]string{`email: must be a plain address such as admin@example.com (got "Ops <ops@example.com>")`}},
		{"email without acme", func(c *Config) { c.Email = "ops@example.com" }, []string{"email: set but ACME is off"}},
		{"ca file without acme", func(c *Config) { c.ACMECAFile = certFile }, []string{"acme_ca_file: set but ACME is off"}},
		{"acme details", func(c *Config) {
			c.Domains = []string{"call.example.com"}
			c.CacheDir, c.DirectoryURL, c.ACMECAFile, c.ACMETimeout = "", "http://ca.example.com/dir", missing, time.Second
		}, []string{
			"cache_dir: must be set with ACME",
			`directory_url: must be an https:// URL (got "http://ca.example.com/dir")`,
			"acme_ca_file: open " + missing,
			"acme_timeout: must be between 5s and 30m (got 1s)",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestConfigEnabled(t *testing.T) {
	c := DefaultConfig()
	if c.Enabled() {
		t.Fatal("default config turns TLS on")
	}
	c.Domains = []string{"call.example.com"}
	if !c.Enabled() {
		t.Fatal("domains do not turn TLS on")
	}
}
