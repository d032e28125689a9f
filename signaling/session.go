package signaling

import (
	"sync"
	"time"
)

// session is one peer's place in a room. It outlives its connection for
// Config.ResumeGrace so a client can resume: meanwhile the room's messages
// for it are queued. It is the Member the Registry delivers to.
type session struct {
	srv  *Server
	room string
	id   string

	mu sync.Mutex
	// guarded by mu:
	peer      Peer
	conn      *conn    // nil while detached (joining, or dropped awaiting resume)
	queue     [][]byte // room messages while detached
	grace     *time.Timer
	claimed   bool // a resume is in progress
	graceOver bool // the grace period ended while claimed
	ended     bool

	// guarded by srv.mu:
	token string // current resume token; "" when none
}

func newSession(s *Server, room string, p Peer) *session {
	return &session{srv: s, room: room, id: p.ID, peer: p}
}

// Deliver implements Member. It is called with Registry locks held, so it
// only enqueues.
func (ss *session) Deliver(msg []byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	if ss.conn != nil {
		ss.conn.enqueue(msg, true)
		return
	}
	if len(ss.queue) >= ss.srv.cfg.ResumeQueue {
		if ss.grace != nil {
			// Too much missed: give the place up now.
			ss.srv.stats.resumeOverflows.Add(1)
			ss.grace.Reset(0)
		}
		return
	}
	ss.queue = append(ss.queue, msg)
}

// attach makes c the session's connection: first goes out, then whatever
// was queued, in order. An older connection still attached is closed with
// 4000. It reports false if the session has ended.
func (ss *session) attach(c *conn, first []byte) bool {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return false
	}
	if ss.grace != nil {
		ss.grace.Stop()
		ss.grace = nil
	}
	old := ss.conn
	ss.conn = c
	ss.claimed, ss.graceOver = false, false
	c.enqueue(first, false)
	for _, m := range ss.queue {
		c.enqueue(m, true)
	}
	ss.queue = nil
	ss.mu.Unlock()
	if old != nil && old != c {
		old.stop(closeReplaced, "replaced")
	}
	return true
}

// detach is called when c has ended. A goodbye (or no resume configured)
// ends the session; otherwise it is held for the grace period with the
// messages c did not get to write.
func (ss *session) detach(c *conn, leaving bool) {
	closing := ss.srv.isClosing()
	ss.mu.Lock()
	if ss.conn != c || ss.ended {
		ss.mu.Unlock()
		return // replaced by a resumed connection
	}
	ss.conn = nil
	if closing && !leaving && ss.srv.roaming {
		// Keep the place in the cluster: the client resumes on another
		// node, or the others see it gone after the grace period.
		ss.ended = true
		ss.queue = nil
		ss.mu.Unlock()
		return
	}
	if leaving || ss.srv.cfg.ResumeGrace == 0 || closing {
		ss.ended = true
		ss.mu.Unlock()
		reason := leftReasonGone
		if leaving {
			reason = leftReasonLeft
		}
		ss.end(reason)
		return
	}
	ss.queue = append(c.drainRoomEvents(), ss.queue...)
	if len(ss.queue) > ss.srv.cfg.ResumeQueue {
		ss.queue = ss.queue[:ss.srv.cfg.ResumeQueue]
		ss.srv.stats.resumeOverflows.Add(1)
		ss.grace = time.AfterFunc(0, ss.expire)
	} else {
		ss.grace = time.AfterFunc(ss.srv.cfg.ResumeGrace, ss.expire)
	}
	ss.mu.Unlock()
	c.log().Debug("held for resume")
}

// expire ends a held session whose client did not come back.
func (ss *session) expire() {
	ss.mu.Lock()
	if ss.claimed {
		ss.graceOver = true
	}
	if ss.ended || ss.conn != nil || ss.claimed {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	ss.queue = nil
	ss.mu.Unlock()
	ss.end(leftReasonGone)
}

// end removes the peer from its room and forgets its resume token. Called
// once, without ss.mu held.
func (ss *session) end(reason string) {
	ss.srv.removeSession(ss)
	ss.srv.reg.Leave(ss.room, ss.id, mustMarshal(peerLeftMsg{Type: typePeerLeft, ID: ss.id, Reason: reason}))
	ss.srv.log.Info("left", "room", roomTag(ss.room), "peer", ss.id, "reason", reason)
}

// claim reserves a held session for a resume; false if it has ended.
func (ss *session) claim() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.claimed {
		return false
	}
	ss.claimed = true
	return true
}

// unclaim gives a claimed session back to its grace timer.
func (ss *session) unclaim() {
	ss.mu.Lock()
	ss.claimed = false
	fire := ss.conn == nil && ss.graceOver
	ss.mu.Unlock()
	if fire {
		ss.expire()
	}
}

// drop ends a session silently (server shutdown).
func (ss *session) drop() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.ended = true
	ss.queue = nil
	if ss.grace != nil {
		ss.grace.Stop()
	}
}

func (ss *session) peerInfo() Peer {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.peer
}

func (ss *session) setPeerInfo(p Peer) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.peer = p
}

// prepend puts msgs before whatever is queued (messages another node held
// for this peer come before those that arrived here since).
func (ss *session) prepend(msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.queue = append(append([][]byte(nil), msgs...), ss.queue...)
}

// abandon ends a session that never got a connection, announcing it gone.
func (ss *session) abandon() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	ss.queue = nil
	ss.mu.Unlock()
	ss.end(leftReasonGone)
}

// handOff ends the session silently because another node took it over.
// It returns the queued messages and the connection still attached, if
// any; false if the session had already ended or a resume here is under way.
func (ss *session) handOff() ([][]byte, *conn, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.claimed {
		return nil, nil, false
	}
	ss.ended = true
	if ss.grace != nil {
		ss.grace.Stop()
		ss.grace = nil
	}
	q, c := ss.queue, ss.conn
	ss.queue, ss.conn = nil, nil
	return q, c, true
}
