package signaling

import (
	"sync"
	"sync/atomic"
)

// sendQueue is a connection's bounded FIFO of outgoing messages. Unlike a
// channel, which holds its whole bound from the start, it takes memory
// only for what it holds: most connections are idle most of the time, and
// 10 000 of them must fit in a small server. What it holds is charged to
// the server's queue budget.
type sendQueue struct {
	budget *byteBudget

	mu sync.Mutex
	// guarded by mu:
	items []outMsg
	bytes int64 // sum of len(items[i].data)

	ready chan struct{} // holds a token while items is not empty
}

func newSendQueue(b *byteBudget) *sendQueue {
	return &sendQueue{budget: b, ready: make(chan struct{}, 1)}
}

// liveFloor is what a connection may always have queued, budget or not:
// a reader that keeps up is never cut for what others hold. When the
// budget is spent it is the clients with more than this waiting (those
// not reading) that are cut.
const liveFloor = 64 << 10

// push appends m unless the queue holds limit messages or would pass
// byteLimit bytes, or the server's budget is spent (budgetFull) and the
// queue already holds liveFloor bytes.
func (q *sendQueue) push(m outMsg, limit int, byteLimit int64) (ok, budgetFull bool) {
	n := int64(len(m.data))
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= limit || q.bytes+n > byteLimit {
		return false, false
	}
	if !q.budget.take(n) {
		if q.bytes >= liveFloor {
			return false, true
		}
		q.budget.force(n)
	}
	q.appendLocked(m, n)
	return true, false
}

// pushReserved appends m, whose bytes the caller has already taken from
// the budget (a held place's queue, handed to its resumed connection).
func (q *sendQueue) pushReserved(m outMsg) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.appendLocked(m, int64(len(m.data)))
}

func (q *sendQueue) appendLocked(m outMsg, n int64) {
	q.items = append(q.items, m)
	q.bytes += n
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop removes the oldest message, if any.
func (q *sendQueue) pop() (outMsg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return outMsg{}, false
	}
	m := q.items[0]
	q.items[0] = outMsg{}
	q.items = q.items[1:]
	n := int64(len(m.data))
	q.bytes -= n
	q.budget.give(n)
	if len(q.items) == 0 {
		q.items = nil // an idle connection keeps no buffer
	}
	return m, true
}

// takeRoomEvents empties the queue at once and returns its room events,
// in order, their bytes still charged to the budget (n in all: the caller
// moves them or gives them back); the connection's own replies are
// dropped. At once, so that a writer still running (an old connection
// being replaced) cannot pop one from the middle: it writes only what it
// took before.
func (q *sendQueue) takeRoomEvents() (msgs []outMsg, n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.items {
		if m.roomEvent {
			msgs = append(msgs, m)
			n += int64(len(m.data))
		}
	}
	q.budget.give(q.bytes - n) // what is dropped
	q.items, q.bytes = nil, 0
	return msgs, n
}

// moveRoomEvents moves q's room events to the end of to, with their bytes
// still reserved (a resumed connection takes over what the one it replaces
// had not written: within that one's bounds, so not counted against the
// new one's).
func (q *sendQueue) moveRoomEvents(to *sendQueue) {
	msgs, _ := q.takeRoomEvents()
	for _, m := range msgs {
		to.pushReserved(m)
	}
}

// roomEventData takes q's room events (takeRoomEvents) as their bytes,
// giving their budget back: for a session the connection leaves, or hands
// over.
func (q *sendQueue) roomEventData() [][]byte {
	msgs, n := q.takeRoomEvents()
	q.budget.give(n)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.data
	}
	return out
}

// clear drops everything queued.
func (q *sendQueue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.budget.give(q.bytes)
	q.items, q.bytes = nil, 0
}

// len returns the number of queued messages.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// byteBudget is the server-wide allowance of bytes queued for clients,
// connected or held for resume (queue_budget).
type byteBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reports false if that would pass the budget.
func (b *byteBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// force reserves n bytes even past the budget.
func (b *byteBudget) force(n int64) { b.used.Add(n) }

// give returns n bytes.
func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// inUse is the number of bytes reserved now.
func (b *byteBudget) inUse() int64 { return b.used.Load() }
