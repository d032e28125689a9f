// Package certs owns the [tls] section and the certificates behind HTTPS
// and TURN over TLS: either a certificate and key read from PEM files
// (re-read when they change and on Reload, without a restart) or
// certificates obtained and renewed through ACME (RFC 8555) with
// golang.org/x/crypto/acme/autocert.
//
// A Manager hands out one *tls.Config shared by every TLS listener, an HTTP
// handler for port 80 (ACME HTTP-01 challenges, redirect to HTTPS) and an
// HSTS middleware.
package certs

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt production.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Config is the [tls] section. TLS is off when neither cert_file/key_file
// nor ACME (acme = true or domains) is configured.
type Config struct {
	// CertFile is a PEM file holding the certificate chain, leaf first.
	// It is re-read when it changes and on SIGHUP. Default "" (no file).
	CertFile string `toml:"cert_file"`
	// KeyFile is the PEM file holding the private key of CertFile.
	// Default "".
	KeyFile string `toml:"key_file"`

	// ACME turns on automatic certificates for Domains (implied when
	// Domains is not empty). Default false.
	ACME bool `toml:"acme"`
	// Domains are the host names certificates are obtained for; the first
	// is the default certificate, served to clients that send no SNI
	// (Firefox on turns:). Default none.
	Domains []string `toml:"domains"`
	// Email is the contact address given to the ACME CA (expiry notices).
	// Default "" (none).
	Email string `toml:"email"`
	// CacheDir holds the ACME account key and the certificates, so a
	// restart reuses them instead of ordering new ones (CA rate limits).
	// Default "/var/lib/streamsync/acme".
	CacheDir string `toml:"cache_dir"`
	// DirectoryURL is the ACME directory of the CA. Default Let's Encrypt
	// production; use https://acme-staging-v02.api.letsencrypt.org/directory
	// to try a setup, or a private CA's directory.
	DirectoryURL string `toml:"directory_url"`
	// ACMECAFile is a PEM bundle of CA certificates trusted, besides the
	// system roots, for the HTTPS connection to DirectoryURL (a private CA,
	// or Pebble in tests). Default "" (system roots only).
	ACMECAFile string `toml:"acme_ca_file"`
	// ACMETimeout bounds obtaining the certificates at start; past it the
	// start fails, naming the domain and the CA. Default "2m".
	ACMETimeout time.Duration `toml:"acme_timeout"`

	// HSTS sends Strict-Transport-Security (two years, subdomains) on
	// HTTPS responses. Default true.
	HSTS bool `toml:"hsts"`

	// TURNOnHTTPSPort also offers TURN over TLS on the HTTPS port
	// (http.listen_https, 443 by default), for networks that let nothing
	// but TCP 443 through: one TLS port carries both, sorted by the first
	// bytes. Default true.
	TURNOnHTTPSPort bool `toml:"turn_on_https_port"`
}

// DefaultConfig returns the defaults documented on Config: TLS off.
func DefaultConfig() Config {
	return Config{
		CacheDir:     "/var/lib/streamsync/acme",
		DirectoryURL: LetsEncrypt,
		ACMETimeout:  2 * time.Minute,
		HSTS:         true,

		TURNOnHTTPSPort: true,
	}
}

// Enabled reports whether c turns TLS on (files or ACME).
func (c Config) Enabled() bool { return c.filesMode() || c.acmeMode() }

func (c Config) filesMode() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c Config) acmeMode() bool { return c.ACME || len(c.Domains) > 0 }

// Validate reports every problem of c at once, each naming its key (within
// the section) and the bad value. It checks that the named files can be
// read, not that they hold a valid pair: New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.filesMode() && c.acmeMode() {
		bad("cert_file", "set together with ACME (acme = %t, %d domains): choose files or ACME", c.ACME, len(c.Domains))
	}
	if c.filesMode() {
		for _, f := range []struct{ key, path string }{{"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
			if f.path == "" {
				bad(f.key, "must be set with the other of cert_file and key_file")
			} else if err := readable(f.path); err != nil {
				bad(f.key, "%v", err)
			}
		}
	}
	if c.ACME && len(c.Domains) == 0 {
		bad("domains", "must list at least one host name when acme = true")
	}
	seen := map[string]bool{}
	for i, d := range c.Domains {
		if err := checkDomain(d); err != nil {
			bad(fmt.Sprintf("domains[%d]", i), "%v (got %q)", err, d)
		} else if seen[strings.ToLower(d)] {
			bad(fmt.Sprintf("domains[%d]", i), "listed twice (got %q)", d)
		}
		seen[strings.ToLower(d)] = true
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			bad("email", "must be a plain address such as admin@example.com (got %q)", c.Email)
		}
	}
	if !c.acmeMode() && c.Email != "" {
		bad("email", "set but ACME is off (set domains)")
	}
	if !c.acmeMode() && c.ACMECAFile != "" {
		bad("acme_ca_file", "set but ACME is off (set domains)")
	}
	if c.acmeMode() {
		if c.CacheDir == "" {
			bad("cache_dir", "must be set with ACME, or every restart orders new certificates")
		}
		if u, err := url.Parse(c.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("directory_url", "must be an https:// URL (got %q)", c.DirectoryURL)
		}
		if c.ACMECAFile != "" {
			if err := readable(c.ACMECAFile); err != nil {
				bad("acme_ca_file", "%v", err)
			}
		}
		if c.ACMETimeout < 5*time.Second || c.ACMETimeout > 30*time.Minute {
			bad("acme_timeout", "must be between 5s and 30m (got %s)", c.ACMETimeout)
		}
	}
	return errors.Join(errs...)
}

// readable checks that path can be opened for reading.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkDomain accepts a fully qualified host name as ACME CAs issue for
// (RFC 1035 §2.3.1 letters, digits and hyphens; at least two labels): no IP
// address, wildcard, port, scheme or trailing dot.
func checkDomain(d string) error {
	if _, err := netip.ParseAddr(d); err == nil {
		return errors.New("must be a host name, not an IP address")
	}
	if len(d) > 253 {
		return errors.New("must be at most 253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return errors.New("must be a fully qualified name such as call.example.com")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("must be a host name such as call.example.com")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return errors.New("must be a host name such as call.example.com (letters, digits, hyphens; IDNs in punycode)")
			}
		}
	}
	return nil
}
