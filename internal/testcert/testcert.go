// Package testcert makes certificates for tests: a certificate authority
// made in the test, the leaves it issues (for host names and IP addresses,
// with the serial and validity a test asks for), their PEM files, and TLS
// configs for a loopback server and a client that trusts it.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// CA is a certificate authority made in the test.
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // holds Cert alone, for RootCAs
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "streamsync test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}
}

// CertPEM is the CA's certificate in PEM, for a trust store (or the end
// of a chain).
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Spec says what leaf to issue.
type Spec struct {
	// Names are host names and IP addresses; the first is the subject's
	// common name. At least one.
	Names []string
	// Serial is the serial number; 0 picks a random one.
	Serial int64
	// NotBefore and NotAfter bound the validity; zero means from an hour
	// ago for a day.
	NotBefore, NotAfter time.Time
}

// Leaf is an issued server certificate with its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	DER  []byte
}

// Issue makes a server certificate for names, valid now for a day.
func (ca *CA) Issue(t testing.TB, names ...string) Leaf {
	t.Helper()
	return ca.IssueSpec(t, Spec{Names: names})
}

// IssueSpec makes the server certificate s describes.
func (ca *CA) IssueSpec(t testing.TB, s Spec) Leaf {
	t.Helper()
	if len(s.Names) == 0 {
		t.Fatal("testcert: a leaf needs a name")
	}
	if s.NotBefore.IsZero() && s.NotAfter.IsZero() {
		s.NotBefore, s.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	serial := big.NewInt(s.Serial)
	if s.Serial == 0 {
		var err error
		if serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64)); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.Names[0]},
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range s.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return Leaf{Cert: cert, Key: key, DER: der}
}

// CertPEM is the certificate in PEM.
func (l Leaf) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.DER})
}

// KeyPEM is the private key in PEM ("EC PRIVATE KEY").
func (l Leaf) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// TLSCertificate is the leaf for tls.Config.Certificates.
func (l Leaf) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.DER}, PrivateKey: l.Key, Leaf: l.Cert}
}

// WriteFiles writes the certificate and key in PEM to certPath and
// keyPath (mode 0600), each to a temporary name renamed over the old
// file, as renewal tools do.
func (l Leaf) WriteFiles(t testing.TB, certPath, keyPath string) {
	t.Helper()
	WriteAtomic(t, certPath, l.CertPEM())
	WriteAtomic(t, keyPath, l.KeyPEM(t))
}

// WriteAtomic replaces path with data (mode 0600) through a temporary file
// renamed over it.
func WriteAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Loopback returns a server config with a certificate for 127.0.0.1 and
// localhost from a CA made here, and a client config that trusts that CA
// and expects 127.0.0.1. Both require TLS 1.2 or later.
func Loopback(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	ca := NewCA(t)
	l := ca.Issue(t, "127.0.0.1", "localhost")
	return &tls.Config{Certificates: []tls.Certificate{l.TLSCertificate()}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
