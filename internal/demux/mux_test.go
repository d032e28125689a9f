package demux

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
	"go.uber.org/goleak"

	"github.com/streamsync/streamsync/internal/testcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testTLS returns a server config with a certificate for 127.0.0.1 from a
// CA made here, offering the ALPN IDs certs.Manager offers, and a client
// config trusting that CA.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	server, client = testcert.Loopback(t)
	server.NextProtos = []string{"h2", "http/1.1", "stun.turn", "stun.nat-discovery"}
	return server, client
}

// fixture is a mux on loopback with an HTTP server on one side and a pion
// TURN server on the other.
type fixture struct {
	mux    *Mux
	addr   string
	client *tls.Config
}

const (
	testRealm = "streamsync"
	testUser  = "alice"
	testPass  = "secret"
)

func startFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	serverTLS, clientTLS := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, serverTLS, cfg, testLogger())
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%t path=%s", r.Proto, r.TLS != nil, r.URL.RequestURI())
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(testLogger().Handler(), slog.LevelDebug),
	}
	httpDone := make(chan struct{})
	go func() { defer close(httpDone); _ = srv.Serve(m.HTTP()) }()
	t.Cleanup(func() { _ = srv.Close(); <-httpDone })

	key := turn.GenerateAuthKey(testUser, testRealm, testPass)
	quiet := logging.NewDefaultLoggerFactory()
	quiet.Writer = io.Discard
	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:         testRealm,
		LoggerFactory: quiet,
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			return key, username == testUser
		},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener: m.TURN(),
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.IPv4(127, 0, 0, 1),
				Address:      "127.0.0.1",
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	return &fixture{mux: m, addr: ln.Addr().String(), client: clientTLS}
}

// httpClient speaks HTTP/2 or, with h1, HTTP/1.1 to the fixture.
func (f *fixture) httpClient(t *testing.T, h1 bool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: f.client.Clone(), ForceAttemptHTTP2: !h1}
	if h1 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHTTPOverSharedPort(t *testing.T) {
	f := startFixture(t, Config{})
	url := "https://" + f.addr + "/room/x?y=1"
	if got := get(t, f.httpClient(t, false), url); got != "HTTP/2.0 tls=true path=/room/x?y=1" {
		t.Fatalf("HTTP/2: %q", got)
	}
	if got := get(t, f.httpClient(t, true), url); got != "HTTP/1.1 tls=true path=/room/x?y=1" {
		t.Fatalf("HTTP/1.1 by ALPN: %q", got)
	}

	// No ALPN at all: sorted by the peeked request line, which is replayed;
	// Request.TLS is still set.
	c, err := tls.Dial("tcp", f.addr, f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /peeked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "HTTP/1.1 tls=true path=/peeked" {
		t.Fatalf("HTTP/1.1 without ALPN: %q", body)
	}
}

// echoPeer runs a loopback UDP echo server until the test ends.
func echoPeer(t *testing.T) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr()
}

func TestTURNOverSharedPort(t *testing.T) {
	f := startFixture(t, Config{})
	peer := echoPeer(t)
	for _, tc := range []struct {
		name string
		alpn []string
	}{
		{"sorted by the STUN header", nil},                  // browsers send no ALPN on turns:
		{"sorted by ALPN stun.turn", []string{"stun.turn"}}, // RFC 7443 clients
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.client.Clone()
			cfg.NextProtos = tc.alpn
			conn, err := tls.Dial("tcp", f.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			client, err := turn.NewClient(&turn.ClientConfig{
				STUNServerAddr: f.addr,
				TURNServerAddr: f.addr,
				Conn:           turn.NewSTUNConn(conn),
				Username:       testUser,
				Password:       testPass,
				Realm:          testRealm,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close(); _ = conn.Close() })
			if err := client.Listen(); err != nil {
				t.Fatal(err)
			}
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("Allocate over TLS on the shared port: %v", err)
			}
			t.Cleanup(func() { _ = relay.Close() })

			payload := []byte("hello through " + tc.name)
			if _, err := relay.WriteTo(payload, peer); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = relay.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no echo through the relay: %v", err)
			}
			if from.String() != peer.String() || !bytes.Equal(buf[:n], payload) {
				t.Fatalf("echo %q from %s", buf[:n], from)
			}
		})
	}
}

func TestSilentClientDropped(t *testing.T) {
	f := startFixture(t, Config{PeekTimeout: 200 * time.Millisecond})
	c, err := tls.Dial("tcp", f.addr, f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a client that sends nothing was not dropped: %v", err)
	}
}

