package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
	"github.com/streamsync/streamsync/turnserver"
)

// issueFiles writes a leaf of ca for 127.0.0.1 and localhost with serial
// to certPath/keyPath, renamed over the old files as renewal tools do.
func issueFiles(t *testing.T, ca *testcert.CA, serial int64, certPath, keyPath string) {
	t.Helper()
	ca.IssueSpec(t, testcert.Spec{Names: []string{"127.0.0.1", "localhost"}, Serial: serial}).WriteFiles(t, certPath, keyPath)
}

func serialOf(t *testing.T, addr string, cfg *tls.Config) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestHTTPSAndTURNOverTLS runs the binary with certificate files from a CA
// made in the test: the page over HTTPS with HSTS, port 80 redirecting,
// TURN over TLS on its own port and on the HTTPS port, the default
// certificate without SNI, the turns: URLs handed out, and replaced
// certificate files picked up without a restart.
func TestHTTPSAndTURNOverTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issueFiles(t, ca, 1001, certPath, keyPath)
	const secret = "tls-test-secret-0123456789"
	app := apptest.Start(t, fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"
listen_https = "127.0.0.1:0"
listen_redirect = "127.0.0.1:0"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
listen_tls = ["127.0.0.1:0"]
public_host = "127.0.0.1"
relay_bind = "127.0.0.1"
%ssecrets = [%q]
allowed_peer_ranges = ["127.0.0.0/8"]
allow_loopback_peers = true
[metrics]
listen = ""
selftest_interval = "0s"
[tls]
cert_file = %q
key_file = %q
`, turntest.RelayPorts(t, 1000).TOML(), secret, certPath, keyPath))
	clientTLS := &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"}
	httpsAddr := strings.TrimPrefix(app.HTTPSURL, "https://")

	// The page over HTTPS, with HSTS.
	// (the transport adds h2 to the config it is given: give it its own)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS.Clone(), ForceAttemptHTTP2: true}}
	resp, err := hc.Get(app.HTTPSURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" || resp.ProtoMajor != 2 {
		t.Fatalf("GET / over HTTPS: %s %s, HSTS %q", resp.Proto, resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
	// Port 80 redirects to HTTPS.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get("http://" + app.RedirectAddr + "/r/abc?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://") || !strings.HasSuffix(loc, "/r/abc?x=1") {
		t.Fatalf("redirect: %s to %q", resp.Status, loc)
	}

	// TURN over TLS on the TURN port and on the HTTPS port.
	u, p, _, _ := turnserver.MintREST(secret, "tls", time.Now(), time.Hour)
	peer := turntest.EchoPeer(t, "127.0.0.5:0")
	for _, tc := range []struct{ name, addr string }{{"shared https port", httpsAddr}, {"turn tls port", app.TURNTLSAddr}} {
		name, addr := tc.name, tc.addr
		relay := turntest.Allocate(t, "tls", addr, u, p, clientTLS)
		if _, err := relay.WriteTo([]byte(name), peer); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := relay.ReadFrom(buf); err != nil || string(buf[:n]) != name {
			t.Fatalf("%s: relayed echo %q, %v", name, buf[:n], err)
		}
	}

	// Without SNI (Firefox on turns:) the default certificate is served.
	if got := serialOf(t, httpsAddr, &tls.Config{RootCAs: ca.Pool, InsecureSkipVerify: true}); got != 1001 { //nolint:gosec // inspecting the served certificate
		t.Fatalf("no-SNI serial %d, want 1001", got)
	}

	// The ICE servers a joined client gets: UDP, TCP, then TLS on 443-style and 5349-style ports.
	ws := sigtest.DialApp(t, app.HTTPURL)
	ws.Send(map[string]any{"type": "join", "name": "T"})
	joined := ws.NextOf("joined")
	raw, _ := json.Marshal(joined["iceServers"])
	want := []string{"?transport=udp", "?transport=tcp", "turns:127.0.0.1:" + portOfAddr(httpsAddr), "turns:127.0.0.1:" + portOfAddr(app.TURNTLSAddr)}
	var servers []struct{ URLs []string }
	_ = json.Unmarshal(raw, &servers)
	var urls []string
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn") {
				urls = append(urls, u)
			}
		}
	}
	if len(urls) != 4 {
		t.Fatalf("TURN URLs %q", urls)
	}
	for i, w := range want {
		if !strings.Contains(urls[i], w) {
			t.Fatalf("TURN URL %d = %q, want it to contain %q (all: %q)", i, urls[i], w, urls)
		}
	}

	// Replaced files: a new connection sees the new serial, without a restart.
	issueFiles(t, ca, 2002, certPath, keyPath)
	deadline := time.Now().Add(10 * time.Second)
	for serialOf(t, httpsAddr, clientTLS) != 2002 {
		if time.Now().After(deadline) {
			t.Fatal("the replaced certificate was not picked up within 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := serialOf(t, app.TURNTLSAddr, clientTLS); got != 2002 {
		t.Fatalf("TURN TLS port serves serial %d after replacement, want 2002", got)
	}
	// `streamsync selftest` checks TLS too, verifying the certificate.
	caPath := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600)
	code, out := runCmd("selftest", "-config", boundConfig(t, app), "-ca", caPath)
	if code != 0 || !strings.Contains(out, "ok    TURN over tls") {
		t.Fatalf("selftest with TLS: exit %d\n%s", code, out)
	}

	// SIGHUP reloads too and keeps serving.
	issueFiles(t, ca, 3003, certPath, keyPath)
	_ = app.Signal(syscall.SIGHUP)
	app.WaitLog(t, "config reloaded", 1, 10*time.Second)
	if got := serialOf(t, httpsAddr, clientTLS); got != 3003 {
		t.Fatalf("serial %d after SIGHUP, want 3003", got)
	}
}

func portOfAddr(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// TestStartFailureNamesThePort: with TLS on, a port already taken fails the
// start with an error naming it (exit 1), and what was opened is closed.
func TestStartFailureNamesThePort(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issueFiles(t, ca, 1, certPath, keyPath)
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	path := filepath.Join(dir, "c.toml")
	cfg := fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"
listen_https = "127.0.0.1:0"
listen_redirect = "127.0.0.1:0"
[turn]
listen_udp = [%q]
listen_tcp = []
listen_tls = ["127.0.0.1:0"]
public_host = "127.0.0.1"
relay_bind = "127.0.0.1"
%ssecrets = ["start-failure-secret-0123"]
[metrics]
listen = ""
[tls]
cert_file = %q
key_file = %q
`, taken.LocalAddr().String(), turntest.RelayPorts(t, 1000).TOML(), certPath, keyPath)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCmd("serve", "-config", path)
	if code != 1 || !strings.Contains(out, "listen udp "+taken.LocalAddr().String()) {
		t.Fatalf("serve with a taken port: exit %d\n%s", code, out)
	}
}
