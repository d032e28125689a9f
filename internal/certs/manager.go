package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ALPN protocol IDs offered by the TLS config.
const (
	// ALPNH2 is HTTP/2 (RFC 9113 §3.2).
	ALPNH2 = "h2"
	// ALPNHTTP11 is HTTP/1.1.
	ALPNHTTP11 = "http/1.1"
	// ALPNTURN is TURN over TLS (RFC 7443 §6).
	ALPNTURN = "stun.turn"
	// ALPNSTUN is STUN over TLS (RFC 7443 §6).
	ALPNSTUN = "stun.nat-discovery"
	// ALPNACME is the ACME TLS-ALPN-01 challenge (RFC 8737 §6.2); the TLS
	// config answers it itself and such a connection carries no data.
	ALPNACME = acme.ALPNProto
)

// Manager provides the certificate of the [tls] section to TLS listeners,
// from files or through ACME. It is safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	files *fileCert         // files mode, else nil
	acme  *autocert.Manager // ACME mode, else nil
	// domains are cfg.Domains lower-cased; domains[0] is the default.
	domains []string

	tlsConfig *tls.Config
	tickets   *ticketRotator
	served    servedCerts // ACME certificates' expiry, for Expiries

	// ctx is cancelled by Close; it aborts ACME requests in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // ACME obtain goroutines
	once   sync.Once
}

// Options are what the manager takes from the rest of the appliance.
type Options struct {
	// Logger receives certificate loads, renewals and their failures; nil
	// discards them.
	Logger *slog.Logger
}

// New loads the certificate files, or prepares ACME (the certificates are
// obtained by Obtain, once the listeners serve), and starts rotating the
// session ticket keys. It fails when cfg turns TLS off or the files do not
// hold a valid pair. Close releases it.
func New(cfg Config, opts Options) (*Manager, error) {
	if !cfg.Enabled() {
		return nil, errors.New("certs: TLS is off (set cert_file and key_file, or domains)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("certs: invalid config: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: logger, ctx: ctx, cancel: cancel}
	var err error
	if cfg.filesMode() {
		m.files, err = newFileCert(cfg.CertFile, cfg.KeyFile, logger)
	} else {
		for _, d := range cfg.Domains {
			m.domains = append(m.domains, strings.ToLower(d))
		}
		m.acme, err = m.newAutocert()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	m.tlsConfig = m.newTLSConfig()
	m.tickets, err = startTicketRotator(m.tlsConfig, logger)
	if err != nil {
		cancel()
		return nil, err
	}
	return m, nil
}

// newTLSConfig is the one config every listener shares: TLS 1.2 minimum
// with AEAD ECDHE suites only (RFC 9325 §4.2), X25519 and P-256 (with
// the X25519MLKEM768 hybrid first), and ALPN for HTTP/2, HTTP/1.1, TURN
// (RFC 7443) and, with ACME, TLS-ALPN-01.
func (m *Manager) newTLSConfig() *tls.Config {
	protos := []string{ALPNH2, ALPNHTTP11, ALPNTURN, ALPNSTUN}
	if m.acme != nil {
		protos = append(protos, ALPNACME)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{ // TLS 1.2 only; TLS 1.3 suites are all AEAD
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		GetCertificate:   m.certificate,
		NextProtos:       protos,
	}
}

// TLSConfig returns the config for every TLS listener (HTTPS, TURN over
// TLS, the shared port). It is the same value on every call, and its
// session ticket keys are rotated in place: pass it as is, do not Clone it
// (a clone keeps the keys of the moment).
func (m *Manager) TLSConfig() *tls.Config { return m.tlsConfig }

// certificate is the GetCertificate hook. Files: the current pair for
// every name. ACME: TLS-ALPN-01 challenge certificates by the name asked
// for; otherwise the certificate of the name asked for if configured, else
// of the first domain — so a ClientHello without SNI (Firefox on turns:,
// clients dialing an IP address) gets the default certificate.
func (m *Manager) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.files != nil {
		return m.files.certificate(), nil
	}
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ALPNACME {
		return m.acme.GetCertificate(hello)
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if !slices.Contains(m.domains, name) {
		h := *hello
		h.ServerName = m.domains[0]
		hello = &h
		name = m.domains[0]
	}
	cert, err := m.acme.GetCertificate(hello)
	if err == nil {
		m.served.note(name, cert)
	}
	return cert, err
}

// DefaultHost is the name the default certificate is for: the first
// domain, or the certificate file's first DNS name (else IP address).
// Handy as the host of turns: URLs when public_host is not set.
func (m *Manager) DefaultHost() string {
	if m.files != nil {
		return certNames(m.files.certificate().Leaf)[0]
	}
	return m.domains[0]
}

// CheckHost reports an error naming what the certificate covers when it
// does not cover host (a name or IP address, e.g. turn.public_host):
// browsers would refuse https:// and turns: URLs built with it.
func (m *Manager) CheckHost(host string) error {
	if host == "" {
		return fmt.Errorf("certs: no host name to check against the certificate for %s", m.DefaultHost())
	}
	if m.files != nil {
		leaf := m.files.certificate().Leaf
		if err := leaf.VerifyHostname(host); err != nil {
			return fmt.Errorf("certs: certificate of cert_file %s covers %s, not %q",
				m.cfg.CertFile, strings.Join(certNames(leaf), ", "), host)
		}
		return nil
	}
	if net.ParseIP(host) != nil {
		return fmt.Errorf("certs: %q is an IP address; ACME certificates cover the names in domains (%s)",
			host, strings.Join(m.domains, ", "))
	}
	if !slices.Contains(m.domains, strings.ToLower(strings.TrimSuffix(host, "."))) {
		return fmt.Errorf("certs: %q is not among domains (%s)", host, strings.Join(m.domains, ", "))
	}
	return nil
}

// Reload re-reads the certificate files (on SIGHUP). A pair that does not
// load is rejected with an error and the current one keeps serving. With
// ACME it does nothing: renewal is automatic.
func (m *Manager) Reload() error {
	if m.files == nil {
		return nil
	}
	return m.files.reload()
}

// Close stops the ticket key rotation and aborts ACME requests in flight.
// Certificates already handed to listeners keep working.
func (m *Manager) Close() error {
	m.once.Do(func() {
		m.cancel()
		m.tickets.stop()
		m.wg.Wait()
	})
	return nil
}
