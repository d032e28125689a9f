package signaling

import (
	"context"
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
	"github.com/streamsync/streamsync/internal/sigtest"
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

// client is a test WebSocket client (internal/sigtest) with the names
// and types these tests use.
type client struct {
	sc      *sigtest.Client
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
	sc, resp, err := sigtest.Dial(t, ts.url, h)
	if err != nil {
		return nil, resp, err
	}
	return &client{sc: sc, t: t, ws: sc.WS, welcome: msg(sc.Welcome)}, resp, nil
}

func (c *client) send(v any)                  { c.t.Helper(); c.sc.Send(v) }
func (c *client) sendRaw(mt int, b []byte)    { c.t.Helper(); c.sc.SendRaw(mt, b) }
func (c *client) next() (msg, error)          { m, err := c.sc.Next(); return msg(m), err }
func (c *client) expect(typ string) msg       { c.t.Helper(); return msg(c.sc.Expect(typ)) }
func (c *client) expectError(code string) msg { c.t.Helper(); return msg(c.sc.ExpectError(code)) }
func (c *client) alive()                      { c.t.Helper(); c.sc.Alive() }
func (c *client) handled()                    { c.t.Helper(); c.sc.Handled() }

func (c *client) expectClose(code int) *websocket.CloseError {
	c.t.Helper()
	return c.sc.ExpectClose(code)
}

// join sends a join and reads joined.
func (c *client) join(room, name string) msg {
	c.t.Helper()
	m := msg(c.sc.Join(room, name))
	c.id, c.room, c.token = c.sc.ID, c.sc.Room, c.sc.Token
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
