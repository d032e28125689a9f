package signaling

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestBadMessagesKeepConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	b := ts.dial(t)

	// Before join.
	before := []struct {
		name string
		raw  string
		code string
	}{
		{"malformed JSON", `{"type":`, codeBadJSON},
		{"not an object", `[1,2]`, codeBadJSON},
		{"no type", `{"room":"x"}`, codeBadJSON},
		{"unknown type", `{"type":"dance"}`, codeUnknownType},
		{"offer before join", `{"type":"offer","to":"x","sdp":"v=0"}`, codeNotJoined},
		{"state before join", `{"type":"state","state":{}}`, codeNotJoined},
		{"leave before join", `{"type":"leave"}`, codeNotJoined},
		{"malformed room", `{"type":"join","room":"../etc"}`, codeBadMessage},
		{"unknown room", `{"type":"join","room":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, codeRoomNotFound},
		{"bad name", `{"type":"join","name":"a\u0000b"}`, codeBadMessage},
		{"bad resume", `{"type":"join","resume":"nope"}`, codeResumeFailed},
	}
	for _, tc := range before {
		a.sendRaw(websocket.TextMessage, []byte(tc.raw))
		if e := a.expectError(tc.code); e.str("message") == "" {
			t.Errorf("%s: empty message", tc.name)
		}
	}
	a.sendRaw(websocket.BinaryMessage, []byte{1, 2, 3})
	a.expectError(codeBadMessage)
	a.alive()

	a.join("", "Ada")
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	after := []struct {
		name string
		raw  string
		code string
	}{
		{"unknown target", `{"type":"offer","to":"nobody","sdp":"v=0","id":"r1"}`, codeUnknownPeer},
		{"missing to", `{"type":"candidate","candidate":null}`, codeBadMessage},
		{"missing sdp", `{"type":"offer","to":"` + b.id + `"}`, codeBadMessage},
		{"missing candidate", `{"type":"candidate","to":"` + b.id + `"}`, codeBadMessage},
		{"to self", `{"type":"answer","to":"` + a.id + `","sdp":"x"}`, codeBadMessage},
		{"join twice", `{"type":"join"}`, codeAlreadyJoined},
		{"bad JSON after join", `nope`, codeBadJSON},
	}
	for _, tc := range after {
		a.sendRaw(websocket.TextMessage, []byte(tc.raw))
		a.expectError(tc.code)
	}
	// The error echoes the request id and type.
	a.send(msg{"type": "offer", "to": "nobody", "sdp": "x", "id": "r7"})
	if e := a.expectError(codeUnknownPeer); e["ref"] != "r7" || e.str("refType") != "offer" {
		t.Fatalf("error = %v", e)
	}
	// Client text in an unknown type is not echoed as refType.
	a.send(msg{"type": "<script>", "id": 3})
	if e := a.expectError(codeUnknownType); e["refType"] != nil || e["ref"] != 3.0 {
		t.Fatalf("error = %v", e)
	}

	// Still joined and relaying both ways.
	a.send(msg{"type": "offer", "to": b.id, "sdp": "v=0"})
	b.expect("offer")
	b.send(msg{"type": "answer", "to": a.id, "sdp": "v=0"})
	a.expect("answer")
	if n := ts.srv.Stats().Errors[codeUnknownPeer]; n < 2 {
		t.Fatalf("unknown-peer errors counted = %d", n)
	}
}

func TestOversizedMessageCloses1009(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ResumeGrace = 0 // the room hears at once
	cfg.ReadLimit = 4096
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	// The server may close before the whole message is written.
	_ = b.ws.WriteJSON(msg{"type": "offer", "to": a.id, "sdp": strings.Repeat("x", 64<<10)})
	b.expectClose(websocket.CloseMessageTooBig)
	if pl := a.expect("peer-left"); pl.str("id") != b.id {
		t.Fatalf("peer-left = %v", pl)
	}
	a.alive()
	waitUntil(t, "too-big counted", func() bool { return ts.srv.Stats().TooBig == 1 })
}

func TestRoomFull(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxPeersPerRoom = 2
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	c := ts.dial(t)
	c.send(msg{"type": "join", "room": a.room})
	c.expectError(codeRoomFull)
	c.alive()
	// A place frees up: the same connection may retry.
	b.send(msg{"type": "leave"})
	b.expectClose(closeNormal)
	a.expect("peer-joined")
	a.expect("peer-left")
	c.join(a.room, "Cy")
}

func TestTooManyRooms(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxRooms = 1
	ts := newTestServer(t, cfg)
	ts.dial(t).join("", "one")
	c := ts.dial(t)
	c.send(msg{"type": "join"})
	c.expectError(codeTooManyRooms)
}

func TestCreatePassword(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.CreatePassword = "s3cret-horse"
	ts := newTestServer(t, cfg)

	a := ts.dial(t)
	for _, pw := range []string{"", "wrong", "s3cret-horse "} {
		a.send(msg{"type": "join", "password": pw})
		a.expectError(codeBadPassword)
	}
	a.send(msg{"type": "join", "password": "s3cret-horse", "name": "Ada"})
	j := a.expect("joined")
	// Joining an existing room needs no password.
	b := ts.dial(t)
	b.join(j.str("room"), "Bob")
	if n := ts.srv.Stats().BadPasswords; n != 3 {
		t.Fatalf("bad passwords counted = %d", n)
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"https://call.example.com"}
	ts := newTestServer(t, cfg)
	host := strings.TrimPrefix(ts.http.URL, "http://")
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"HTTP://" + strings.ToUpper(host), true},
		{"https://call.example.com", true},
		{"https://evil.example.com", false},
		{"http://" + host + ".evil.com", false},
		{"null", false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := ts.dialHeader(t, h)
			if tc.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.alive()
				return
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("want 403, got %v %v", err, resp)
			}
		})
	}
}

func TestJoinTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.JoinTimeout = 200 * time.Millisecond
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.send(msg{"type": "join", "room": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
	a.expectError(codeRoomNotFound) // a failed join does not stop the clock
	if ce := a.expectClose(closePolicy); ce.Text != "join timeout" {
		t.Fatalf("reason %q", ce.Text)
	}
	// A joined client is not cut.
	b := ts.dial(t)
	b.join("", "Bob")
	waitUntil(t, "join timeout counted", func() bool { return ts.srv.Stats().JoinTimeouts == 1 })
	time.Sleep(cfg.JoinTimeout) // let the (stopped) timer's moment pass
	b.alive()
}

func TestMessageRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MessageRate, cfg.MessageBurst = 1, 10
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	for range 40 {
		if err := a.ws.WriteJSON(msg{"type": "ping"}); err != nil {
			break // the server may already have closed
		}
	}
	if ce := a.expectClose(closePolicy); ce.Text != "rate limit" {
		t.Fatalf("reason %q", ce.Text)
	}
	if ts.srv.Stats().RateLimited != 1 {
		t.Fatalf("rate limit not counted")
	}
}

func TestConnsPerIPAndJoinRate(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	cfg.JoinRate, cfg.JoinBurst = 0.001, 2
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	b := ts.dial(t)
	if _, resp, err := ts.dialHeader(t, nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: want 429, got %v %v", err, resp)
	}
	a.join("", "Ada")
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	b.send(msg{"type": "leave"})
	b.expectClose(closeNormal)
	b.ws.Close()
	a.expect("peer-left")

	// The slot is free again, but the join budget is spent.
	waitUntil(t, "connection released", func() bool { return ts.srv.Stats().Connections == 1 })
	c := ts.dial(t)
	c.send(msg{"type": "join", "room": a.room})
	c.expectError(codeRateLimited)
	c.alive()
}
