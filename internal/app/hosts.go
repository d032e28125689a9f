package app

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/streamsync/streamsync/internal/config"
)

// hostGuard refuses requests whose Host is not one of the names the
// configuration gives the service (DNS rebinding: an attacker's name
// pointed at this server would make the attacker's page same-origin with
// ours, past the WebSocket's Origin check). An IP literal and localhost
// always pass: nobody can rebind those. Health checks pass whatever the
// Host, for load balancers that probe by address.
type hostGuard struct {
	names map[string]bool // lower case, without port or trailing dot
	next  http.Handler
}

// withHostGuard wraps next when cfg names the service (tls.domains,
// turn.public_host, cluster.public_url, the hosts of
// signaling.allowed_origins); with no name configured it cannot know
// which Hosts are right, and returns next unchanged.
func withHostGuard(cfg config.Config, next http.Handler) http.Handler {
	names := make(map[string]bool)
	add := func(h string) {
		h = normalHost(h)
		if h != "" && !isAddrOrLocal(h) {
			names[h] = true
		}
	}
	for _, d := range cfg.TLS.Domains {
		add(d)
	}
	add(cfg.TURN.PublicHost)
	for _, s := range append([]string{cfg.Cluster.PublicURL}, cfg.Signaling.AllowedOrigins...) {
		if u, err := url.Parse(s); err == nil {
			add(u.Hostname())
		}
	}
	if len(names) == 0 {
		return next
	}
	return &hostGuard{names: names, next: next}
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := normalHost(r.Host)
	if g.names[h] || isAddrOrLocal(h) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		g.next.ServeHTTP(w, r)
		return
	}
	// RFC 9110 §15.5.20: this server is not the one for that name.
	http.Error(w, "this server does not serve that host name", http.StatusMisdirectedRequest)
}

// normalHost is host (from a Host header or a name in the config) in lower
// case, without port, brackets or trailing dot.
func normalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

// isAddrOrLocal reports whether host is an IP literal or localhost, which
// a DNS rebinding cannot make point elsewhere.
func isAddrOrLocal(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