func TestNoHandshakeDropped(t *testing.T) {
	f := startFixture(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name, send, reply string
	}{
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 400 Bad Request"},
		{"garbage", "\x00\x01garbage that is not TLS\r\n", ""},
		{"nothing", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c) // ends when the mux closes the connection
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("connection not dropped")
				}
			}
			if !strings.HasPrefix(string(got), tc.reply) {
				t.Fatalf("reply %q, want %q", got, tc.reply)
			}
		})
	}
	// The port still serves afterwards.
	if got := get(t, f.httpClient(t, false), "https://"+f.addr+"/"); !strings.HasPrefix(got, "HTTP/2.0") {
		t.Fatalf("after bad clients: %q", got)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, serverTLS, Config{}, testLogger())
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()

	// One connection mid-sort (handshaken, silent), one sorted but never
	// accepted (nobody calls TURN().Accept).
	silent, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cfg := clientTLS.Clone()
	cfg.NextProtos = []string{"stun.turn"}
	queued, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer queued.Close()

	accepted := make(chan error, 1)
	go func() { _, err := m.HTTP().Accept(); accepted <- err }()

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("HTTP().Accept after Close: %v", err)
	}
	if _, err := m.TURN().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TURN().Accept after Close: %v", err)
	}
	for name, c := range map[string]*tls.Conn{"silent": silent, "queued": queued} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s connection still open after Close", name)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s connection still open after Close", name)
		}
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("port still accepting after Close")
	}
}

func TestSideListenerCloseKeepsOtherSide(t *testing.T) {
	f := startFixture(t, Config{})
	if err := f.mux.TURN().Close(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, f.httpClient(t, false), "https://"+f.addr+"/"); !strings.HasPrefix(got, "HTTP/2.0") {
		t.Fatalf("HTTP after TURN side closed: %q", got)
	}
	cfg := f.client.Clone()
	cfg.NextProtos = []string{"stun.turn"}
	c, err := tls.Dial("tcp", f.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("TURN connection served after TURN().Close")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("TURN connection not dropped after TURN().Close")
	}
}

func TestPeek(t *testing.T) {
	stun := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4}
	notCookie := []byte{0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef}
	for _, tc := range []struct {
		name   string
		data   []byte
		isSTUN bool
		n      int
	}{
		{"STUN binding request", stun, true, 8},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), false, 1},
		{"ChannelData first", []byte{0x40, 0x00, 0x00, 0x04}, false, 1},
		{"zero bits without cookie", notCookie, false, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverTLS, clientTLS := testTLS(t)
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go func() {
				c := tls.Client(a, clientTLS)
				if c.Handshake() == nil {
					_, _ = c.Write(tc.data)
				}
			}()
			s := tls.Server(b, serverTLS)
			_ = s.SetDeadline(time.Now().Add(10 * time.Second))
			peeked, isSTUN, err := peek(s)
			if err != nil {
				t.Fatal(err)
			}
			if isSTUN != tc.isSTUN || len(peeked) != tc.n || !bytes.Equal(peeked, tc.data[:tc.n]) {
				t.Fatalf("peek = %x, %t", peeked, isSTUN)
			}
			// Replayed: the consumer reads the whole message.
			pc := &peekedConn{Conn: s, peeked: peeked}
			got := make([]byte, len(tc.data))
			if _, err := io.ReadFull(pc, got); err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("replayed %x, %v", got, err)
			}
		})
	}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// One address holding more silent connections than every pending place
// (the attack: ~1030 idle TCP connections blocked port 443 for everyone)
// gets only its own share; another address's handshake goes through at
// once, and the silent ones are dropped after HelloTimeout.
func TestSilentFloodLeavesOthersServed(t *testing.T) {
	f := startFixture(t, Config{MaxPending: 32, HandshakeTimeout: 30 * time.Second, PeekTimeout: 30 * time.Second})
	flood := make([]net.Conn, 0, 64)
	for range 64 {
		flood = append(flood, dialFrom(t, "127.0.0.1", f.addr))
	}
	// The mux has taken them all (accepted and refused, or pending).
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := f.mux.PendingStats()
		if uint64(s.Open)+s.RefusedPerAddress >= 64 {
			if s.Open > DefaultConfig().MaxPendingPerAddress {
				t.Fatalf("one address holds %d pending places, over the per-address cap", s.Open)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mux stopped accepting: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}

	raw := dialFrom(t, "127.0.0.2", f.addr)
	cfg := f.client.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatalf("another address's handshake during the flood: %v", err)
	}
	if _, err := io.WriteString(c, "GET /honest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("another address's request during the flood: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "HTTP/1.1 tls=true path=/honest" {
		t.Fatalf("during the flood: %q", body)
	}

	// The silent connections that got a place are dropped after the hello
	// timeout, not the handshake one (30 s here).
	for i, fc := range flood {
		_ = fc.SetReadDeadline(time.Now().Add(DefaultConfig().HelloTimeout + 5*time.Second))
		if _, err := fc.Read(make([]byte, 1)); err == nil {
			t.Fatalf("silent connection %d got data", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("silent connection %d not dropped after hello_timeout", i)
		}
	}
}

// A ClientHello trickled one byte a second is cut at HelloTimeout, though
// bytes keep coming.
func TestTrickledHelloDropped(t *testing.T) {
	f := startFixture(t, Config{HelloTimeout: 300 * time.Millisecond, HandshakeTimeout: 30 * time.Second})
	c := dialFrom(t, "127.0.0.1", f.addr)
	hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00} // a 512-byte handshake record follows
	start := time.Now()
	for i := 0; time.Since(start) < 10*time.Second; i++ {
		b := byte(0)
		if i < len(hello) {
			b = hello[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return // dropped
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return // dropped
			}
		}
	}
	t.Fatal("a trickled ClientHello held its place for 10s")
}
