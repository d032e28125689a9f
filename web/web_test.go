package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "call.example.com:8443"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestRoutes(t *testing.T) {
	h := Handler(Options{})
	tests := []struct {
		target string
		status int
		ctype  string
		body   string // substring
	}{
		{"/", 200, "text/html; charset=utf-8", `src="/assets/app.js"`},
		{"/r/3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAA", 200, "text/html; charset=utf-8", `src="/assets/app.js"`},
		{"/check", 200, "text/html; charset=utf-8", `src="/assets/check.js"`},
		{"/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"/assets/peer.js", 200, "text/javascript; charset=utf-8", "perfect negotiation"},
		{"/assets/style.css", 200, "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/assets/icon.svg", 200, "image/svg+xml", "<svg"},
		{"/assets/", 404, "text/html; charset=utf-8", "not a page of this StreamSync server"},
		{"/assets/index.html", 404, "", ""},
		{"/assets/notfound.html", 404, "", ""},
		{"/assets/nope.js", 404, "", ""},
		{"/assets/../web.go", 404, "", ""},
		{"/static/app.js", 404, "", ""},
		{"/r/", 404, "", ""},
		{"/index.html", 404, "", ""},
		{"/nope", 404, "text/html; charset=utf-8", `href="/assets/style.css"`},
		{"/check/", 404, "", ""},
		{"/r/a/b", 404, "", ""},
		// A malformed room id: the app, which says the link is broken.
		{"/r/bad%20room", 404, "text/html; charset=utf-8", `src="/assets/app.js"`},
		{"/r/garbage", 404, "text/html; charset=utf-8", `src="/assets/app.js"`},
		{"/r/3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404, "text/html; charset=utf-8", `src="/assets/app.js"`}, // 33
		{"/r/3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAA", 404, "text/html; charset=utf-8", `src="/assets/app.js"`},   // 31
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			res := get(t, h, "GET", tc.target, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				// ServeMux may redirect a cleaned path; that is not a file either.
				if tc.status != 404 || (res.StatusCode != http.StatusMovedPermanently && res.StatusCode != http.StatusTemporaryRedirect) {
					t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
				}
			}
			if tc.ctype != "" && res.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body does not contain %q", tc.body)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := Handler(Options{})
	for _, target := range []string{"/", "/r/abc", "/check", "/assets/app.js", "/missing"} {
		res := get(t, h, "GET", target, nil)
		hd := res.Header
		csp := hd.Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'none'",
			"script-src 'self'",
			"style-src 'self'",
			"connect-src 'self' ws://call.example.com:8443 wss://call.example.com:8443",
			"frame-ancestors 'none'",
			"base-uri 'none'",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", target, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", target, csp)
		}
		if got := hd.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: nosniff %q", target, got)
		}
		if got := hd.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", target, got)
		}
		pp := hd.Get("Permissions-Policy")
		for _, want := range []string{"camera=(self)", "microphone=(self)", "display-capture=(self)"} {
			if !strings.Contains(pp, want) {
				t.Errorf("%s: Permissions-Policy %q lacks %q", target, pp, want)
			}
		}
	}
}

func TestCSPHostInjection(t *testing.T) {
	for _, host := range []string{"evil.com; script-src *", "a b", "x'y", ""} {
		csp := contentSecurityPolicy(host)
		if strings.Contains(csp, "ws://") || strings.Contains(csp, "script-src *") {
			t.Errorf("host %q leaked into CSP: %q", host, csp)
		}
	}
	if csp := contentSecurityPolicy("[::1]:80"); !strings.Contains(csp, "ws://[::1]:80") {
		t.Errorf("IPv6 host missing: %q", csp)
	}
}

