package turnserver

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/transport/v4/deadline"
)

// UDP sockets are read by the event loops of package udpio, not by pion.
// What the fast path does not relay itself (STUN requests and indications,
// ChannelData of unknown channels, datagrams from peers without a channel)
// is copied into a pionQueue, which pion's own read loop drains through
// the socket's ReadFrom. The queue is bounded: when pion falls behind, a
// datagram is dropped and counted, as a full kernel buffer would drop it.

// pionDatagram is one queued datagram; buf comes from datagramPool.
type pionDatagram struct {
	buf  *[pionMTU]byte
	n    int
	from *net.UDPAddr
}

// pionMTU is the largest datagram pion reads on any socket (its
// inboundMTU and rtpMTU): a larger one would be truncated, so pion drops
// it, and so does the queue.
const pionMTU = 1600

var datagramPool = sync.Pool{New: func() any { return new([pionMTU]byte) }}

type pionQueue struct {
	ch       chan pionDatagram
	done     chan struct{}
	once     sync.Once
	deadline *deadline.Deadline
	drops    *Stats
}

func newPionQueue(size int, stats *Stats) *pionQueue {
	return &pionQueue{ch: make(chan pionDatagram, size), done: make(chan struct{}), deadline: deadline.New(), drops: stats}
}

// push copies b for pion, without blocking; a full queue drops it.
func (q *pionQueue) push(b []byte, from *net.UDPAddr) {
	if len(b) >= pionMTU {
		return
	}
	buf := datagramPool.Get().(*[pionMTU]byte)
	n := copy(buf[:], b)
	select {
	case q.ch <- pionDatagram{buf: buf, n: n, from: from}:
	default:
		datagramPool.Put(buf)
		q.drops.QueueDrops.Add(1)
	}
}

// pop is ReadFrom for pion: the next queued datagram, an error once the
// socket is closed, a timeout past the read deadline.
func (q *pionQueue) pop(p []byte) (int, net.Addr, error) {
	select {
	case d := <-q.ch:
		n := copy(p, d.buf[:d.n])
		datagramPool.Put(d.buf)
		return n, d.from, nil
	case <-q.done:
		return 0, nil, net.ErrClosed
	case <-q.deadline.Done():
		return 0, nil, os.ErrDeadlineExceeded
	}
}

// close makes pop fail from now on; datagrams still queued are dropped.
func (q *pionQueue) close() {
	q.once.Do(func() { close(q.done) })
}

// SetReadDeadline bounds pop.
func (q *pionQueue) SetReadDeadline(t time.Time) error {
	q.deadline.Set(t)
	return nil
}
