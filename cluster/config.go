// Package cluster lets several StreamSync appliances serve one set of rooms
// through NATS (the backplane nextcloud-spreed-signaling uses): it owns the
// [cluster] section and Registry, a signaling.Registry whose rooms, rosters
// and resume tokens live in a NATS JetStream key-value bucket and whose
// messages travel between nodes over NATS subjects. docs/cluster.md
// describes the design.
package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/streamsync/streamsync/internal/roomid"
	"github.com/streamsync/streamsync/internal/secretfile"
)

// Config is the [cluster] section. Off by default: a single appliance
// needs none of it.
type Config struct {
	// Enabled turns clustering on. Default: false.
	Enabled bool `toml:"enabled"`

	// NATSURLs lists the NATS servers to connect to ("nats://host:4222",
	// "tls://host:4222"); any one is enough, the client learns the rest of
	// a NATS cluster from it. Default: ["nats://127.0.0.1:4222"].
	NATSURLs []string `toml:"nats_urls"`

	// User and Password authenticate to NATS by user name. Default: "".
	User     string `toml:"user"`
	Password string `toml:"password"`
	// PasswordFile names a file whose first line is Password; read by
	// LoadSecrets. Default: "".
	PasswordFile string `toml:"password_file"`

	// Token authenticates to NATS by token. Default: "".
	Token string `toml:"token"`
	// TokenFile names a file whose first line is Token. Default: "".
	TokenFile string `toml:"token_file"`

	// CredsFile names a NATS credentials file (JWT and NKey seed, as made
	// by nsc). Default: "".
	CredsFile string `toml:"creds_file"`

	// TLSCA names a PEM file of CAs that sign the NATS servers'
	// certificates; empty uses the system roots. Default: "".
	TLSCA string `toml:"tls_ca"`
	// TLSCert and TLSKey name a PEM client certificate and key, for NATS
	// servers that verify clients. Default: "".
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`

	// NodeID names this node to the others, in logs and in the bucket
	// ([A-Za-z0-9_-], at most 64). Default: "" (the host name).
	NodeID string `toml:"node_id"`

	// PublicURL is this node's own address for browsers
	// ("https://call2.example.com"), told to the other nodes so a page
	// can fall back to it. Default: "".
	PublicURL string `toml:"public_url"`

	// Prefix names this deployment's bucket and subjects, so several may
	// share one NATS. Default: "streamsync".
	Prefix string `toml:"prefix"`

	// Replicas is the JetStream replication of the rooms bucket: 1 for a
	// single NATS server, 3 for a NATS cluster. Default: 1.
	Replicas int `toml:"replicas"`

	// Heartbeat is how often this node tells the others it is alive.
	// Default: 1s.
	Heartbeat time.Duration `toml:"heartbeat"`

	// NodeTimeout is how long a node may stay silent before the others
	// count it dead; its peers then get the resume grace period to come
	// back on another node. Default: 5s.
	NodeTimeout time.Duration `toml:"node_timeout"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		NATSURLs:    []string{"nats://127.0.0.1:4222"},
		Prefix:      "streamsync",
		Replicas:    1,
		Heartbeat:   time.Second,
		NodeTimeout: 5 * time.Second,
	}
}

// Validate reports every invalid value at once, each message starting with
// its key name. URLs and names are checked even when clustering is off, so
// a mistake shows before it is switched on.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.Enabled && len(c.NATSURLs) == 0 {
		bad("nats_urls", "must name at least one NATS server when enabled (got none)")
	}
	for i, u := range c.NATSURLs {
		if err := checkNATSURL(u); err != nil {
			bad(fmt.Sprintf("nats_urls[%d]", i), "%v (got %q)", err, u)
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		bad("password", "set either password or password_file, not both")
	}
	if c.Token != "" && c.TokenFile != "" {
		bad("token", "set either token or token_file, not both")
	}
	methods := 0
	for _, set := range []bool{c.User != "", c.Token != "" || c.TokenFile != "", c.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		bad("user", "use one of user/password, token and creds_file (got %d)", methods)
	}
	if (c.Password != "" || c.PasswordFile != "") && c.User == "" {
		bad("password", "needs user")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "tls_cert and tls_key go together (got cert %q, key %q)", c.TLSCert, c.TLSKey)
	}
	if c.NodeID != "" && !validName(c.NodeID, 64) {
		bad("node_id", "must be 1-64 of [A-Za-z0-9_-] (got %q)", c.NodeID)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "must be http(s)://host[:port][/path] (got %q)", c.PublicURL)
		}
	}
	if !validName(c.Prefix, 32) {
		bad("prefix", "must be 1-32 of [A-Za-z0-9_-] (got %q)", c.Prefix)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas", "must be between 1 and 5 (got %d)", c.Replicas)
	}
	if c.Heartbeat < 100*time.Millisecond || c.Heartbeat > time.Minute {
		bad("heartbeat", "must be between 100ms and 1m (got %s)", c.Heartbeat)
	}
	if c.NodeTimeout < 2*c.Heartbeat || c.NodeTimeout > 10*time.Minute {
		bad("node_timeout", "must be at least twice heartbeat and at most 10m (got %s, heartbeat %s)", c.NodeTimeout, c.Heartbeat)
	}
	return errors.Join(errs...)
}

// LoadSecrets reads PasswordFile and TokenFile, when set, into Password
// and Token: the first line of each, surrounding whitespace dropped.
func (c *Config) LoadSecrets() error {
	var errs []error
	if c.PasswordFile != "" {
		v, err := readSecret(c.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("password_file: %w", err))
		} else {
			c.Password, c.PasswordFile = v, ""
		}
	}
	if c.TokenFile != "" {
		v, err := readSecret(c.TokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("token_file: %w", err))
		} else {
			c.Token, c.TokenFile = v, ""
		}
	}
	return errors.Join(errs...)
}

// readSecret reads a NATS secret file: its first line, trimmed. NATS
// decides how long its secrets must be; ours only refuses an empty one or
// the README's placeholder.
func readSecret(path string) (string, error) {
	return secretfile.First(path, 1)
}

func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return errors.New("must be nats://, tls://, ws:// or wss://host:port")
	}
	if u.Host == "" {
		return errors.New("must name a host")
	}
	if u.User != nil {
		return errors.New("put credentials in user/password or token, not in the URL")
	}
	return nil
}

// validName reports whether s is 1..max characters of [A-Za-z0-9_-]: safe
// as a NATS subject token and a bucket name.
func validName(s string, max int) bool {
	return s != "" && len(s) <= max && roomid.InAlphabet(s)
}

// nodeName turns a host name into a valid node id.
func nodeName(host string) string {
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 48 {
		b = b[:48]
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}
