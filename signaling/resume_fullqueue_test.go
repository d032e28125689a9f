package signaling

import (
	"testing"
	"time"
)

// TestResumeOfAFullOldQueueIsNotCut: Bob's old connection stopped
// writing with send_queue room events queued (the most it may hold); Bob
// resumes while it is still open. The resumed connection gets its joined
// and then those events: it must not be closed as "too slow" for them
// (they were within the old connection's bounds; the detached path moves
// them with pushReserved, unbounded by send_queue).
func TestResumeOfAFullOldQueueIsNotCut(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SendQueue, cfg.ResumeQueue = 8, 8
	ts := newTestServer(t, cfg)
	ts.srv.closeWaitForTest = time.Minute // the old connection lingers

	_, b, _ := stalledSession(t, ts, cfg.SendQueue)

	b2 := ts.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	j, err := b2.next()
	if err != nil {
		// The page reconnects on 1008 and resumes with the token it has:
		// the one just spent (the new one was in the joined it never got).
		b3 := ts.dial(t)
		b3.send(msg{"type": "join", "resume": b.token})
		m, err3 := b3.next()
		t.Fatalf("the resumed connection ended before its joined: %v (slow clients %d); resuming again: %v %v",
			err, ts.srv.stats.slowClients.Load(), m, err3)
	}
	if j["resumed"] != true {
		t.Fatalf("resume = %v", j)
	}
	for i := range cfg.SendQueue {
		m, err := b2.next()
		if err != nil {
			t.Fatalf("after %d of the %d candidates the resumed connection ended: %v (slow clients: %d)",
				i, cfg.SendQueue, err, ts.srv.stats.slowClients.Load())
		}
		if m.str("type") != "candidate" {
			t.Fatalf("got %v, want candidate %d", m, i)
		}
	}
}
