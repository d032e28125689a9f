package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// newAutocert builds the ACME client of m.cfg: its directory, the CA bundle
// trusted for it, the cache directory and a host policy allowing only the
// configured domains.
func (m *Manager) newAutocert() (*autocert.Manager, error) {
	if err := os.MkdirAll(m.cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: create cache_dir: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if m.cfg.ACMECAFile != "" {
		pem, err := os.ReadFile(m.cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("certs: read acme_ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("certs: acme_ca_file %s holds no PEM certificate", m.cfg.ACMECAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	allowed := autocert.HostWhitelist(m.domains...)
	return &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(m.cfg.CacheDir),
		// The HTTP-01 handler passes the Host header, port included.
		HostPolicy: func(ctx context.Context, host string) error {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return allowed(ctx, host)
		},
		Email: m.cfg.Email,
		Client: &acme.Client{
			DirectoryURL: m.cfg.DirectoryURL,
			UserAgent:    "streamsync",
			HTTPClient: &http.Client{
				Transport: closingTransport{base: tr, ctx: m.ctx},
				Timeout:   30 * time.Second,
			},
		},
	}, nil
}

// Obtain makes sure a certificate is at hand for every domain: from the
// cache when there is a valid one, else ordered from the CA. Call it once
// the HTTP handler (port 80) and the TLS listeners serve, since the CA
// validates through them; it waits at most acme_timeout, and its error
// names the domain and the CA. Renewal then runs on its own. With
// certificate files it does nothing.
func (m *Manager) Obtain(ctx context.Context) error {
	if m.acme == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ACMETimeout)
	defer cancel()
	for _, d := range m.domains {
		start := time.Now()
		leaf, err := m.obtain(ctx, d)
		if err != nil {
			return fmt.Errorf("certs: obtain certificate for %s from %s: %w", d, m.cfg.DirectoryURL, err)
		}
		m.log.Info("certificate ready", "domain", d, "serial", leaf.SerialNumber.Text(16),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
			"elapsed", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// obtain runs autocert for one domain. autocert bounds an issuance by
// itself (5 minutes) and takes no context, so it runs in a goroutine the
// Manager owns: ctx ending returns at once, and Close aborts its requests.
func (m *Manager) obtain(ctx context.Context, domain string) (*x509.Certificate, error) {
	type result struct {
		cert *tls.Certificate
		err  error
	}
	done := make(chan result, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		cert, err := m.acme.GetCertificate(&tls.ClientHelloInfo{
			ServerName: domain,
			// An ECDSA suite: ask for the ECDSA certificate browsers use.
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		})
		done <- result{cert, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		m.served.note(domain, r.cert)
		if r.cert.Leaf != nil {
			return r.cert.Leaf, nil
		}
		return x509.ParseCertificate(r.cert.Certificate[0])
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("no certificate within acme_timeout %s (does the name resolve to this host, and are ports 80 and 443 reachable from the internet?)",
				m.cfg.ACMETimeout)
		}
		return nil, ctx.Err()
	}
}

// closingTransport ties every ACME request to the Manager's lifetime, so
// Close ends an issuance in flight instead of leaving it to autocert's own
// five-minute bound.
type closingTransport struct {
	base http.RoundTripper
	ctx  context.Context
}

// RoundTrip implements http.RoundTripper.
func (t closingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

// releasingBody releases the request's context when the body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

// Close implements io.Closer.
func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
