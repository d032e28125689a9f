//go:build linux

package udpio

import (
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendq holds the datagrams a loop's handlers queued during one wake-up
// (Loop.Queue), sent by flush with one sendmmsg(2) per socket. Entry i is
// msgs[i], whose header points at iovs[i] and names[i]; socks[i] holds a
// reference taken by Queue, dropped by flush.
type sendq struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	socks []*Socket
	done  []Completion
	n     int

	// One socket's entries, gathered for its sendmmsg call.
	run []unix.Mmsghdr
	idx []int
}

func newSendq(n int) *sendq {
	q := &sendq{
		msgs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		socks: make([]*Socket, n),
		done:  make([]Completion, n),
		run:   make([]unix.Mmsghdr, n),
		idx:   make([]int, n),
	}
	for i := range n {
		q.msgs[i].Hdr.Iov = &q.iovs[i]
		q.msgs[i].Hdr.SetIovlen(1)
		q.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&q.names[i]))
	}
	return q
}

// Queue sends b to dst from socket s (of any loop) later in this
// wake-up of l, together with the other datagrams queued meanwhile: one
// sendmmsg system call per socket instead of one sendto per datagram.
// done, if not nil, learns the outcome as WriteTo would report it (a full
// send buffer is ErrWouldBlock), on l's goroutine.
//
// Queue may be called only by a Handler running on l, and b must stay
// untouched until l sends it: the buffer the handler was given (l does not
// read into it again before sending what was queued) or memory that
// outlives the wake-up.
func (l *Loop) Queue(s *Socket, b []byte, dst netip.AddrPort, done Completion) {
	q := l.q
	if q.n == len(q.msgs) {
		l.flush()
	}
	if !s.acquire() {
		complete(done, 0, ErrClosed)
		return
	}
	i := q.n
	salen, err := s.encode(&q.names[i], dst)
	if err != nil {
		s.release()
		complete(done, 0, err)
		return
	}
	q.msgs[i].Hdr.Namelen = uint32(salen)
	if len(b) > 0 {
		q.iovs[i].Base = &b[0]
	} else {
		q.iovs[i].Base = nil
	}
	q.iovs[i].SetLen(len(b))
	q.socks[i], q.done[i] = s, done
	q.n++
}

// flush sends everything queued, socket by socket, each socket's
// datagrams in the order they were queued.
func (l *Loop) flush() {
	q := l.q
	for i := range q.n {
		s := q.socks[i]
		if s == nil {
			continue // sent with an earlier entry's socket
		}
		k := 0
		for j := i; j < q.n; j++ {
			if q.socks[j] == s {
				q.run[k], q.idx[k] = q.msgs[j], j
				q.socks[j] = nil
				k++
			}
		}
		l.sendRun(s, k)
		for range k {
			s.release()
		}
	}
	clear(q.done[:q.n])
	q.n = 0
}

// sendRun sends q.run[:k] on s. A datagram the kernel refuses is
// reported to its Completion and the rest are sent on.
func (l *Loop) sendRun(s *Socket, k int) {
	q := l.q
	for sent := 0; sent < k; {
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&q.run[sent])),
			uintptr(k-sent), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e != 0 {
			var err error = ErrWouldBlock
			if e != unix.EAGAIN {
				err = os.NewSyscallError("sendmmsg", e)
			}
			complete(q.done[q.idx[sent]], 0, err)
			sent++
			continue
		}
		for m := sent; m < sent+int(r); m++ {
			complete(q.done[q.idx[m]], int(q.run[m].Len), nil)
		}
		sent += int(r)
	}
}
