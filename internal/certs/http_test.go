package certs

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/testcert"
)

// acmeConfig is an ACME-mode config whose CA is never reached: tests put
// what autocert would have cached into cacheDir.
func acmeConfig(cacheDir string, domains ...string) Config {
	cfg := DefaultConfig()
	cfg.Domains = domains
	cfg.CacheDir = cacheDir
	cfg.DirectoryURL = "https://127.0.0.1:1/directory" // nothing listens there
	return cfg
}

// putCached stores l in dir under name the way autocert's DirCache does:
// the PEM private key, then the chain.
func putCached(t testing.TB, dir, name string, l testcert.Leaf) {
	t.Helper()
	data := append(l.KeyPEM(t), l.CertPEM()...)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRedirectHandler(t *testing.T) {
	ca := testcert.NewCA(t)
	m := newManager(t, writePair(t, t.TempDir(), ca.Issue(t, "call.example.com"), time.Now()))
	cases := []struct {
		name, method, target string
		port                 int
		code                 int
		location             string
	}{
		{"path and query kept", "GET", "http://call.example.com/r/abc?join=1&x=%20", 443, 301, "https://call.example.com/r/abc?join=1&x=%20"},
		{"port in Host dropped", "HEAD", "http://call.example.com:80/", 443, 301, "https://call.example.com/"},
		{"https port other than 443", "GET", "http://call.example.com/x", 8443, 301, "https://call.example.com:8443/x"},
		{"by IP: to the certificate's name", "GET", "http://203.0.113.10/r/1", 443, 301, "https://call.example.com/r/1"},
		{"forged host", "GET", "http://evil.example.net/", 443, 301, "https://call.example.com/"},
		{"POST keeps its method", "POST", "http://call.example.com/api", 443, 308, "https://call.example.com/api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			m.RedirectHandler(tc.port).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
	// Files mode: port 80 only redirects, even a challenge path.
	rec := httptest.NewRecorder()
	m.HTTPHandler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "http://call.example.com/.well-known/acme-challenge/x", nil))
	if rec.Code != 301 {
		t.Fatalf("files-mode HTTPHandler: %d", rec.Code)
	}
}

func TestHTTPHandlerAnswersACMEChallenges(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, acmeConfig(dir, "call.example.com"))
	// What autocert stores while an HTTP-01 authorization is pending.
	if err := os.WriteFile(filepath.Join(dir, "tok123+http-01"), []byte("tok123.keyauth"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := m.HTTPHandler(nil)
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec
	}
	if rec := get("http://call.example.com/.well-known/acme-challenge/tok123"); rec.Code != 200 || rec.Body.String() != "tok123.keyauth" {
		t.Fatalf("challenge: %d %q", rec.Code, rec.Body.String())
	}
	if rec := get("http://call.example.com:80/.well-known/acme-challenge/tok123"); rec.Code != 200 {
		t.Fatalf("challenge with a port in Host: %d", rec.Code)
	}
	if rec := get("http://other.example.com/.well-known/acme-challenge/tok123"); rec.Code != http.StatusForbidden {
		t.Fatalf("challenge for another host: %d", rec.Code)
	}
	if rec := get("http://call.example.com/.well-known/acme-challenge/unknown"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown token: %d", rec.Code)
	}
	if rec := get("http://call.example.com/room?id=1"); rec.Code != 301 || rec.Header().Get("Location") != "https://call.example.com/room?id=1" {
		t.Fatalf("other request: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) })
	rec := httptest.NewRecorder()
	m.HTTPHandler(fallback).ServeHTTP(rec, httptest.NewRequest("GET", "http://call.example.com/", nil))
	if rec.Code != 418 {
		t.Fatalf("fallback not used: %d", rec.Code)
	}
}

func TestHSTS(t *testing.T) {
	ca := testcert.NewCA(t)
	cfg := writePair(t, t.TempDir(), ca.Issue(t, "call.example.com", "127.0.0.1"), time.Now())
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") })

	m := newManager(t, cfg)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.HSTS(ok), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Fatalf("HSTS over TLS = %q", got)
	}

	rec := httptest.NewRecorder()
	m.HSTS(ok).ServeHTTP(rec, httptest.NewRequest("GET", "http://call.example.com/", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("HSTS sent over plain HTTP: %q", got)
	}

	cfg.HSTS = false
	off := newManager(t, cfg)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "https://call.example.com/", nil)
	off.HSTS(ok).ServeHTTP(rec, req)
	if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("hsts = false still sends %q", got)
	}
}

func TestACMEFromCacheNoSNIAndChallengeCert(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	main := ca.Issue(t, "call.example.com")
	second := ca.Issue(t, "turn.example.com")
	putCached(t, dir, "call.example.com", main)
	putCached(t, dir, "turn.example.com", second)
	m := newManager(t, acmeConfig(dir, "call.example.com", "turn.example.com"))

	// Valid certificates in the cache: Obtain needs no CA (none listens).
	if err := m.Obtain(t.Context()); err != nil {
		t.Fatalf("Obtain from cache: %v", err)
	}
	addr := serveTLS(t, m.TLSConfig())
	if got := serialAt(t, addr, "turn.example.com", ca.Pool); got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("turn.example.com served %v", got)
	}
	// No SNI, and a name not configured: the first domain's certificate.
	for _, client := range []*tls.Config{{InsecureSkipVerify: true}, {InsecureSkipVerify: true, ServerName: "unknown.example.org"}} {
		cs, err := dial(t, addr, client)
		if err != nil {
			t.Fatalf("handshake (SNI %q): %v", client.ServerName, err)
		}
		if got := cs.PeerCertificates[0].SerialNumber; got.Cmp(main.Cert.SerialNumber) != 0 {
			t.Fatalf("SNI %q got serial %v, want the default %v", client.ServerName, got, main.Cert.SerialNumber)
		}
	}

	// TLS-ALPN-01 (RFC 8737): the CA's handshake offers only acme-tls/1
	// and gets the challenge certificate autocert stored.
	token := ca.Issue(t, "call.example.com")
	putCached(t, dir, "call.example.com+token", token)
	cs, err := dial(t, addr, &tls.Config{ServerName: "call.example.com", InsecureSkipVerify: true, NextProtos: []string{ALPNACME}})
	if err != nil {
		t.Fatalf("tls-alpn-01 handshake: %v", err)
	}
	if cs.NegotiatedProtocol != ALPNACME || cs.PeerCertificates[0].SerialNumber.Cmp(token.Cert.SerialNumber) != 0 {
		t.Fatalf("tls-alpn-01: ALPN %q, serial %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].SerialNumber)
	}

	if err := m.CheckHost("turn.example.com"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"other.example.com", "203.0.113.10"} {
		if err := m.CheckHost(bad); err == nil {
			t.Fatalf("CheckHost(%q) accepted", bad)
		}
	}
	if m.DefaultHost() != "call.example.com" {
		t.Fatalf("DefaultHost = %q", m.DefaultHost())
	}
}

func TestObtainFailsClearly(t *testing.T) {
	m := newManager(t, acmeConfig(t.TempDir(), "call.example.com"))
	err := m.Obtain(t.Context())
	if err == nil {
		t.Fatal("Obtain succeeded with no CA")
	}
	t.Logf("Obtain: %v", err)
	const want = "certs: obtain certificate for call.example.com from https://127.0.0.1:1/directory: "
	if len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("error = %q, want it to start with %q", err, want)
	}
}
