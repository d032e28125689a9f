package web

import (
	"net/http"
	"net/url"
	"strings"
)

// permissionsPolicy lets the page itself (never a frame) use the camera,
// microphone, screen capture and speaker selection, and turns off the rest.
const permissionsPolicy = "camera=(self), microphone=(self), display-capture=(self), " +
	"speaker-selection=(self), fullscreen=(self), geolocation=(), payment=(), usb=()"

// securityHeaders adds the headers every answer of the page carries.
// connectTo, when not nil, names other origins the page may connect to.
func securityHeaders(next http.Handler, connectTo func() []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		var others []string
		if connectTo != nil {
			others = connectTo()
		}
		h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host, others...))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", permissionsPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy returns the policy for a request to host: scripts,
// styles and images only from the page's own origin, no inline code, no
// framing, and network connections only to the page's own origin (the
// signaling WebSocket included). The ws: and wss: sources are spelled out
// because browsers before CSP level 3 do not let 'self' match them.
// others are base URLs of other nodes of the cluster the page may fail
// over to: each valid one (at most maxConnectTo) adds its WebSocket origin.
func contentSecurityPolicy(host string, others ...string) string {
	connect := "connect-src 'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	n := 0
	for _, o := range others {
		if src := webSocketSource(o); src != "" && n < maxConnectTo {
			connect += " " + src
			n++
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: blob:",
		"media-src 'self' blob: mediastream:",
		"font-src 'self'",
		"manifest-src 'self'",
		connect,
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// validHost reports whether the Host header is safe to copy into the
// policy: a host name, IPv4 or bracketed IPv6 address and optional port,
// nothing that could end a directive or add a source.
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for _, c := range []byte(host) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// maxConnectTo bounds the other origins in connect-src.
const maxConnectTo = 16

// webSocketSource is the connect-src source for the signaling WebSocket of
// the node at base URL s ("https://b.example.com:8443/..." gives
// "wss://b.example.com:8443"), or "" when s is not a plain http(s) URL.
func webSocketSource(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User != nil || !validHost(u.Host) || u.Hostname() == "" {
		return ""
	}
	switch u.Scheme {
	case "http":
		return "ws://" + u.Host
	case "https":
		return "wss://" + u.Host
	}
	return ""
}