func TestETagRevalidation(t *testing.T) {
	h := Handler(Options{})
	for _, target := range []string{"/", "/assets/app.js", "/r/3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		res := get(t, h, "GET", target, nil)
		etag := res.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
			t.Fatalf("%s: ETag %q", target, etag)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q", target, cc)
		}
		res = get(t, h, "GET", target, map[string]string{"If-None-Match": etag})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match: status %d, want 304", target, res.StatusCode)
		}
		res = get(t, h, "GET", target, map[string]string{"If-None-Match": `"other"`})
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: stale If-None-Match: status %d, want 200", target, res.StatusCode)
		}
	}
	a := get(t, h, "GET", "/assets/app.js", nil).Header.Get("ETag")
	b := get(t, h, "GET", "/assets/peer.js", nil).Header.Get("ETag")
	if a == b {
		t.Errorf("different files share ETag %s", a)
	}
}

func TestNotFoundIsNotCached(t *testing.T) {
	h := Handler(Options{})
	for _, target := range []string{"/nope", "/r/garbage"} {
		res := get(t, h, "GET", target, nil)
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" || res.Header.Get("ETag") != "" {
			t.Errorf("%s: Cache-Control %q, ETag %q; a 404 must not be cached", target, cc, res.Header.Get("ETag"))
		}
		head := get(t, h, "HEAD", target, nil)
		if body, _ := io.ReadAll(head.Body); head.StatusCode != 404 || len(body) != 0 {
			t.Errorf("HEAD %s: status %d, %d body bytes", target, head.StatusCode, len(body))
		}
	}
}

func TestMethods(t *testing.T) {
	h := Handler(Options{})
	res := get(t, h, "HEAD", "/assets/app.js", nil)
	if res.StatusCode != 200 || res.Header.Get("ETag") == "" {
		t.Errorf("HEAD: status %d, ETag %q", res.StatusCode, res.Header.Get("ETag"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		res := get(t, h, m, "/", nil)
		if res.StatusCode < 400 {
			t.Errorf("%s /: status %d", m, res.StatusCode)
		}
	}
}

// TestNoInlineCode keeps the pages loadable under the CSP: no inline
// scripts, handlers or style attributes, nothing from another origin.
func TestNoInlineCode(t *testing.T) {
	assets, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range assets {
		body := string(a.body)
		if strings.HasSuffix(name, ".html") {
			for _, bad := range []string{"<script>", " style=", " onclick=", " onload=", " onerror=", "javascript:", "http://", "https://"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s contains %q", name, bad)
				}
			}
		}
		if strings.HasSuffix(name, ".js") {
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s uses %s", name, bad)
				}
			}
		}
	}
}

// TestConnectToClusterNodes: in a cluster the page may open its WebSocket
// to the other live nodes (ConnectTo), each as its ws: or wss: origin; a
// value that could widen or break the policy is left out, and the list is
// bounded.
func TestConnectToClusterNodes(t *testing.T) {
	nodes := []string{
		"https://b.example.com", "http://10.0.0.3:8080/call", "https://c.example.com:8443/",
		"javascript:alert(1)", "https://*.example.com", "https://x.example.com; script-src *", "wss://d.example.com",
		"https://user@e.example.com", "https:", "ftp://f.example.com",
	}
	h := Handler(Options{ConnectTo: func() []string { return nodes }})
	csp := get(t, h, "GET", "/r/abc", nil).Header.Get("Content-Security-Policy")
	want := "connect-src 'self' ws://call.example.com:8443 wss://call.example.com:8443 wss://b.example.com ws://10.0.0.3:8080 wss://c.example.com:8443;"
	if !strings.Contains(csp, want) {
		t.Fatalf("CSP %q lacks %q", csp, want)
	}
	for i := range 2 * maxConnectTo {
		nodes = append(nodes, fmt.Sprintf("https://n%d.example.com", i))
	}
	csp = get(t, h, "GET", "/", nil).Header.Get("Content-Security-Policy")
	if n := strings.Count(csp, "wss://n"); n != maxConnectTo-3 {
		t.Fatalf("CSP names %d more nodes, want %d: %q", n, maxConnectTo-3, csp)
	}
}
