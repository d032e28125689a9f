package signaling

import (
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/ice"
)

// honestPair is two clients in a room of their own, from their own IP,
// that must keep exchanging messages whatever an attacker does.
type honestPair struct{ a, b *client }

func newHonestPair(t *testing.T, ts *testServer) *honestPair {
	t.Helper()
	h := http.Header{"X-Forwarded-For": []string{"198.51.100.7"}}
	a, _, err := ts.dialHeader(t, h)
	if err != nil {
		t.Fatal(err)
	}
	a.join("", "honest-a")
	b, _, err := ts.dialHeader(t, h)
	if err != nil {
		t.Fatal(err)
	}
	b.join(a.room, "honest-b")
	a.expect("peer-joined")
	return &honestPair{a: a, b: b}
}

// exchange asserts an offer and an answer still get through.
func (p *honestPair) exchange(t *testing.T) {
	t.Helper()
	p.a.send(msg{"type": "offer", "to": p.b.id, "sdp": "v=0 honest"})
	if m := p.b.expect("offer"); m.str("from") != p.a.id {
		t.Fatalf("honest offer arrived as %v", m)
	}
	p.b.send(msg{"type": "answer", "to": p.a.id, "sdp": "v=0 honest"})
	if m := p.a.expect("answer"); m.str("from") != p.b.id {
		t.Fatalf("honest answer arrived as %v", m)
	}
}

func attacker(t *testing.T, ts *testServer) (*client, *http.Response, error) {
	t.Helper()
	return ts.dialHeader(t, http.Header{"X-Forwarded-For": []string{"203.0.113.66"}})
}

func mustAttacker(t *testing.T, ts *testServer) *client {
	t.Helper()
	c, resp, err := attacker(t, ts)
	if err != nil {
		t.Fatalf("attacker dial: %v (%v)", err, resp)
	}
	return c
}

