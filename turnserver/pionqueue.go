package turnserver

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v4/deadline"
	"github.com/streamsync/streamsync/internal/udpio"
)

// UDP sockets are read by the event loops of package udpio, not by pion.
// What the fast path does not relay itself (STUN requests and indications,
// ChannelData of unknown channels, datagrams from peers without a channel)
// is copied into a pionQueue, which pion's own read loop drains through
// the socket's ReadFrom. The queue is bounded. A relay socket's queue
// applies back-pressure: past a high-water mark the socket is no longer
// read until pion has taken the queue down, so a burst waits in the
// kernel's receive buffer (udp_receive_buffer) as it did when pion read
// the socket itself — TURN over TCP and TLS relays every datagram this
// way, and a TCP write may stall. A listener socket's queue drops instead
// (counted): ChannelData on the same socket must not wait behind STUN.

// pionDatagram is one queued datagram; buf comes from datagramPool.
type pionDatagram struct {
	buf  *[pionMTU]byte
	n    int
	from *net.UDPAddr
}

// pionMTU is the largest datagram pion reads on any socket (its
// inboundMTU and rtpMTU): a larger one would be truncated, so the queue
// drops it (pion itself drops one of exactly pionMTU on a listener).
const pionMTU = 1600

var datagramPool = sync.Pool{New: func() any { return new([pionMTU]byte) }}

type pionQueue struct {
	ch       chan pionDatagram
	done     chan struct{}
	once     sync.Once
	deadline *deadline.Deadline
	drops    *counters

	// Back-pressure, when high > 0: reading stops at high queued
	// datagrams and resumes at low.
	high, low int
	mu        sync.Mutex    // guards paused; taken only at the marks
	paused    *udpio.Socket // the socket whose reading is stopped, or nil
	isPaused  atomic.Bool   // paused != nil, for pop's fast path
}

// newPionQueue returns a queue that drops when full.
func newPionQueue(size int, stats *counters) *pionQueue {
	return &pionQueue{ch: make(chan pionDatagram, size), done: make(chan struct{}), deadline: deadline.New(), drops: stats}
}

// newFlowQueue returns a queue that stops reading its socket when nearly
// full: the datagrams of the turn in progress still fit.
func newFlowQueue(size int, stats *counters) *pionQueue {
	q := newPionQueue(size, stats)
	q.high = max(size-udpio.ReadsPerTurn, 1)
	q.low = q.high / 3
	return q
}

// push copies b, read from s, for pion without blocking; a full queue
// drops it.
func (q *pionQueue) push(b []byte, from *net.UDPAddr, s *udpio.Socket) {
	if len(b) > pionMTU {
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
	if q.high > 0 && len(q.ch) >= q.high {
		q.mu.Lock()
		if q.paused == nil && len(q.ch) >= q.high { // pop may have drained it meanwhile
			q.paused = s
			q.isPaused.Store(true)
			s.SetReading(false)
		}
		q.mu.Unlock()
	}
}

// resume reads the stopped socket again once pion is down to low.
func (q *pionQueue) resume() {
	if !q.isPaused.Load() || len(q.ch) > q.low {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.paused != nil && len(q.ch) <= q.low {
		q.paused.SetReading(true)
		q.paused = nil
		q.isPaused.Store(false)
	}
}

// pop is ReadFrom for pion: the next queued datagram, an error once the
// socket is closed, a timeout past the read deadline.
func (q *pionQueue) pop(p []byte) (int, net.Addr, error) {
	select {
	case d := <-q.ch:
		n := copy(p, d.buf[:d.n])
		datagramPool.Put(d.buf)
		q.resume()
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

// The deadline methods of net.PacketConn, for the sockets that embed a
// queue: reads are pops, and writes never block, so they have no deadline.

// SetDeadline sets the read deadline.
func (q *pionQueue) SetDeadline(t time.Time) error { return q.SetReadDeadline(t) }

// SetReadDeadline bounds pop.
func (q *pionQueue) SetReadDeadline(t time.Time) error {
	q.deadline.Set(t)
	return nil
}

// SetWriteDeadline is accepted and has nothing to bound.
func (q *pionQueue) SetWriteDeadline(time.Time) error { return nil }
