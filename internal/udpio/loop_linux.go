//go:build linux

package udpio

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is an epoll instance and the goroutine that waits on it. The wait
// is a blocking system call, so the goroutine keeps its thread while idle
// and the Go scheduler is not involved when a datagram arrives.
type Loop struct {
	epfd int
	wake int // eventfd that interrupts the wait on Close
	log  *slog.Logger

	q *sendq // what the handlers queued this wake-up; loop goroutine only
	// gsoSends counts UDP_SEGMENT messages sent, each several datagrams.
	gsoSends atomic.Uint64

	mu      sync.Mutex // guards socks, nextID and shut; taken once per wake-up, not per datagram
	socks   map[uint64]*Socket
	nextID  uint64
	shut    bool // epfd is closed: its number may name another descriptor now
	closing atomic.Bool
	done    chan struct{}
}

// wakeID is the event data of the wake-up eventfd; socket ids start at 1.
const wakeID = 0

// readsPerTurn bounds the datagrams read from one socket per wake-up, so a
// busy socket cannot starve the others of its loop (the epoll is
// level-triggered: what is left is reported again).
const readsPerTurn = ReadsPerTurn

// batchSize is how many datagrams one recvmmsg(2) reads at most.
const batchSize = 8

// poolSize is how many datagrams one wake-up holds before the loop sends
// what their handlers queued and reuses the buffers: the outputs of
// several sockets' reads go out together, one sendmmsg per socket. Each
// slot has a buffer of the largest UDP payload, of which the kernel
// touches only what arrives.
const poolSize = 64

// yieldEvery is how often a busy loop passes through the scheduler.
const yieldEvery = 4 * time.Millisecond

// NewLoop creates a loop and starts its goroutine. A handler's panic is
// logged to log (nil discards) and costs only the datagram it was handling.
func NewLoop(log *slog.Logger) (*Loop, error) {
	log = orDiscard(log)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &Loop{epfd: epfd, wake: wake, log: log, q: newSendq(poolSize), socks: make(map[uint64]*Socket), nextID: wakeID + 1, done: make(chan struct{})}
	if err := l.ctl(unix.EPOLL_CTL_ADD, wake, wakeID, unix.EPOLLIN); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(epfd)
		return nil, err
	}
	holdProcs(1)
	go l.run()
	return l, nil
}

// ctl adds or modifies fd's registration for events, tagged with id.
func (l *Loop) ctl(op, fd int, id uint64, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func (l *Loop) add(s *Socket) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return ErrClosed
	}
	s.id = l.nextID
	l.nextID++
	l.socks[s.id] = s
	if err := l.ctl(unix.EPOLL_CTL_ADD, s.fd, s.id, unix.EPOLLIN); err != nil {
		delete(l.socks, s.id)
		return fmt.Errorf("register socket: %w", err)
	}
	return nil
}

// remove stops reads of s. The caller still holds s's owner reference, so
// the descriptor is open; an event already taken for s finds it gone.
func (l *Loop) remove(s *Socket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.socks[s.id] == s {
		delete(l.socks, s.id)
		if !l.shut {
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		}
	}
}

// SetReading stops (false) or resumes (true) reading s, so that a
// consumer that falls behind leaves datagrams in the kernel's receive
// buffer instead of having them dropped. Safe from any goroutine; a
// no-op once s is closed.
func (s *Socket) SetReading(on bool) {
	if !s.acquire() {
		return
	}
	defer s.release()
	l := s.loop
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.socks[s.id] != s || l.shut {
		return
	}
	var events uint32
	if on {
		events = unix.EPOLLIN
	}
	_ = l.ctl(unix.EPOLL_CTL_MOD, s.fd, s.id, events)
}

// Len is the number of sockets the loop serves.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.socks)
}

// Close stops the loop and waits for its goroutine. Its sockets stop being
// read; their owners still close them.
func (l *Loop) Close() error {
	if !l.closing.CompareAndSwap(false, true) {
		return ErrClosed
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(l.wake, one); err != nil {
		return os.NewSyscallError("eventfd write", err)
	}
	<-l.done
	holdProcs(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shut = true
	_ = unix.Close(l.wake)
	return unix.Close(l.epfd)
}

func (l *Loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 128)
	ready := make([]*Socket, 0, len(events))
	b := newBatch(poolSize)
	lastYield := time.Now()
	for {
		// A goroutine that never passes through the scheduler looks stuck
		// to sysmon, which after 10 ms takes its P away in the middle of
		// epoll_wait and then polls every 20 µs for a while: measured, a
		// sixth of the relay's CPU. A yield every yieldEvery (4 ms) costs
		// a scheduling round and keeps sysmon asleep (see also holdProcs).
		if time.Since(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = time.Now()
		}
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic(fmt.Sprintf("udpio: epoll_wait: %v", err)) // EBADF/EFAULT/EINVAL: a bug of ours
		}
		ready = ready[:0]
		l.mu.Lock()
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if s := l.socks[id]; s != nil && s.acquire() {
				ready = append(ready, s)
			}
		}
		l.mu.Unlock()
		for _, s := range ready {
			l.drain(s, b)
			s.release()
		}
		l.flush()
		b.next = 0
		clear(ready)
		if l.closing.Load() {
			return
		}
	}
}

// drain reads up to readsPerTurn datagrams of s, batchSize per system
// call, into the next free slots of b (sending what was queued first when
// too few are left). A short batch means the socket is drained: no
// further call just to be told EAGAIN (level-triggered epoll reports what
// arrives later).
func (l *Loop) drain(s *Socket, b *batch) {
	for read := 0; read < readsPerTurn; {
		if b.next+batchSize > len(b.msgs) {
			l.flush()
			b.next = 0
		}
		lo := b.next
		n, e := s.recv(b, lo, lo+batchSize)
		if e != 0 {
			// EAGAIN: drained. Anything else concerns a single datagram
			// (an ICMP error of an earlier send, for one); the next
			// wake-up reads on.
			return
		}
		b.next += n
		for i := lo; i < lo+n; i++ {
			if s.closed.Load() {
				return
			}
			l.deliver(s, b.bufs[i], int(b.msgs[i].Len), b.sender(i))
		}
		if n < batchSize {
			return
		}
		read += n
	}
}

func (l *Loop) deliver(s *Socket, buf []byte, n int, src netip.AddrPort) {
	defer l.contain(s)
	s.h.Datagram(s, buf, n, src)
}
