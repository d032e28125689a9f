package certs

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// HSTSValue is the Strict-Transport-Security header sent on HTTPS
// responses: two years, subdomains included (RFC 6797 §6.1).
const HSTSValue = "max-age=63072000; includeSubDomains"

// HTTPHandler is the handler for plain-HTTP port 80 when TLS is on. With
// ACME it answers HTTP-01 challenges (RFC 8555 §8.3) for the configured
// domains; every other request goes to fallback, which is
// RedirectHandler(443) when nil.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if fallback == nil {
		fallback = m.RedirectHandler(443)
	}
	if m.acme == nil {
		return fallback
	}
	return m.acme.HTTPHandler(fallback)
}

// RedirectHandler redirects every request to https:// on httpsPort (left
// out of the URL when 443), keeping path and query: 301 for GET and HEAD,
// 308 for other methods so they are repeated as sent. The host is the
// request's when the certificate covers it, else DefaultHost, so a visit
// by IP address lands on a name the certificate is valid for and a forged
// Host header cannot redirect elsewhere.
func (m *Manager) RedirectHandler(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(host, ".")
		if host == "" || m.CheckHost(host) != nil {
			host = m.DefaultHost()
		}
		if httpsPort != 443 && httpsPort != 0 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6 literal
		}
		code := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusPermanentRedirect
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// HSTS wraps h to send Strict-Transport-Security on responses over TLS
// (never over plain HTTP: RFC 6797 §7.2), unless hsts = false.
func (m *Manager) HSTS(h http.Handler) http.Handler {
	if !m.cfg.HSTS {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", HSTSValue)
		}
		h.ServeHTTP(w, r)
	})
}
