package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/streamsync/streamsync/internal/secretfile"
)

// Warnings lists settings that work but open the appliance up, each line
// naming its key: relay ranges that reach this host's loopback, the cloud
// metadata endpoint or everything, and a metrics listener other hosts can
// reach without any access control. check-config prints them; serve logs
// them at WARN when it starts and on every reload.
func (c Config) Warnings() []string {
	var out []string
	for i, p := range c.TURN.AllowedPeerRanges {
		if what := opensUp(p); what != "" {
			out = append(out, fmt.Sprintf("turn.allowed_peer_ranges[%d]: %s lets relayed traffic reach %s; allow only the ranges the relay must reach", i, p, what))
		}
	}
	if l := c.Metrics.Listen; l != "" && !loopbackListen(l) {
		out = append(out, fmt.Sprintf("metrics.listen: %q is reachable from other hosts and /metrics has no access control; use 127.0.0.1:9479 (or a private address behind a firewall)", l))
	}
	return out
}

// opensUp names what of the ranges the relay denies by default p lets in:
// everything, loopback, the metadata endpoint.
func opensUp(p netip.Prefix) string {
	switch {
	case p.Bits() == 0:
		return "every address, loopback, private networks and the cloud metadata endpoint 169.254.169.254 included"
	case p.Contains(netip.MustParseAddr("127.0.0.1")) || p.Contains(netip.IPv6Loopback()):
		return "this host's loopback services"
	case p.Contains(netip.MustParseAddr("169.254.169.254")):
		return "the cloud metadata endpoint 169.254.169.254"
	}
	return ""
}

// loopbackListen reports whether a host:port listens on loopback only.
func loopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// fileWarnings names the secret files, and the config file itself when it
// holds secrets, that every user on this machine can read or write. path
// is the config file ("" for the embedded default); c is as decoded, its
// *_file keys not yet loaded.
func fileWarnings(c Config, path string) []string {
	var out []string
	for _, f := range []struct{ key, path string }{
		{"turn.secret_file", c.TURN.SecretFile},
		{"signaling.create_password_file", c.Signaling.CreatePasswordFile},
		{"cluster.password_file", c.Cluster.PasswordFile},
		{"cluster.token_file", c.Cluster.TokenFile},
		{"cluster.creds_file", c.Cluster.CredsFile},
		{"cluster.tls_key", c.Cluster.TLSKey},
		{"tls.key_file", c.TLS.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if w := secretfile.Exposed(f.path); w != "" {
			out = append(out, fmt.Sprintf("%s: %s %s", f.key, f.path, w))
		}
	}
	if path == "" {
		return out
	}
	var inline []string
	for key, set := range map[string]bool{
		"turn.secrets":              len(c.TURN.Secrets) > 0,
		"signaling.create_password": c.Signaling.CreatePassword != "",
		"cluster.password":          c.Cluster.Password != "",
		"cluster.token":             c.Cluster.Token != "",
	} {
		if set {
			inline = append(inline, key)
		}
	}
	if len(inline) == 0 {
		return out
	}
	if w := secretfile.Exposed(path); w != "" {
		slices.Sort(inline)
		out = append(out, fmt.Sprintf("%s: holds secrets (%s) and %s; or move them to *_file keys", path, strings.Join(inline, ", "), w))
	}
	return out
}
