package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats-server and nats.go keep a few process-wide goroutines.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.gowrap1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.timeoutPurger"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats.go.(*globalTimerPool).Get"),
	)
}

// waitLimit bounds every wait for an event; it is never a timing assertion.
const waitLimit = 15 * time.Second

// natsServer is an embedded NATS server with JetStream on a loopback port.
type natsServer struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, dir: t.TempDir(), port: -1}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "test",
		Host:       "127.0.0.1",
		Port:       ns.port,
		JetStream:  true,
		StoreDir:   ns.dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		ns.t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(waitLimit) {
		ns.t.Fatal("nats server not ready")
	}
	ns.srv = s
	ns.port = s.Addr().(*net.TCPAddr).Port
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

// testConfigs returns the [signaling] and [cluster] sections for tests:
// short timers, generous join rates.
func testConfigs(natsURL string) (signaling.Config, Config) {
	sc := signaling.DefaultConfig()
	sc.WriteTimeout = time.Second
	sc.ResumeGrace = 10 * time.Second
	sc.JoinRate, sc.JoinBurst = 1000, 1000
	cc := DefaultConfig()
	cc.Enabled = true
	cc.NATSURLs = []string{natsURL}
	cc.Heartbeat = 100 * time.Millisecond
	cc.NodeTimeout = 500 * time.Millisecond
	return sc, cc
}

// testLogger is nil (discard) unless CLUSTER_TEST_LOG is set, to read a
// failure by.
func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// node is one appliance's signaling, clustered, behind httptest.
type node struct {
	name string
	reg  *Registry
	sig  *signaling.Server
	http *httptest.Server
	url  string
	down bool
}

func startNode(t testing.TB, name string, sc signaling.Config, cc Config) *node {
	t.Helper()
	return startNodeKeys(t, name, sc, cc, nil)
}

// stop shuts the node down in order, as the appliance does.
func (n *node) stop() {
	if n.down {
		return
	}
	n.down = true
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_ = n.sig.Shutdown(ctx)
	n.http.Close()
}

// kill makes the node vanish as a crashed machine does: connections cut,
// no goodbye to the cluster.
func (n *node) kill() {
	n.down = true
	n.reg.nc.Close() // no bye, no more heartbeats
	n.http.CloseClientConnections()
	n.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_ = n.sig.Shutdown(ctx)
}

// msg is a decoded server message.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

// client is a test WebSocket client (internal/sigtest) with the names
// these tests use; it waits waitLimit for each message.
type client struct {
	t               testing.TB
	sc              *sigtest.Client
	ws              *websocket.Conn
	id, room, token string
}

func (n *node) dial(t testing.TB) *client {
	t.Helper()
	sc, resp, err := sigtest.Dial(t, n.url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", n.name, err, resp)
	}
	sc.Wait = waitLimit
	return &client{t: t, sc: sc, ws: sc.WS}
}

func (c *client) send(v any)         { c.t.Helper(); c.sc.Send(v) }
func (c *client) next() (msg, error) { m, err := c.sc.Next(); return msg(m), err }
func (c *client) expect(typ string) msg {
	c.t.Helper()
	return msg(c.sc.Expect(typ))
}
func (c *client) expectError(code string) { c.t.Helper(); c.sc.ExpectError(code) }

// alive checks the connection answers and nothing else came first.
func (c *client) alive() { c.t.Helper(); c.sc.Alive() }

func (c *client) join(room, name string) msg {
	c.t.Helper()
	m := msg(c.sc.Join(room, name))
	c.id, c.room, c.token = c.sc.ID, c.sc.Room, c.sc.Token
	return m
}

// cut drops the TCP connection without a close frame.
func (c *client) cut() { _ = c.ws.NetConn().Close() }

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func peerIDs(m msg) []string {
	var ids []string
	ps, _ := m["peers"].([]any)
	for _, p := range ps {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return ids
}

// expectClosed reads until the connection ends.
func (c *client) expectClosed() {
	c.t.Helper()
	for {
		if _, err := c.next(); err != nil {
			return
		}
	}
}
