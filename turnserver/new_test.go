package turnserver

import (
	"strings"
	"testing"
)

// TestNewRejectsInvalidConfig checks that New reports a bad config by key
// and value, binding nothing, where it used to panic or fail late.
func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"relay_bind not an address", func(c *Config) { c.RelayBind = "relay.example" }, `relay_bind: must be an IPv4 address, 0.0.0.0 for all (got "relay.example")`},
		{"relay_bind empty", func(c *Config) { c.RelayBind = "" }, `relay_bind: must be an IPv4 address`},
		{"relay_bind IPv6", func(c *Config) { c.RelayBind = "::1" }, `relay_bind: must be an IPv4 address`},
		{"public_ip", func(c *Config) { c.PublicIP = "not-an-ip" }, `public_ip: must be a specific IPv4 address (got "not-an-ip")`},
		{"port range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 30000, 29999 }, `relay_port_max: must be >= relay_port_min (got 29999 < 30000)`},
		{"short secret", func(c *Config) { c.Secrets = []string{"short"} }, `secrets[0]: must be at least 16 characters (got 5)`},
		{"listen address", func(c *Config) { c.ListenUDP = []string{"127.0.0.1"} }, `listen_udp[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mutate(&cfg)
			srv, err := New(cfg, Options{Logger: testLogger(t)})
			if err == nil {
				_ = srv.Close()
				t.Fatal("New accepted an invalid config")
			}
			if !strings.HasPrefix(err.Error(), "turn config: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %q, want it to start with %q and contain %q", err, "turn config: ", tc.want)
			}
		})
	}
}

// TestNewNilLoggerDiscards checks that a relay built without a logger runs
// and answers (its log lines, the no-secret warning among them, go nowhere).
func TestNewNilLoggerDiscards(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Secrets = nil // New logs a warning and generates one
	srv, err := New(cfg, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, _ := dialClient(t, srv, "udp", "", "")
	if _, err := c.SendBindingRequest(); err != nil {
		t.Fatalf("binding to a relay with a nil logger: %v", err)
	}
}
