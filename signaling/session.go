package signaling

import (
	"net/netip"
	"sync"
	"time"
)

// session is one peer's place in a room. It outlives its connection for
// Config.ResumeGrace so a client can resume: meanwhile the room's messages
// for it are queued, within resume_queue messages, resume_queue_bytes and
// the server's queue_budget. It is the Member the Registry delivers to.
type session struct {
	srv  *Server
	room string
	id   string
	key  netip.Addr // client address its room counts against (rooms per IP)

	mu sync.Mutex
	// guarded by mu:
	peer       Peer
	conn       *conn    // nil while detached (joining, or dropped awaiting resume)
	queue      [][]byte // room messages while detached
	queueBytes int64    // their size, taken from the server's queue budget
	grace      *time.Timer
	held       *ticket // the place's admission ticket while held for resume
	counted    bool    // counted in srv.roomsIP under key until the end
	overflowed bool    // the queue overflowed: the place is being given up
	claimed    bool    // a resume is in progress
	graceOver  bool    // the grace period ended while claimed
	ended      bool

	// guarded by srv.mu:
	token string // current resume token; "" when none
}

func newSession(s *Server, room string, p Peer, key netip.Addr) *session {
	return &session{srv: s, room: room, id: p.ID, peer: p, key: key}
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
	if !ss.queueLocked(msg) && ss.grace != nil && !ss.overflowed {
		// Too much missed: give the place up now.
		ss.overflowed = true
		ss.srv.stats.resumeOverflows.Add(1)
		ss.grace.Reset(0)
	}
}

// queueLocked keeps msg for a resume, if it fits in the place's limits and
// the server's budget.
func (ss *session) queueLocked(msg []byte) bool {
	cfg := &ss.srv.cfg
	n := int64(len(msg))
	if len(ss.queue) >= cfg.ResumeQueue || ss.queueBytes+n > cfg.ResumeQueueBytes {
		return false
	}
	if !ss.srv.budget.take(n) {
		ss.srv.stats.budgetFull.Add(1)
		return false
	}
	ss.queue = append(ss.queue, msg)
	ss.queueBytes += n
	return true
}

// clearQueueLocked forgets the queue and gives its bytes back.
func (ss *session) clearQueueLocked() {
	ss.srv.budget.give(ss.queueBytes)
	ss.queue, ss.queueBytes = nil, 0
}

// finishLocked ends the session's hold on everything it counts in: queue
// bytes, a held place, its room in the per-address count. Once.
func (ss *session) finishLocked() {
	ss.ended = true
	ss.clearQueueLocked()
	if ss.grace != nil {
		ss.grace.Stop()
		ss.grace = nil
	}
	ss.held.release()
	ss.held = nil
	if ss.counted {
		ss.srv.roomsIP.release(ss.key, ss.room)
		ss.counted = false
	}
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
	held := ss.held // c's own ticket counts the place from now on
	ss.held = nil
	c.enqueue(first, false)
	if old != nil && old != c {
		// What the old connection did not write yet (it may have stopped
		// writing and not yet detached) comes first: nothing is lost.
		old.send.moveRoomEvents(c.send)
	}
	for _, m := range ss.queue {
		c.send.pushReserved(outMsg{m, true}) // their bytes move with them
	}
	ss.queue, ss.queueBytes = nil, 0
	ss.mu.Unlock()
	held.release()
	if old != nil && old != c {
		old.stop(closeReplaced, "replaced")
	}
	return true
}

// detach is called when c has ended. A goodbye (or no resume configured)
// ends the session; otherwise it is held for the grace period with the
// messages c did not get to write, and the place counts against c's
// address as c did.
func (ss *session) detach(c *conn, leaving bool) {
	closing := ss.srv.isClosing()
	ss.mu.Lock()
	if ss.conn != c {
		ss.mu.Unlock()
		return // replaced by a resumed connection
	}
	events := c.send.roomEventData()
	ss.conn = nil
	if ss.ended {
		ss.mu.Unlock()
		return // said leave: already announced
	}
	if closing && !leaving {
		// The server is stopping, not the client leaving: nothing is
		// announced, so the others' pages keep their connections to it.
		// The client resumes with its signed token once the server is back
		// (or, in a cluster, on another node); a place not taken back is
		// seen gone by the others after the grace period.
		ss.finishLocked()
		ss.mu.Unlock()
		return
	}
	if leaving || ss.srv.cfg.ResumeGrace == 0 {
		ss.finishLocked()
		ss.mu.Unlock()
		reason := leftReasonGone
		if leaving {
			reason = leftReasonLeft
		}
		ss.end(reason)
		return
	}
	later := ss.queue // normally none: attached, room events went to c
	ss.clearQueueLocked()
	fits := true
	for _, m := range append(events, later...) {
		if fits = ss.queueLocked(m); !fits {
			break
		}
	}
	wait := ss.srv.cfg.ResumeGrace
	if !fits {
		ss.overflowed = true
		ss.srv.stats.resumeOverflows.Add(1)
		wait = 0
	}
	ss.held = c.ticket
	c.ticket = nil
	ss.held.hold()
	ss.grace = time.AfterFunc(wait, ss.expire)
	ss.mu.Unlock()
	c.log().Debug("held for resume")
}

// leave ends the session at once because its client said goodbye on c:
// the others hear it now, not when c's close handshake ends.
func (ss *session) leave(c *conn) {
	ss.mu.Lock()
	if ss.conn != c || ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.finishLocked()
	ss.mu.Unlock()
	ss.end(leftReasonLeft)
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
	ss.finishLocked()
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
	if !ss.ended {
		ss.finishLocked()
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
// for this peer come before those that arrived here since). They are
// charged to the queue budget even past it: they were held within the
// other node's limits, and attach hands them to a connection right away.
func (ss *session) prepend(msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var n int64
	for _, m := range msgs {
		n += int64(len(m))
	}
	ss.srv.budget.force(n)
	ss.queueBytes += n
	ss.queue = append(append([][]byte(nil), msgs...), ss.queue...)
}

// abandon ends a session that never got a connection, announcing it gone.
func (ss *session) abandon() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.finishLocked()
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
	q, c := ss.queue, ss.conn
	if c != nil {
		// What it did not write yet moves too (it may have stopped
		// writing and not yet detached, or still be writing).
		q = append(q, c.send.roomEventData()...)
	}
	ss.conn = nil
	ss.finishLocked()
	return q, c, true
}
