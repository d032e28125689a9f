package signaling

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// stalledSession joins Ada and Bob, then lets Bob's client go silent
// (it sends one message past the read limit, which ends the server's
// reading and writing, and then neither reads nor closes): the server
// lingers on the connection, not yet detached, and
// has Ada send Bob n candidates ("1" … n) then: they sit in the old
// connection's queue. It returns Bob's client and session.
func stalledSession(t *testing.T, ts *testServer, n int) (a, b *client, sess *session) {
	t.Helper()
	a = ts.dial(t)
	a.join("", "Ada")
	b = ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	ts.srv.mu.Lock()
	for _, ss := range ts.srv.sessions {
		if ss.id == b.id {
			sess = ss
		}
	}
	ts.srv.mu.Unlock()
	if sess == nil {
		t.Fatal("no session for Bob")
	}
	sess.mu.Lock()
	old := sess.conn
	sess.mu.Unlock()
	b.sendRaw(websocket.TextMessage, make([]byte, ts.srv.cfg.ReadLimit+1))
	waitUntil(t, "the server to stop writing to Bob", func() bool {
		select {
		case <-old.writerDone:
			return true
		default:
			return false
		}
	})
	for k := 1; k <= n; k++ {
		a.send(msg{"type": "candidate", "to": b.id, "candidate": msg{"candidate": strconv.Itoa(k)}})
	}
	a.alive()
	sess.mu.Lock()
	attached := sess.conn == old
	sess.mu.Unlock()
	if !attached || old.send.len() != n {
		t.Fatalf("setup: attached %v, %d queued on the old connection; want the %d candidates there", attached, old.send.len(), n)
	}
	return a, b, sess
}

// TestResumeTakesWhatTheOldConnectionHadNotWritten: a client resumes while
// its old connection is still open on the server, which had stopped
// writing to it: what was queued there arrives on the new connection, in
// order (it used to be dropped with the old connection).
func TestResumeTakesWhatTheOldConnectionHadNotWritten(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	ts.srv.closeWaitForTest = time.Minute // the old connection lingers
	_, b, _ := stalledSession(t, ts, 3)

	b2 := ts.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	if j := b2.expect("joined"); j["resumed"] != true {
		t.Fatalf("resume = %v", j)
	}
	for _, want := range []string{"1", "2", "3"} {
		m := b2.expect("candidate")
		if got, _ := m["candidate"].(map[string]any)["candidate"].(string); got != want {
			t.Fatalf("candidate %q, want %q", got, want)
		}
	}
}

// TestHandOffTakesWhatTheOldConnectionHadNotWritten: another node takes
// the session over while its old connection is still open here: the
// hand-over carries what was queued on that connection.
func TestHandOffTakesWhatTheOldConnectionHadNotWritten(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	ts.srv.closeWaitForTest = time.Minute
	_, _, sess := stalledSession(t, ts, 3)

	queued, ok := ts.srv.handOff(sess)
	if !ok {
		t.Fatal("hand-off refused")
	}
	if len(queued) != 3 {
		t.Fatalf("handed over %d messages, want the 3 the old connection had not written", len(queued))
	}
	for i, q := range queued {
		if want := `"candidate":"` + string(rune('1'+i)) + `"`; !strings.Contains(string(q), want) {
			t.Errorf("message %d = %s, want %s", i, q, want)
		}
	}
	if used := ts.srv.budget.inUse(); used < 0 {
		t.Errorf("queue budget in use = %d after the hand-over", used)
	}
}
