package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/streamsync/streamsync/internal/testcert"
)

// selfSignedFiles writes a certificate for 127.0.0.1 (from a CA of the
// test's own, internal/testcert) and its key, and returns
// base64(SHA-256(SubjectPublicKeyInfo)) of the certificate, the form
// Chromium's --ignore-certificate-errors-spki-list takes.
func selfSignedFiles(t *testing.T) (certPath, keyPath, spki string) {
	t.Helper()
	leaf := testcert.NewCA(t).Issue(t, "127.0.0.1")
	sum := sha256.Sum256(leaf.Cert.RawSubjectPublicKeyInfo)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	leaf.WriteFiles(t, certPath, keyPath)
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
