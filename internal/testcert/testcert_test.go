package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestLoopbackHandshake: the client config completes a handshake with the
// server config over a real loopback connection, and refuses the server
// when its name is not the certificate's.
func TestLoopbackHandshake(t *testing.T) {
	server, client := Loopback(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok"))
			_ = c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	b, _ := io.ReadAll(c)
	_ = c.Close()
	if string(b) != "ok" {
		t.Fatalf("read %q", b)
	}
	wrong := client.Clone()
	wrong.ServerName = "call.example.com"
	if c, err := tls.Dial("tcp", ln.Addr().String(), wrong); err == nil {
		_ = c.Close()
		t.Fatal("a certificate for 127.0.0.1 accepted for call.example.com")
	}
}

// TestIssueSpec: serial, validity and names are as asked; the leaf
// verifies against the CA now and not once expired; its files parse back.
func TestIssueSpec(t *testing.T) {
	ca := NewCA(t)
	nb, na := time.Now().Add(-2*time.Hour), time.Now().Add(3*time.Hour)
	l := ca.IssueSpec(t, Spec{Names: []string{"call.example.com", "203.0.113.10"}, Serial: 4242, NotBefore: nb, NotAfter: na})
	if l.Cert.SerialNumber.Int64() != 4242 || !l.Cert.NotAfter.Equal(na.Truncate(time.Second)) {
		t.Fatalf("serial %v, not after %v", l.Cert.SerialNumber, l.Cert.NotAfter)
	}
	if len(l.Cert.DNSNames) != 1 || len(l.Cert.IPAddresses) != 1 || !l.Cert.IPAddresses[0].Equal(net.ParseIP("203.0.113.10")) {
		t.Fatalf("names: DNS %v, IP %v", l.Cert.DNSNames, l.Cert.IPAddresses)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool, DNSName: "call.example.com"}
	if _, err := l.Cert.Verify(opts); err != nil {
		t.Fatalf("verify: %v", err)
	}
	opts.CurrentTime = na.Add(time.Hour)
	if _, err := l.Cert.Verify(opts); err == nil {
		t.Fatal("an expired leaf verified")
	}
	if a, b := ca.Issue(t, "x.example"), ca.Issue(t, "x.example"); a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Fatal("two leaves with one random serial")
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	l.WriteFiles(t, certPath, keyPath)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("files: %v", err)
	}
	if string(pair.Certificate[0]) != string(l.DER) {
		t.Fatal("the certificate file holds another certificate")
	}
}
