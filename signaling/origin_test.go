package signaling

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestOriginScheme: the page's own origin is its scheme, host and port
// (RFC 6454): an https:// or ftp:// origin naming this host is another
// origin when the page is served over plain HTTP, and the other way round.
// Behind a trusted TLS-terminating proxy, X-Forwarded-Proto says which.
func TestOriginScheme(t *testing.T) {
	cfg := attackConfig() // trusts the loopback proxy
	ts := newTestServer(t, cfg)
	plainCfg := testConfig() // trusts nobody
	plain := newTestServer(t, plainCfg)
	honest := newHonestPair(t, ts)

	tlsSrv, err := New(testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewTLSServer(tlsSrv)
	t.Cleanup(func() { _ = tlsSrv.Shutdown(t.Context()); hs.Close() })
	tlsURL := "wss" + strings.TrimPrefix(hs.URL, "https")
	tlsHost := strings.TrimPrefix(hs.URL, "https://")

	host := func(ts *testServer) string { return strings.TrimPrefix(ts.http.URL, "http://") }
	for _, tc := range []struct {
		name   string
		ts     *testServer
		origin string
		proto  string // X-Forwarded-Proto
		ok     bool
	}{
		{"same origin", ts, "http://" + host(ts), "", true},
		{"https origin on an http page", ts, "https://" + host(ts), "", false},
		{"ftp origin", ts, "ftp://" + host(ts), "", false},
		{"ws scheme is not an origin", ts, "ws://" + host(ts), "", false},
		{"https page behind a trusted proxy", ts, "https://" + host(ts), "https", true},
		{"http origin behind a TLS proxy", ts, "http://" + host(ts), "https", false},
		{"X-Forwarded-Proto from an untrusted peer", plain, "https://" + host(plain), "https", false},
		{"origin with a path", ts, "http://" + host(ts) + "/x", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Origin": {tc.origin}}
			if tc.proto != "" {
				h.Set("X-Forwarded-Proto", tc.proto)
			}
			c, resp, err := tc.ts.dialHeader(t, h)
			if tc.ok {
				if err != nil {
					t.Fatalf("dial: %v (%v)", err, resp)
				}
				c.alive()
				return
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("want 403, got %v %v", err, resp)
			}
		})
	}
	t.Run("over TLS", func(t *testing.T) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
		for origin, ok := range map[string]bool{"https://" + tlsHost: true, "http://" + tlsHost: false} {
			ws, resp, err := d.DialContext(t.Context(), tlsURL, http.Header{"Origin": {origin}})
			if ok != (err == nil) {
				t.Fatalf("%s over TLS: %v %v", origin, err, resp)
			}
			if ws != nil {
				ws.Close()
			}
		}
	})
	if n := ts.srv.Stats().RejectedOrigin; n != 5 {
		t.Fatalf("origins refused counted %d, want 5", n)
	}
	honest.exchange(t)
}
