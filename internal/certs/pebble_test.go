package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pebbleModule is Let's Encrypt's ACME test server, run by the ACME end to
// end test; scripts/install-pebble.sh installs the same version.
const pebbleModule = "github.com/letsencrypt/pebble/v2"

const pebbleVersion = "v2.10.1"

// pebble is a running Pebble with its log.
type pebble struct {
	dir        string // the module source: test/certs/pebble.minica.pem
	directory  string // ACME directory URL
	management string // management API base URL (issuing roots)
	minica     string // path of the CA that signed Pebble's HTTPS certificate
	log        *lockedBuffer
}

// TestACMEWithPebble obtains a certificate from Pebble on loopback, serves
// it, and after a restart of the Manager on the same cache_dir serves it
// again from the cache without a new order.
func TestACMEWithPebble(t *testing.T) {
	p := startPebble(t)
	cache := t.TempDir()
	cfg := DefaultConfig()
	cfg.Domains = []string{"call.streamsync.test"}
	cfg.Email = "ops@streamsync.test"
	cfg.CacheDir = cache
	cfg.DirectoryURL = p.directory
	cfg.ACMECAFile = p.minica
	cfg.ACMETimeout = 20 * time.Second

	m1, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m1.TLSConfig())
	if err := m1.Obtain(t.Context()); err != nil {
		t.Fatalf("Obtain: %v\npebble log:\n%s", err, p.log)
	}
	roots := p.roots(t)
	first := serialAt(t, addr, "call.streamsync.test", roots)
	// Without SNI too (the default certificate is the first domain's).
	cs, err := dial(t, addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil || cs.PeerCertificates[0].SerialNumber.Cmp(first) != 0 {
		t.Fatalf("no-SNI handshake: %v", err)
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("%d orders after the first start, want 1", n)
	}
	_ = m1.Close()

	m2 := newManager(t, cfg)
	addr2 := serveTLS(t, m2.TLSConfig())
	if err := m2.Obtain(t.Context()); err != nil {
		t.Fatalf("Obtain after restart: %v", err)
	}
	if got := serialAt(t, addr2, "call.streamsync.test", roots); got.Cmp(first) != 0 {
		t.Fatalf("after restart served serial %v, want the cached %v", got, first)
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("%d orders after the restart, want still 1 (served from cache_dir)", n)
	}
}

func startPebble(t *testing.T) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	p := &pebble{dir: pebbleSource(t), log: &lockedBuffer{}}
	p.minica = filepath.Join(p.dir, "test", "certs", "pebble.minica.pem")
	port, mport := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", port),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mport),
		"certificate":             filepath.Join(p.dir, "test", "certs", "localhost", "cert.pem"),
		"privateKey":              filepath.Join(p.dir, "test", "certs", "localhost", "key.pem"),
		// Validation is switched off (PEBBLE_VA_ALWAYS_VALID): these ports
		// are never dialled, and nothing leaves loopback.
		"httpPort":                       freePort(t),
		"tlsPort":                        freePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	data, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(confFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile)
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log)
		}
	})
	p.directory = fmt.Sprintf("https://127.0.0.1:%d/dir", port)
	p.management = fmt.Sprintf("https://127.0.0.1:%d", mport)
	client := p.client(t)
	waitFor(t, "pebble up", func() bool {
		resp, err := client.Get(p.directory)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// client trusts Pebble's own test CA, read from Pebble's module source.
func (p *pebble) client(t *testing.T) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(p.minica)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("no certificate in %s", p.minica)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// roots returns the root Pebble issues under (it makes one per run).
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client(t).Get(p.management + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pemData, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("pebble roots: %s", pemData)
	}
	return pool
}

// orders counts the orders Pebble created, from its log.
func (p *pebble) orders() int {
	return strings.Count(p.log.String(), "Added order")
}

// pebbleBinary finds pebble ($PEBBLE, $PATH, $GOPATH/bin) or builds it
// into the user cache directory, so the test runs where nothing was
// installed beforehand.
func pebbleBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PEBBLE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	if p := filepath.Join(goEnv(t, "GOPATH"), "bin", "pebble"); isFile(p) {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bindir := filepath.Join(cache, "streamsync-test", "pebble-"+pebbleVersion)
	bin := filepath.Join(bindir, "pebble")
	if isFile(bin) {
		return bin
	}
	t.Logf("building %s@%s into %s", pebbleModule, pebbleVersion, bindir)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", pebbleModule+"/cmd/pebble@"+pebbleVersion)
	cmd.Dir = t.TempDir() // outside our module
	cmd.Env = append(os.Environ(), "GOBIN="+bindir, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build pebble: %v\n%s", err, out)
	}
	return bin
}

// pebbleSource returns the directory of Pebble's module source, which holds
// its test CA (test/certs/pebble.minica.pem).
func pebbleSource(t *testing.T) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", pebbleModule+"@"+pebbleVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", pebbleModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: no directory in %s", pebbleModule, out)
	}
	return mod.Dir
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// freePort returns a loopback TCP port that was free a moment ago (Pebble
// takes addresses, not listeners).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output for concurrent reads.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
