package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// selfSignedFiles writes a certificate for 127.0.0.1 and its key, and
// returns base64(SHA-256(SubjectPublicKeyInfo)), the form Chromium's
// --ignore-certificate-errors-spki-list takes.
func selfSignedFiles(t *testing.T) (certPath, keyPath, spki string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPath, keyPath, base64.StdEncoding.EncodeToString(sum[:])
}

// withTLS adds [tls] with the certificate to an appliance config: HTTPS
// on a port of its own, which TURN over TLS shares.
func withTLS(cfg, certPath, keyPath string) string {
	cfg += fmt.Sprintf(`
[tls]
cert_file = %q
key_file = %q
`, certPath, keyPath)
	cfg = strings.Replace(cfg, "[http]\nlisten = \"127.0.0.1:0\"", "[http]\nlisten = \"127.0.0.1:0\"\nlisten_https = \"127.0.0.1:0\"\nlisten_redirect = \"\"", 1)
	return strings.Replace(cfg, "[turn]\n", "[turn]\nlisten_tls = []\n", 1)
}

// TestBrowserTURNOverTLSOnly: the appliance offers TURN over TLS only (on
// its HTTPS port, shared with the page); with the relay forced, the call
// connects through it and the page says "relayed via TURN (TLS)".
func TestBrowserTURNOverTLSOnly(t *testing.T) {
	certPath, keyPath, spki := selfSignedFiles(t)
	b := launchBrowser(t, true, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	app := startApplianceConfig(t, withTLS(applianceConfig(applianceOpts{}), certPath, keyPath))

	alice := b.newParticipant(t, "Alice")
	link := alice.startMeeting(app.HTTPSURL, true)
	bob := b.newParticipant(t, "Bob")
	bob.joinByLink(link, true)
	for _, p := range []*participant{alice, bob} {
		p.waitMedia(1, true)
		p.waitPaths(1, "relayed via TURN (TLS)")
		p.assertSelectedPair("relay", "tls")
	}
}
