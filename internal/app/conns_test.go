package app

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/testcert"
)

// keepAlive opens a connection from the loopback address src, sends one
// GET /healthz and reads the answer, leaving the connection open (an idle
// keep-alive). It reports whether the request was answered; a connection
// refused over a cap is closed before any answer.
func keepAlive(t *testing.T, src, addr string, useTLS bool) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	c := raw
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if useTLS {
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // test certificate
		if err := tc.Handshake(); err != nil {
			return raw, false // closed by the cap after the handshake, or before
		}
		c = tc
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return c, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("from %s: neither answered nor closed: %v", src, err)
		}
		return c, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return c, resp.StatusCode == http.StatusOK
}

// TestHTTPConnsCappedPerAddress: one address holding idle keep-alives up
// to http.max_conns_per_address gets no more, on the HTTP port and on the
// HTTPS one (one budget for both), while another address is served; a
// connection closed gives its place back. (The attack: 280 idle
// keep-alives from one address took every descriptor of the process.)
func TestHTTPConnsCappedPerAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.NewCA(t).Issue(t, "127.0.0.1").WriteFiles(t, certFile, keyFile)
	const perAddress = 6
	a := startAppWith(t, false, false, func(c *config.Config) {
		c.HTTP.MaxConnsPerAddress = perAddress
		c.HTTP.MaxConns = 1000
		c.HTTP.ListenHTTPS = "127.0.0.1:0"
		c.HTTP.ListenRedirect = ""
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
		c.TLS.TURNOnHTTPSPort = false
	})
	httpAddr, httpsAddr := a.httpLn.Addr().String(), a.tls.mux.Addr().String()

	var held []net.Conn
	for i := range perAddress {
		addr, useTLS := httpAddr, i%2 == 1
		if useTLS {
			addr = httpsAddr
		}
		c, ok := keepAlive(t, "127.0.0.1", addr, useTLS)
		if !ok {
			t.Fatalf("keep-alive %d, under the cap, not served", i)
		}
		held = append(held, c)
	}
	for _, tc := range []struct {
		addr   string
		useTLS bool
	}{{httpAddr, false}, {httpsAddr, true}} {
		if _, ok := keepAlive(t, "127.0.0.1", tc.addr, tc.useTLS); ok {
			t.Fatalf("tls=%t: a connection over the per-address cap was served", tc.useTLS)
		}
		if _, ok := keepAlive(t, "127.0.0.2", tc.addr, tc.useTLS); !ok {
			t.Fatalf("tls=%t: another address not served while the first held its cap", tc.useTLS)
		}
	}
	if s := a.conns.lim.Stats(); s.RefusedPerAddress != 2 {
		t.Errorf("refused per address: %d, want 2", s.RefusedPerAddress)
	}

	_ = held[0].Close()
	eventually(t, "a closed connection's place given back", func() bool {
		c, ok := keepAlive(t, "127.0.0.1", httpAddr, false)
		_ = c.Close()
		return ok
	})
}

// TestKeepAliveOffUnderPressure: with 3/4 of http.max_conns open, a
// connection that has answered its request is closed rather than kept idle
// (whichever goes idle first: the server's idle hook may run late), and
// only until fewer are open.
func TestKeepAliveOffUnderPressure(t *testing.T) {
	t.Parallel()
	a := startAppWith(t, false, false, func(c *config.Config) {
		c.HTTP.MaxConns, c.HTTP.MaxConnsPerAddress = 8, 8
	})
	addr := a.httpLn.Addr().String()
	for i := range 6 {
		if _, ok := keepAlive(t, "127.0.0.1", addr, false); !ok {
			t.Fatalf("keep-alive %d not served", i)
		}
	}
	eventually(t, "one of 6 idle keep-alives closed (6 of 8 open)", func() bool { return a.conns.lim.Stats().Open == 5 })
	c, ok := keepAlive(t, "127.0.0.2", addr, false) // 6 open again
	if !ok {
		t.Fatal("another connection not served")
	}
	defer c.Close()
	eventually(t, "again one closed", func() bool { return a.conns.lim.Stats().Open == 5 })
}
