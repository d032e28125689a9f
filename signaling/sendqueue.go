package signaling

import "sync"

// sendQueue is a connection's bounded FIFO of outgoing messages. Unlike a
// channel, which holds its whole bound from the start, it takes memory
// only for what it holds: most connections are idle most of the time, and
// 10 000 of them must fit in a small server.
type sendQueue struct {
	mu    sync.Mutex // guards items
	items []outMsg
	ready chan struct{} // holds a token while items is not empty
}

func newSendQueue() *sendQueue { return &sendQueue{ready: make(chan struct{}, 1)} }

// push appends m unless the queue holds limit messages already.
func (q *sendQueue) push(m outMsg, limit int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= limit {
		return false
	}
	q.items = append(q.items, m)
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
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
	if len(q.items) == 0 {
		q.items = nil // an idle connection keeps no buffer
	}
	return m, true
}

// len returns the number of queued messages.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
