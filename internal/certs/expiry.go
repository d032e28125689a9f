package certs

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"sync"
	"time"
)

// Expiry is when the certificate in service for Name stops being valid.
type Expiry struct {
	// Name is the ACME domain, or the certificate file's first name.
	Name     string
	NotAfter time.Time
}

// Expiries lists the certificates in service, sorted by name: the file
// pair's, or with ACME each domain's once obtained. An ACME renewal shows
// once the new certificate has been served (the relay self-test's
// TURN-over-TLS handshake serves the default one every interval).
func (m *Manager) Expiries() []Expiry {
	if m.files != nil {
		leaf := m.files.cur.Load().Leaf
		return []Expiry{{Name: certNames(leaf)[0], NotAfter: leaf.NotAfter}}
	}
	return m.served.list()
}

// servedCerts remembers the expiry of the last ACME certificate served or
// obtained for each domain.
type servedCerts struct {
	mu       sync.Mutex           // guards notAfter
	notAfter map[string]time.Time // by domain
}

// note records cert as served for name.
func (s *servedCerts) note(name string, cert *tls.Certificate) {
	if cert == nil || len(cert.Certificate) == 0 {
		return
	}
	leaf := cert.Leaf
	if leaf == nil { // autocert sets Leaf; parse only if it did not
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notAfter == nil {
		s.notAfter = map[string]time.Time{}
	}
	s.notAfter[name] = leaf.NotAfter
}

func (s *servedCerts) list() []Expiry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Expiry, 0, len(s.notAfter))
	for name, t := range s.notAfter {
		out = append(out, Expiry{Name: name, NotAfter: t})
	}
	slices.SortFunc(out, func(a, b Expiry) int { return strings.Compare(a.Name, b.Name) })
	return out
}
