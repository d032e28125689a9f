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

	// One socket's entries, gathered for its sendmmsg call: run[i] is
	// entry idx[i]; out are the messages sent, out[m] carrying run entries
	// span[m] (several, as one UDP_SEGMENT send, with their iovecs copied
	// side by side into giov and the segment size in ctrl).
	run  []unix.Mmsghdr
	idx  []int
	out  []unix.Mmsghdr
	span [][2]int
	giov []unix.Iovec
	ctrl []byte
}

// gsoMax is the most datagrams one UDP_SEGMENT send carries (the kernel
// takes up to 64 on every version that has it), and gsoBytes the most
// payload: it must fit one IP datagram.
const (
	gsoMax   = 64
	gsoBytes = 65000
)

// gsoCmsg is the room of one UDP_SEGMENT control message (a uint16).
var gsoCmsg = unix.CmsgSpace(2)

func newSendq(n int) *sendq {
	q := &sendq{
		msgs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		socks: make([]*Socket, n),
		done:  make([]Completion, n),
		run:   make([]unix.Mmsghdr, n),
		idx:   make([]int, n),
		out:   make([]unix.Mmsghdr, n),
		span:  make([][2]int, n),
		giov:  make([]unix.Iovec, n),
		ctrl:  make([]byte, n*gsoCmsg),
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

// sendRun sends q.run[:k] on s. Consecutive datagrams to one destination
// of one size (the last may be shorter) leave as one UDP_SEGMENT message
// (UDP GSO): the kernel builds one packet and cuts it into the datagrams,
// one trip down the stack instead of one per datagram. A socket on which
// that fails sends singly from then on.
func (l *Loop) sendRun(s *Socket, k int) {
	q := l.q
	m := 0
	for j := 0; j < k; m++ {
		e := j + 1
		if !s.noGSO.Load() {
			e = q.train(j, k)
		}
		q.span[m] = [2]int{j, e}
		if e-j == 1 {
			q.out[m] = q.run[j]
			j = e
			continue
		}
		h := &q.out[m]
		*h = q.run[j]
		for x := j; x < e; x++ {
			q.giov[x] = *q.run[x].Hdr.Iov
		}
		h.Hdr.Iov = &q.giov[j]
		h.Hdr.SetIovlen(e - j)
		c := q.ctrl[m*gsoCmsg : (m+1)*gsoCmsg]
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
		cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		cm.SetLen(unix.CmsgLen(2))
		*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(q.run[j].Hdr.Iov.Len)
		h.Hdr.Control = &c[0]
		h.Hdr.SetControllen(gsoCmsg)
		l.gsoSends.Add(1)
		j = e
	}
	for sent := 0; sent < m; {
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&q.out[sent])),
			uintptr(m-sent), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e != 0 {
			sp := q.span[sent]
			sent++
			if sp[1]-sp[0] > 1 && e != unix.EAGAIN {
				// EIO without checksum offload, EINVAL for a segment over
				// the route's MTU, ...: send these singly, and all later.
				s.noGSO.Store(true)
				for x := sp[0]; x < sp[1]; x++ {
					l.sendOne(s, x)
				}
				continue
			}
			var err error = ErrWouldBlock
			if e != unix.EAGAIN {
				err = os.NewSyscallError("sendmmsg", e)
			}
			for x := sp[0]; x < sp[1]; x++ {
				complete(q.done[q.idx[x]], 0, err)
			}
			continue
		}
		for i := sent; i < sent+int(r); i++ {
			for x := q.span[i][0]; x < q.span[i][1]; x++ {
				complete(q.done[q.idx[x]], int(q.run[x].Hdr.Iov.Len), nil)
			}
		}
		sent += int(r)
	}
}

// sendOne sends run entry x by itself.
func (l *Loop) sendOne(s *Socket, x int) {
	q := l.q
	_, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&q.run[x])), 1,
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	switch {
	case e == 0:
		complete(q.done[q.idx[x]], int(q.run[x].Hdr.Iov.Len), nil)
	case e == unix.EAGAIN:
		complete(q.done[q.idx[x]], 0, ErrWouldBlock)
	default:
		complete(q.done[q.idx[x]], 0, os.NewSyscallError("sendmmsg", e))
	}
}

// train returns the end of the GSO train of run entries starting at j:
// the same destination, the size of the first (a shorter one ends the
// train), within gsoMax datagrams and gsoBytes.
func (q *sendq) train(j, k int) int {
	size := q.run[j].Hdr.Iov.Len
	if size == 0 {
		return j + 1
	}
	total := size
	e := j + 1
	for e < k && e-j < gsoMax {
		n := q.run[e].Hdr.Iov.Len
		if n == 0 || n > size || total+n > gsoBytes || !q.sameDst(j, e) {
			break
		}
		total += n
		e++
		if n < size {
			break
		}
	}
	return e
}

// sameDst reports whether run entries a and b go to the same address.
// Only the fields encode writes are compared (a slot's other bytes may be
// left from an earlier datagram).
func (q *sendq) sameDst(a, b int) bool {
	ha, hb := &q.run[a].Hdr, &q.run[b].Hdr
	if ha.Namelen != hb.Namelen {
		return false
	}
	na, nb := &q.names[q.idx[a]], &q.names[q.idx[b]]
	if ha.Namelen == unix.SizeofSockaddrInet4 {
		a4, b4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(na)), (*unix.RawSockaddrInet4)(unsafe.Pointer(nb))
		return a4.Port == b4.Port && a4.Addr == b4.Addr
	}
	return na.Port == nb.Port && na.Addr == nb.Addr
}
