package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/streamsync/streamsync/ice"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait for an event; it is never a timing assertion.
const waitLimit = 10 * time.Second

// testConfig is DefaultConfig with timers short enough for tests.
func testConfig() Config {
	c := DefaultConfig()
	c.WriteTimeout = time.Second
	c.ResumeGrace = 5 * time.Second
	c.JoinRate, c.JoinBurst = 1000, 1000
	return c
}

// fakeMinter is an ice.Minter recording its users.
type fakeMinter struct {
	ttl   time.Duration
	mu    sync.Mutex
	users []string
	fail  atomic.Bool
}

func (f *fakeMinter) mint(user string) (ice.Config, error) {
	if f.fail.Load() {
		return ice.Config{}, errors.New("minter down")
	}
	f.mu.Lock()
	f.users = append(f.users, user)
	f.mu.Unlock()
	exp := time.Now().Add(f.ttl)
	return ice.Config{
		Servers: []ice.Server{{
			URLs:       []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"},
			Username:   fmt.Sprintf("%d:%s", exp.Unix(), user),
			Credential: "secret-" + user,
		}},
		ExpiresAt: exp,
	}, nil
}

// testServer runs a Server behind httptest.NewServer and shuts both down
// at cleanup.
type testServer struct {
	srv  *Server
	http *httptest.Server
	url  string // ws://…
	mint *fakeMinter
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	fm := &fakeMinter{ttl: time.Hour}
	return newTestServerOpts(t, cfg, Options{ICE: fm.mint}, fm)
}

func newTestServerOpts(t *testing.T, cfg Config, opts Options, fm *fakeMinter) *testServer {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return &testServer{srv: s, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http"), mint: fm}
}

// dialFrom connects as a client at ip (through the trusted loopback proxy).
func (ts *testServer) dialFrom(t *testing.T, ip string) (*client, *http.Response, error) {
	t.Helper()
	return ts.dialHeader(t, http.Header{"X-Forwarded-For": []string{ip}})
}

func (ts *testServer) mustDialFrom(t *testing.T, ip string) *client {
	t.Helper()
	c, resp, err := ts.dialFrom(t, ip)
	if err != nil {
		t.Fatalf("dial from %s: %v (%v)", ip, err, resp)
	}
	return c
}

// attackConfig is testConfig behind a trusted loopback proxy, so tests can
// speak from many addresses.
func attackConfig() Config {
	cfg := testConfig()
	cfg.TrustedProxies = mustPrefixList("127.0.0.1/32")
	return cfg
}

// msg is a decoded server message.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

// client is a test WebSocket client.
type client struct {
	t       *testing.T
	ws      *websocket.Conn
	id      string
	room    string
	token   string
	welcome msg
}

// dial connects and reads the welcome.
func (ts *testServer) dial(t *testing.T) *client {
	t.Helper()
	c, resp, err := ts.dialHeader(t, nil)
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	return c
}

func (ts *testServer) dialHeader(t *testing.T, h http.Header) (*client, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	ws, resp, err := d.DialContext(t.Context(), ts.url, h)
	if err != nil {
		return nil, resp, err
	}
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.Close() })
	c.welcome = c.expect("welcome")
	return c, resp, nil
}

// send writes one JSON message.
func (c *client) send(v any) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send %v: %v", v, err)
	}
}

func (c *client) sendRaw(mt int, b []byte) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitLimit))
	if err := c.ws.WriteMessage(mt, b); err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

// next reads the next message, waiting at most waitLimit.
func (c *client) next() (msg, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(waitLimit))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %q: %w", b, err)
	}
	return m, nil
}

// expect reads the next message and checks its type.
func (c *client) expect(typ string) msg {
	c.t.Helper()
	m, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %q: %v", typ, err)
	}
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// expectError reads the next message and checks it is an error with code.
func (c *client) expectError(code string) msg {
	c.t.Helper()
	m := c.expect("error")
	if m.str("code") != code {
		c.t.Fatalf("got error %v, want code %q", m, code)
	}
	return m
}

// expectClose reads until the connection closes and checks the close code.
func (c *client) expectClose(code int) *websocket.CloseError {
	c.t.Helper()
	for {
		_, err := c.next()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want close %d, got %v", code, err)
		}
		if ce.Code != code {
			c.t.Fatalf("want close %d, got %d %q", code, ce.Code, ce.Text)
		}
		_ = c.ws.Close() // end the TCP connection, as a browser does
		return ce
	}
}

// alive checks the connection still answers: ping gets pong next.
func (c *client) alive() {
	c.t.Helper()
	c.send(msg{"type": "ping"})
	c.expect("pong")
}

// handled waits until the server has handled everything sent so far: a
// ping's pong, past whatever else arrives first (errors, peer-left...).
func (c *client) handled() {
	c.t.Helper()
	c.send(msg{"type": "ping"})
	for {
		m, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for pong: %v", err)
		}
		if m.str("type") == "pong" {
			return
		}
	}
}

// join sends a join and reads joined.
func (c *client) join(room, name string) msg {
	c.t.Helper()
	c.send(msg{"type": "join", "room": room, "name": name})
	m := c.expect("joined")
	c.id, c.room, c.token = m.str("id"), m.str("room"), m.str("resumeToken")
	return m
}

// waitUntil polls cond until it holds or waitLimit passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peerIDs lists the ids of a roster.
func peerIDs(m msg) []string {
	var ids []string
	ps, _ := m["peers"].([]any)
	for _, p := range ps {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return ids
}

func iceConfigExpiring(t time.Time) ice.Config { return ice.Config{ExpiresAt: t} }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
