package signaling

import (
	"strings"
	"testing"
	"time"
)

// TestLeaveIsFinalAtOnce: after "leave" the others hear peer-left, the
// resume token is spent and no credentials are issued at once, not when
// the leaver answers the close handshake: a closing tab often never does.
// The server here waits a minute for that answer, so anything that waited
// for the handshake would miss the test's 10 s wait.
func TestLeaveIsFinalAtOnce(t *testing.T) {
	cfg := attackConfig()
	ts := newTestServer(t, cfg)
	ts.srv.closeWaitForTest = time.Minute
	honest := newHonestPair(t, ts)

	a := ts.dial(t)
	a.join("", "Ada")
	l := ts.dial(t)
	l.join(a.room, "Leaver")
	a.expect("peer-joined")
	minted := func() (n int) {
		ts.mint.mu.Lock()
		defer ts.mint.mu.Unlock()
		for _, u := range ts.mint.users {
			if strings.HasSuffix(u, "."+l.id) {
				n++
			}
		}
		return n
	}
	before := minted()

	l.send(msg{"type": "leave"}) // and never reads again
	pl := a.expect("peer-left")
	if pl.str("id") != l.id || pl.str("reason") != leftReasonLeft {
		t.Fatalf("peer-left = %v", pl)
	}
	// The leaver's connection is still open (it has not answered), yet its
	// place is gone: its token resumes nothing...
	if ts.srv.Stats().Connections < 4 {
		t.Fatal("the leaver's connection ended: this test needs it open")
	}
	r := ts.dial(t)
	r.send(msg{"type": "join", "resume": l.token})
	r.expectError(codeResumeFailed)
	// ...and asking for ICE servers on it gets nothing either.
	l.send(msg{"type": "ice-servers"})
	a.send(msg{"type": "offer", "to": l.id, "sdp": "too late"})
	a.expectError(codeUnknownPeer)
	if n := minted(); n != before {
		t.Fatalf("%d credentials minted for the leaver after leave", n-before)
	}
	honest.exchange(t)
}
