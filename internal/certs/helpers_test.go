package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamsync/streamsync/internal/testcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// writeFileAtomic replaces path with data the way deploy tools do (write
// a temporary file, rename it over) and stamps it with mtime.
func writeFileAtomic(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writePair writes l as cert.pem and key.pem in dir and returns a files-mode
// Config naming them.
func writePair(t testing.TB, dir string, l testcert.Leaf, mtime time.Time) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CertFile = filepath.Join(dir, "cert.pem")
	cfg.KeyFile = filepath.Join(dir, "key.pem")
	writeFileAtomic(t, cfg.CertFile, l.CertPEM(), mtime)
	writeFileAtomic(t, cfg.KeyFile, l.KeyPEM(t), mtime)
	return cfg
}

// newManager starts a Manager closed at the end of the test.
func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// serveTLS runs a TLS listener on loopback with cfg that completes the
// handshake, writes "ok" and closes; it returns the address.
func serveTLS(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if err := c.(*tls.Conn).Handshake(); err == nil {
				_, _ = c.Write([]byte("ok"))
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes with addr using client (nil: trust nothing, verify
// nothing) and returns the connection state after reading the server's
// "ok", so TLS 1.3 session tickets have arrived.
func dial(t testing.TB, addr string, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, client)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

// serialAt returns the serial of the leaf served at addr for serverName.
func serialAt(t testing.TB, addr, serverName string, roots *x509.CertPool) *big.Int {
	t.Helper()
	cs, err := dial(t, addr, &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		t.Fatalf("dial %s as %s: %v", addr, serverName, err)
	}
	return cs.PeerCertificates[0].SerialNumber
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