// TestAttacksLeaveOtherRoomsServed runs each attack against one server
// while an honest pair in another room keeps exchanging messages.
func TestAttacksLeaveOtherRoomsServed(t *testing.T) {
	type attack = struct {
		name   string
		config func(*Config)
		attack func(t *testing.T, ts *testServer, honest *honestPair)
	}
	attacks := []attack{
		{"connection flood", func(c *Config) { c.MaxConnsPerIP = 3 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			for range 3 {
				mustAttacker(t, ts)
			}
			_, resp, err := attacker(t, ts)
			if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("connection past the per-IP cap: %v %v, want 429", err, resp)
			}
		}},
		{"join flood", func(c *Config) { c.JoinRate, c.JoinBurst = 0.01, 2 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			c.send(msg{"type": "join", "name": "x"})
			c.expect("joined")
			c2 := mustAttacker(t, ts)
			c2.send(msg{"type": "join", "room": c.room})
			c2.expect("joined")
			c3 := mustAttacker(t, ts)
			c3.send(msg{"type": "join", "name": "z"})
			c3.expectError(codeRateLimited)
		}},
		{"message flood", func(c *Config) { c.MessageRate, c.MessageBurst = 5, 20 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			for range 200 {
				if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
					break // closed under us
				}
			}
			c.expectClose(closePolicy)
		}},
		{"oversized message", nil, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			c.join("", "big")
			_ = c.ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 70<<10))
			c.expectClose(closeTooBig)
		}},
		{"invalid UTF-8", nil, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			c.sendRaw(websocket.TextMessage, []byte("{\"type\":\"ping\",\"x\":\"\xff\xfe\"}"))
			c.expectClose(closeBadData)
		}},
		{"deeply nested JSON", nil, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			deep := `{"type":"ping","x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}"
			c.sendRaw(websocket.TextMessage, []byte(deep))
			c.expectError(codeBadJSON)
			c.alive() // the connection lives on
		}},
		{"room cap", func(c *Config) { c.MaxPeersPerRoom = 2 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			c.join("", "one")
			c2 := mustAttacker(t, ts)
			c2.join(c.room, "two")
			c3 := mustAttacker(t, ts)
			c3.send(msg{"type": "join", "room": c.room})
			c3.expectError(codeRoomFull)
		}},
		{"room count cap", func(c *Config) { c.MaxRooms = 2 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			c := mustAttacker(t, ts)
			c.join("", "r2")
			c2 := mustAttacker(t, ts)
			c2.send(msg{"type": "join"})
			c2.expectError(codeTooManyRooms)
		}},
		{"stalled reader", func(c *Config) { c.SendQueue, c.ResumeQueue = 8, 8 }, func(t *testing.T, ts *testServer, _ *honestPair) {
			reader := mustAttacker(t, ts) // never reads again after joining
			reader.join("", "stalled")
			writer := mustAttacker(t, ts)
			writer.join(reader.room, "flooder")
			big := strings.Repeat("v", 30<<10)
			for range 200 {
				writer.send(msg{"type": "offer", "to": reader.id, "sdp": big})
				if ts.srv.Stats().SlowClients > 0 {
					break
				}
			}
			waitUntil(t, "the stalled reader to be cut", func() bool { return ts.srv.Stats().SlowClients > 0 })
			// The writer lives on (it may first hear that the reader left).
			writer.send(msg{"type": "ping"})
			for {
				m, err := writer.next()
				if err != nil {
					t.Fatalf("writer after the stalled reader was cut: %v", err)
				}
				if m.str("type") == "pong" {
					break
				}
			}
		}},
	}
	attacks = append(attacks, []attack{
		{"cross-room relay", nil, func(t *testing.T, ts *testServer, honest *honestPair) {
			c := mustAttacker(t, ts)
			c.join("", "outsider")
			c.send(msg{"type": "offer", "to": honest.b.id, "sdp": "v=0 injected"})
			c.expectError(codeUnknownPeer) // honest.b sees nothing: exchange expects its own offer next
		}},
		{"guessed resume token", nil, func(t *testing.T, ts *testServer, honest *honestPair) {
			c := mustAttacker(t, ts)
			for range 20 {
				c.send(msg{"type": "join", "resume": randomID(16)})
				c.expectError(codeResumeFailed)
			}
			c.send(msg{"type": "join", "resume": honest.b.id}) // a peer id is not a token
			c.expectError(codeResumeFailed)
		}},
	}...)
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TrustedProxies = mustPrefixList("127.0.0.1/32")
			if at.config != nil {
				at.config(&cfg)
			}
			ts := newTestServer(t, cfg)
			honest := newHonestPair(t, ts)
			honest.exchange(t)
			at.attack(t, ts, honest)
			honest.exchange(t)
		})
	}
}

// TestPanicIsContained: a panic while serving one connection closes that
// connection with 1011, is counted, and the server serves the others.
func TestPanicIsContained(t *testing.T) {
	var armed atomic.Bool
	fm := &fakeMinter{ttl: time.Hour}
	minter := func(user string) (ice.Config, error) {
		if armed.Load() {
			panic("minter exploded")
		}
		return fm.mint(user)
	}
	cfg := testConfig()
	cfg.TrustedProxies = mustPrefixList("127.0.0.1/32")
	ts := newTestServerOpts(t, cfg, Options{ICE: minter}, fm)
	honest := newHonestPair(t, ts)

	armed.Store(true)
	c := mustAttacker(t, ts)
	c.send(msg{"type": "join", "name": "boom"})
	c.expectClose(closeInternal)
	armed.Store(false)

	if ts.srv.Stats().Panics != 1 {
		t.Fatalf("panics counted %d, want 1", ts.srv.Stats().Panics)
	}
	honest.exchange(t)
}

func TestJSONDepth(t *testing.T) {
	cases := map[string]int{
		`{}`:                      1,
		`{"a":[1,{"b":[]}]}`:      4,
		`{"s":"[[[[{{{{"}`:        1,
		`{"s":"\"[[[[","t":[[]]}`: 3,
		`[]`:                      1,
		`"x"`:                     0,
	}
	for in, want := range cases {
		if got := jsonDepth([]byte(in)); got != want {
			t.Errorf("jsonDepth(%s) = %d, want %d", in, got, want)
		}
	}
}

func mustPrefixList(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestPingFloodCloses: WebSocket pings are answered inside the reader,
// where message_rate never sees them (10 connections got 697k pongs in
// 5 s); past the control-frame bucket the connection is closed with 1008,
// and an honest pair goes on.
func TestPingFloodCloses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, attackConfig())
	honest := newHonestPair(t, ts)
	a := mustAttacker(t, ts)
	sent := 0
	for range 10 * controlBurst {
		if err := a.ws.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(5*time.Second)); err != nil {
			break // closed by the server
		}
		sent++
	}
	if ce := a.expectClose(closePolicy); ce.Text != "ping rate limit" {
		t.Fatalf("after %d pings: reason %q", sent, ce.Text)
	}
	if ts.srv.Stats().RateLimited != 1 {
		t.Fatalf("ping flood not counted: %d", ts.srv.Stats().RateLimited)
	}
	honest.exchange(t)
}

// TestPingsWithinBudgetAnswered: a client's own keep-alive pings, at a
// pace any honest client keeps, get their pongs and keep the connection.
func TestPingsWithinBudgetAnswered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	pongs := make(chan string, controlBurst)
	a.ws.SetPongHandler(func(d string) error { pongs <- d; return nil })
	for i := range controlBurst / 2 {
		if err := a.ws.WriteControl(websocket.PingMessage, []byte{byte('a' + i)}, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	a.alive() // reads, so the pongs are handled
	if len(pongs) != controlBurst/2 {
		t.Fatalf("%d pongs for %d pings", len(pongs), controlBurst/2)
	}
	if got := <-pongs; got != "a" {
		t.Fatalf("pong carries %q, want the ping's data", got)
	}
}
