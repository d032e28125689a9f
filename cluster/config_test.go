package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no url when enabled", func(c *Config) { c.Enabled, c.NATSURLs = true, nil }, "nats_urls: must name at least one"},
		{"bad scheme", func(c *Config) { c.NATSURLs = []string{"http://x:4222"} }, `nats_urls[0]: must be nats://`},
		{"credentials in url", func(c *Config) { c.NATSURLs = []string{"nats://u:p@x:4222"} }, "nats_urls[0]: put credentials"},
		{"two auth ways", func(c *Config) { c.User, c.Token = "u", "t" }, "user: use one of"},
		{"password without user", func(c *Config) { c.Password = "p" }, "password: needs user"},
		{"password twice", func(c *Config) { c.User, c.Password, c.PasswordFile = "u", "p", "f" }, "password: set either"},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "tls_cert: tls_cert and tls_key go together"},
		{"bad node id", func(c *Config) { c.NodeID = "a.b" }, `node_id: must be 1-64 of [A-Za-z0-9_-] (got "a.b")`},
		{"bad public url", func(c *Config) { c.PublicURL = "call.example.com" }, "public_url: must be http(s)"},
		{"bad prefix", func(c *Config) { c.Prefix = "" }, "prefix:"},
		{"replicas", func(c *Config) { c.Replicas = 7 }, "replicas: must be between 1 and 5 (got 7)"},
		{"heartbeat", func(c *Config) { c.Heartbeat = time.Millisecond }, "heartbeat: must be between 100ms and 1m (got 1ms)"},
		{"node timeout", func(c *Config) { c.NodeTimeout = time.Second }, "node_timeout: must be at least twice heartbeat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("  s3cret \nrest\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.User, c.PasswordFile = "ss", pw
	if err := c.LoadSecrets(); err != nil || c.Password != "s3cret" || c.PasswordFile != "" {
		t.Fatalf("LoadSecrets: %v, password %q", err, c.Password)
	}
	c = DefaultConfig()
	c.TokenFile = filepath.Join(dir, "missing")
	if err := c.LoadSecrets(); err == nil || !strings.HasPrefix(err.Error(), "token_file:") {
		t.Fatalf("missing token file: %v", err)
	}
	if _, err := New(Config{TokenFile: "x"}, Options{}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}

func TestNodeName(t *testing.T) {
	for in, want := range map[string]string{"web-1.example.com": "web-1", "a b": "a-b", "": "node"} {
		if got := nodeName(in); got != want || !validName(got, 64) {
			t.Errorf("nodeName(%q) = %q, want %q", in, got, want)
		}
	}
}
