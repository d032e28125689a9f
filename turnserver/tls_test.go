package turnserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

// testTLS returns a server config with a self-signed certificate for
// 127.0.0.1 and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turn test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func TestTURNOverTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	cfg := testConfig()
	cfg.ListenTLS = []string{"127.0.0.1:0"}
	cfg.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	srv, err := New(cfg, testLogger(t), Options{TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.TLSAddrs()[0].String()

	conn, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	u, p := validCreds(t, "tls-user")
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: turn.NewSTUNConn(conn),
		Username: u, Password: p, Realm: "streamsync", LoggerFactory: pionLoggerFactory{log: testLogger(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	defer relay.Close()
	if err := roundTrip(t, relay, echoPeer(t, "127.4.4.4:0"), []byte("over tls")); err != nil {
		t.Fatal(err)
	}

	_, turnURLs := srv.Endpoints().URLs()
	if last := turnURLs[len(turnURLs)-1]; !strings.HasPrefix(last, "turns:") || !strings.HasSuffix(last, "?transport=tcp") {
		t.Fatalf("TURN URLs %q lack turns: last", turnURLs)
	}
}

// TestSilentStreamConnectionDropped: a TCP client that never sends a STUN
// message is cut after the first-message timeout.
func TestSilentStreamConnectionDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the first-message timeout (10s)")
	}
	t.Parallel()
	srv := startServer(t, nil)
	conn, err := net.Dial("tcp", srv.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(firstMessageTimeout + 5*time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server sent data to a silent client")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the silent connection was still open after the first-message timeout")
	}
}
