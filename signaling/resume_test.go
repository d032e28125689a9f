package signaling

import (
	"net"
	"strings"
	"testing"
	"time"
)

// drop cuts a client's TCP connection without a close frame and waits
// until the server has noticed.
func (ts *testServer) drop(t *testing.T, c *client) {
	t.Helper()
	before := ts.srv.Stats().Connections
	_ = c.ws.NetConn().Close()
	waitUntil(t, "server to notice the drop", func() bool { return ts.srv.Stats().Connections < before })
}

func TestResumeKeepsIDAndDeliversQueued(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	ts.drop(t, b)
	// Messages for Bob while he is away are queued, in order.
	a.send(msg{"type": "offer", "to": b.id, "sdp": "one"})
	a.send(msg{"type": "candidate", "to": b.id, "candidate": msg{"candidate": "two"}})
	a.send(msg{"type": "state", "state": msg{"muted": true}})
	a.alive() // all three handled

	b2 := ts.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	j := b2.expect("joined")
	if j["resumed"] != true || j.str("id") != b.id || j.str("room") != a.room {
		t.Fatalf("resumed joined = %v", j)
	}
	if tok := j.str("resumeToken"); tok == "" || tok == b.token {
		t.Fatalf("resume token not rotated: %q", tok)
	}
	if ids := peerIDs(j); len(ids) != 1 || ids[0] != a.id {
		t.Fatalf("roster = %v", ids)
	}
	if len(j["iceServers"].([]any)) != 1 {
		t.Fatalf("no fresh ICE servers: %v", j)
	}
	if m := b2.expect("offer"); m.str("sdp") != "one" || m.str("from") != a.id {
		t.Fatalf("queued offer = %v", m)
	}
	b2.expect("candidate")
	b2.expect("state")

	// Ada saw neither leave nor join: her next message is Bob's answer.
	b2.send(msg{"type": "answer", "to": a.id, "sdp": "ok"})
	if m := a.expect("answer"); m.str("from") != b.id {
		t.Fatalf("answer = %v", m)
	}
	// The spent token no longer works.
	c := ts.dial(t)
	c.send(msg{"type": "join", "resume": b.token})
	c.expectError(codeResumeFailed)
	if n := ts.srv.Stats().Resumes; n != 1 {
		t.Fatalf("resumes counted = %d", n)
	}
}

func TestResumeAfterGraceFails(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ResumeGrace = 200 * time.Millisecond
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	ts.drop(t, b)
	pl := a.expect("peer-left")
	if pl.str("id") != b.id || pl.str("reason") != leftReasonGone {
		t.Fatalf("peer-left = %v", pl)
	}
	b2 := ts.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	b2.expectError(codeResumeFailed)
	// The same connection may then join normally, as a new peer.
	j := b2.join(a.room, "Bob")
	if j.str("id") == b.id {
		t.Fatalf("got the old id back after the grace period")
	}
	a.expect("peer-joined")
}

func TestResumeReplacesLiveConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	a.join("", "Ada")
	a2 := ts.dial(t)
	a2.send(msg{"type": "join", "resume": a.token})
	a2.expect("joined")
	if ce := a.expectClose(closeReplaced); ce.Text != "replaced" {
		t.Fatalf("reason %q", ce.Text)
	}
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a2.expect("peer-joined")
	b.send(msg{"type": "offer", "to": a.id, "sdp": "x"})
	a2.expect("offer")
}

func TestResumeQueueOverflowGivesUp(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ResumeQueue = 3
	cfg.SendQueue = 8
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	ts.drop(t, b)
	for i := range 5 {
		a.send(msg{"type": "offer", "to": b.id, "sdp": strings.Repeat("x", i+1)})
	}
	if pl := a.expect("peer-left"); pl.str("id") != b.id {
		t.Fatalf("peer-left = %v", pl)
	}
	b2 := ts.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	b2.expectError(codeResumeFailed)
}

func TestResumeDisabled(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ResumeGrace = 0
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	j := a.join("", "Ada")
	if _, ok := j["resumeToken"]; ok {
		t.Fatalf("resume token offered with resume disabled: %v", j)
	}
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	ts.drop(t, b)
	if pl := a.expect("peer-left"); pl.str("reason") != leftReasonGone {
		t.Fatalf("peer-left = %v", pl)
	}
}

// A client that stops reading is disconnected; the others go on.
func TestStalledReaderDisconnected(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ResumeGrace = 0
	cfg.SendQueue = 8
	cfg.ResumeQueue = 8
	cfg.MessageRate, cfg.MessageBurst = 10_000, 10_000
	// The queue must be what cuts it, not a missed pong (on a busy
	// machine the loop below is slow).
	cfg.PingInterval = 45 * time.Second
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	stalled := ts.dial(t)
	stalled.join(a.room, "Stu") // and never reads again
	// A small receive buffer: loopback's can grow to many megabytes,
	// which a slow loop takes long to fill.
	if err := stalled.ws.NetConn().(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	a.expect("peer-joined")
	b.expect("peer-joined")

	big := strings.Repeat("s", 60<<10)
	bSawLeft := false // the stalled client may go between two of b's reads
	for i := 0; ts.srv.Stats().SlowClients == 0; i++ {
		if i > 2000 {
			t.Fatal("stalled client never disconnected")
		}
		a.send(msg{"type": "offer", "to": stalled.id, "sdp": big})
		// The room keeps working meanwhile.
		if i%20 == 0 {
			a.send(msg{"type": "candidate", "to": b.id, "candidate": i})
			m, err := b.next()
			if err == nil && m.str("type") == "peer-left" && m.str("id") == stalled.id && !bSawLeft {
				bSawLeft = true
				m, err = b.next()
			}
			if err != nil || m.str("type") != "candidate" {
				t.Fatalf("b waiting for candidate %d: %v %v", i, m, err)
			}
		}
	}
	// An offer a sent while the stalled client was being removed may
	// come back as unknown-peer before the peer-left.
	pl, err := a.next()
	for err == nil && pl.str("type") == "error" && pl.str("code") == codeUnknownPeer {
		pl, err = a.next()
	}
	if err != nil || pl.str("type") != "peer-left" || pl.str("id") != stalled.id {
		t.Fatalf("a: peer-left = %v %v", pl, err)
	}
	if !bSawLeft {
		if pl := b.expect("peer-left"); pl.str("id") != stalled.id {
			t.Fatalf("b: peer-left = %v", pl)
		}
	}
	a.send(msg{"type": "offer", "to": b.id, "sdp": "still here"})
	if m := b.expect("offer"); m.str("sdp") != "still here" {
		t.Fatalf("offer = %v", m)
	}
}
