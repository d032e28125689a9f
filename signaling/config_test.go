package signaling

import (
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/streamsync/streamsync/internal/roomid"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.MaxPeersPerRoom = 1
	c.ReadLimit = 10
	c.PingInterval = 2 * time.Minute
	c.MessageRate = 0
	c.AllowedOrigins = []string{"https://ok.example", "ftp://x", "https://a.example/path"}
	c.CreatePassword, c.CreatePasswordFile = "x", "/y"
	c.ResumeQueue = 500
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"max_peers_per_room: must be between 2 and 50 (got 1)",
		"read_limit: must be between 4096 and 1048576 (got 10)",
		"ping_interval: must be between 100ms and 50s (got 2m0s)",
		"message_rate: must be between 1 and 10000 (got 0)",
		`allowed_origins[1]: must be http(s)://host[:port] (got "ftp://x")`,
		`allowed_origins[2]: must be an origin only`,
		"create_password: set either",
		"resume_queue: must be <= send_queue (got 500 > 256)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ok.example") {
		t.Errorf("valid origin reported: %v", err)
	}
}

func TestConfigDecodesFromTOML(t *testing.T) {
	src := `
allowed_origins = ["https://call.example.com"]
max_peers_per_room = 4
join_timeout = "5s"
trusted_proxies = ["10.0.0.0/8", "::1/128"]
message_rate = 20.5
`
	c := DefaultConfig()
	md, err := toml.Decode(src, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undecoded keys: %v", u)
	}
	if c.MaxPeersPerRoom != 4 || c.JoinTimeout != 5*time.Second || len(c.TrustedProxies) != 2 ||
		c.TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") || c.MessageRate != 20.5 || c.SendQueue != 256 {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("  hunter2hunter2 \nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.CreatePasswordFile = f
	if _, err := New(c, Options{}); err == nil {
		t.Fatal("New accepted an unloaded password file")
	}
	if err := c.LoadSecrets(); err != nil {
		t.Fatal(err)
	}
	if c.CreatePassword != "hunter2hunter2" || c.Validate() != nil {
		t.Fatalf("password %q", c.CreatePassword)
	}
	s, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Shutdown(t.Context())

	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for _, name := range []string{empty, filepath.Join(dir, "missing")} {
		c := DefaultConfig()
		c.CreatePasswordFile = name
		if err := c.LoadSecrets(); err == nil || !strings.HasPrefix(err.Error(), "create_password_file: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct", "203.0.113.5:1234", "", "203.0.113.5"},
		{"untrusted peer's XFF ignored", "203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},
		{"trusted proxy", "10.0.0.1:80", "198.51.100.7", "198.51.100.7"},
		{"chain of proxies", "10.0.0.1:80", "198.51.100.7, 10.0.0.2", "198.51.100.7"},
		{"spoofed left entry ignored", "10.0.0.1:80", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"garbage stops the walk", "10.0.0.1:80", "198.51.100.7, nonsense", "10.0.0.1"},
		{"only proxies", "10.0.0.1:80", "10.0.0.3", "10.0.0.3"},
		{"ipv6 trusted", "[::1]:80", "2001:db8::1", "2001:db8::1"},
		{"mapped v4", "[::ffff:203.0.113.5]:1", "", "203.0.113.5"},
		{"ipv4 with port", "10.0.0.1:80", "198.51.100.7:4711", "198.51.100.7"},
		{"ipv6 with port", "10.0.0.1:80", "[2001:db8::7]:4711, 10.0.0.2:80", "2001:db8::7"},
		{"ipv6 in brackets", "10.0.0.1:80", "[2001:db8::7]", "2001:db8::7"},
		{"bracketed ipv4 is garbage", "10.0.0.1:80", "[198.51.100.7]", "10.0.0.1"},
		{"port without address is garbage", "10.0.0.1:80", ":4711", "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := clientIP(r, trusted).String(); got != tc.want {
				t.Fatalf("clientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	sign := newSigner(nil)
	for range 1000 {
		id := sign.newRoomID()
		if !roomid.Valid(id) || !sign.verifyRoomID(id) || seen[id] {
			t.Fatalf("bad or repeated room id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 31) + "/", strings.Repeat("a", 33), strings.Repeat("a", 22)} {
		if roomid.Valid(bad) {
			t.Errorf("roomid.Valid(%q) = true", bad)
		}
	}
	u := turnUser(sign.newRoomID(), newPeerID())
	if strings.ContainsRune(u, ':') || len(u) != 8+1+11 {
		t.Fatalf("turn user %q", u)
	}
}

func TestRefreshDelay(t *testing.T) {
	now := time.Now()
	tests := []struct {
		exp  time.Time
		want time.Duration
	}{
		{time.Time{}, 0},
		{now.Add(time.Hour), 45 * time.Minute},
		{now.Add(100 * time.Millisecond), minRefreshDelay},
		{now.Add(-time.Hour), minRefreshDelay},
	}
	for _, tc := range tests {
		if got := refreshDelay(iceConfigExpiring(tc.exp), now); got != tc.want {
			t.Errorf("refreshDelay(%v) = %v, want %v", tc.exp.Sub(now), got, tc.want)
		}
	}
}

// The [signaling] block in docs/protocol.md decodes strictly, validates,
// and equals DefaultConfig.
func TestDocumentedConfig(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Skip("docs not found:", err)
	}
	_, rest, _ := strings.Cut(string(b), "```toml\n[signaling]\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no [signaling] toml block in docs/protocol.md")
	}
	var c Config
	md, err := toml.Decode(block, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undocumented-in-code keys: %v", u)
	}
	if n, want := len(md.Keys()), reflect.TypeFor[Config]().NumField(); n != want {
		t.Fatalf("documented %d keys, want all %d", n, want)
	}
	c.AllowedOrigins, c.TrustedProxies = nil, nil
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := DefaultConfig(); !reflect.DeepEqual(c, d) {
		t.Fatalf("documented defaults differ:\n%+v\n%+v", c, d)
	}
}
