package certs

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/testcert"
)

func TestFilesServeAndNoSNI(t *testing.T) {
	ca := testcert.NewCA(t)
	l := ca.Issue(t, "call.example.com", "127.0.0.1")
	m := newManager(t, writePair(t, t.TempDir(), l, time.Now()))
	addr := serveTLS(t, m.TLSConfig())

	if got := serialAt(t, addr, "call.example.com", ca.Pool); got.Cmp(l.Cert.SerialNumber) != 0 {
		t.Fatalf("served serial %v, want %v", got, l.Cert.SerialNumber)
	}
	// No SNI at all (Firefox on turns:): the same, default certificate.
	cs, err := dial(t, addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	if got := cs.PeerCertificates[0].SerialNumber; got.Cmp(l.Cert.SerialNumber) != 0 {
		t.Fatalf("no-SNI serial %v, want %v", got, l.Cert.SerialNumber)
	}
	if m.DefaultHost() != "call.example.com" {
		t.Fatalf("DefaultHost = %q", m.DefaultHost())
	}
}

func TestFilesChangePickedUpWithoutRestart(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	first := ca.Issue(t, "call.example.com")
	m := newManager(t, writePair(t, dir, first, time.Now().Add(-time.Minute)))
	m.files.checkEvery = 10 * time.Millisecond
	addr := serveTLS(t, m.TLSConfig())
	if got := serialAt(t, addr, "call.example.com", ca.Pool); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("served %v, want first %v", got, first.Cert.SerialNumber)
	}

	// A renewal tool replaces both files: a new connection sees the new
	// serial, with no Reload and no restart.
	second := ca.Issue(t, "call.example.com")
	writePair(t, dir, second, time.Now())
	waitFor(t, "new certificate served", func() bool {
		return serialAt(t, addr, "call.example.com", ca.Pool).Cmp(second.Cert.SerialNumber) == 0
	})

	// A broken replacement (key of another certificate) is rejected; the
	// good one keeps serving.
	other := ca.Issue(t, "call.example.com")
	writeFileAtomic(t, filepath.Join(dir, "key.pem"), other.KeyPEM(t), time.Now().Add(time.Minute))
	m.files.mu.Lock()
	m.files.reloadIfChanged() // what the next due handshake does
	m.files.mu.Unlock()
	if got := serialAt(t, addr, "call.example.com", ca.Pool); got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after a bad key, served %v, want the kept %v", got, second.Cert.SerialNumber)
	}
}

func TestReload(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	first := ca.Issue(t, "call.example.com")
	cfg := writePair(t, dir, first, time.Now())
	m := newManager(t, cfg)
	m.files.checkEvery = time.Hour // only Reload may pick the change up
	addr := serveTLS(t, m.TLSConfig())

	second := ca.Issue(t, "call.example.com")
	writePair(t, dir, second, time.Now())
	if err := m.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := serialAt(t, addr, "call.example.com", ca.Pool); got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after Reload served %v, want %v", got, second.Cert.SerialNumber)
	}

	bad := []struct {
		name       string
		cert, key  []byte
		wantSubstr string
	}{
		{"garbage", []byte("not a certificate"), []byte("not a key"), "cert_file"},
		{"key of another cert", second.CertPEM(), first.KeyPEM(t), "private key does not match"},
		{"expired", nil, nil, "expired"},
	}
	expired := ca.IssueSpec(t, testcert.Spec{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour), Names: []string{"call.example.com"}})
	bad[2].cert, bad[2].key = expired.CertPEM(), expired.KeyPEM(t)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			writeFileAtomic(t, cfg.CertFile, tc.cert, time.Now())
			writeFileAtomic(t, cfg.KeyFile, tc.key, time.Now())
			err := m.Reload()
			if err == nil || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Fatalf("Reload error = %v, want one containing %q", err, tc.wantSubstr)
			}
			if got := serialAt(t, addr, "call.example.com", ca.Pool); got.Cmp(second.Cert.SerialNumber) != 0 {
				t.Fatalf("after a rejected reload served %v, want the kept %v", got, second.Cert.SerialNumber)
			}
		})
	}
}

func TestNewRejectsBadFiles(t *testing.T) {
	ca := testcert.NewCA(t)
	good := ca.Issue(t, "call.example.com")
	other := ca.Issue(t, "call.example.com")
	expired := ca.IssueSpec(t, testcert.Spec{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour), Names: []string{"call.example.com"}})
	cases := []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"garbage", []byte("junk"), []byte("junk"), "certs: load cert_file"},
		{"mismatched key", good.CertPEM(), other.KeyPEM(t), "private key does not match"},
		{"expired", expired.CertPEM(), expired.KeyPEM(t), "certificate expired at"},
		{"key in cert file", good.KeyPEM(t), good.KeyPEM(t), "cert_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
			writeFileAtomic(t, cfg.CertFile, tc.cert, time.Now())
			writeFileAtomic(t, cfg.KeyFile, tc.key, time.Now())
			m, err := New(cfg, Options{Logger: testLogger(t)})
			if err == nil {
				_ = m.Close()
				t.Fatal("New accepted a bad pair")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.CertFile, cfg.KeyFile = filepath.Join(t.TempDir(), "none.pem"), filepath.Join(t.TempDir(), "none.key")
		if _, err := New(cfg, Options{Logger: testLogger(t)}); err == nil || !strings.Contains(err.Error(), "cert_file") {
			t.Fatalf("New error = %v, want it to name cert_file", err)
		}
	})
	t.Run("TLS off", func(t *testing.T) {
		if _, err := New(DefaultConfig(), Options{Logger: testLogger(t)}); err == nil {
			t.Fatal("New accepted a config with TLS off")
		}
	})
}

func TestCheckHostFiles(t *testing.T) {
	ca := testcert.NewCA(t)
	l := ca.Issue(t, "call.example.com", "203.0.113.10")
	m := newManager(t, writePair(t, t.TempDir(), l, time.Now()))
	for _, ok := range []string{"call.example.com", "CALL.example.com", "203.0.113.10"} {
		if err := m.CheckHost(ok); err != nil {
			t.Errorf("CheckHost(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"other.example.com", "198.51.100.1", ""} {
		err := m.CheckHost(bad)
		if err == nil {
			t.Errorf("CheckHost(%q) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "call.example.com") {
			t.Errorf("CheckHost(%q) = %q, want it to name what the certificate covers", bad, err)
		}
	}
}

func TestTLSVersionsAndSuites(t *testing.T) {
	ca := testcert.NewCA(t)
	l := ca.Issue(t, "call.example.com")
	m := newManager(t, writePair(t, t.TempDir(), l, time.Now()))
	addr := serveTLS(t, m.TLSConfig())
	base := func() *tls.Config { return &tls.Config{ServerName: "call.example.com", RootCAs: ca.Pool} }

	old := base()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := dial(t, addr, old); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}

	cbc := base()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	if _, err := dial(t, addr, cbc); err == nil {
		t.Fatal("TLS 1.2 with a CBC suite succeeded")
	}

	v12 := base()
	v12.MaxVersion = tls.VersionTLS12
	cs, err := dial(t, addr, v12)
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	if cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("TLS 1.2 negotiated %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	}

	h2 := base()
	h2.NextProtos = []string{"h2", "http/1.1"}
	if cs, err := dial(t, addr, h2); err != nil || cs.NegotiatedProtocol != "h2" || cs.Version != tls.VersionTLS13 {
		t.Fatalf("browser-like handshake: %v, ALPN %q, version %x", err, cs.NegotiatedProtocol, cs.Version)
	}
	turnALPN := base()
	turnALPN.NextProtos = []string{ALPNTURN}
	if cs, err := dial(t, addr, turnALPN); err != nil || cs.NegotiatedProtocol != ALPNTURN {
		t.Fatalf("RFC 7443 TURN ALPN: %v, ALPN %q", err, cs.NegotiatedProtocol)
	}
	if p := m.TLSConfig().NextProtos; strings.Contains(strings.Join(p, ","), ALPNACME) {
		t.Fatalf("files mode offers %s: %v", ALPNACME, p)
	}
}

func TestSessionTicketRotation(t *testing.T) {
	ca := testcert.NewCA(t)
	l := ca.Issue(t, "call.example.com")
	m := newManager(t, writePair(t, t.TempDir(), l, time.Now()))
	addr := serveTLS(t, m.TLSConfig())
	client := &tls.Config{ServerName: "call.example.com", RootCAs: ca.Pool, ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	resumes := func() bool {
		cs, err := dial(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return cs.DidResume
	}
	resumes() // gets a ticket
	if !resumes() {
		t.Fatal("no resumption with the current key")
	}
	if err := m.tickets.rotate(); err != nil {
		t.Fatal(err)
	}
	if !resumes() { // and gets a ticket sealed with the new key
		t.Fatal("a ticket sealed before one rotation did not resume")
	}
	for range ticketKeysKept {
		if err := m.tickets.rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if resumes() {
		t.Fatalf("a ticket resumed after %d rotations", ticketKeysKept)
	}
	if n := len(m.tickets.keys); n != ticketKeysKept {
		t.Fatalf("%d keys kept, want %d", n, ticketKeysKept)
	}
	if !resumes() {
		t.Fatal("no resumption after rotation with a fresh ticket")
	}
}

// TestNewNilLoggerDiscards checks that a manager built without a logger
// loads its files and serves (New logs the loaded certificate).
func TestNewNilLoggerDiscards(t *testing.T) {
	ca := testcert.NewCA(t)
	cfg := writePair(t, t.TempDir(), ca.Issue(t, "call.example.com"), time.Now())
	m, err := New(cfg, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer m.Close()
	if err := m.CheckHost("call.example.com"); err != nil {
		t.Fatalf("CheckHost: %v", err)
	}
}
