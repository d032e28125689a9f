//go:build linux

package udpio

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket is a bound UDP socket served by a Loop. WriteTo may be called
// from any goroutine; reads happen on the loop and reach the Handler.
//
// The raw descriptor is used outside Go's netpoller, so its lifetime is
// guarded here: every use holds a reference and the descriptor is closed
// when the last one is dropped, never while a read or write is in flight
// (a number closed early could be reused by the next socket opened).
type Socket struct {
	fd     int
	v6     bool // AF_INET6 (dual-stack unless bound as udp6)
	local  netip.AddrPort
	h      Handler
	loop   *Loop
	id     uint64
	refs   atomic.Int64 // the owner's 1 until Close, plus one per use in flight
	closed atomic.Bool
	noGSO  atomic.Bool // a UDP_SEGMENT send failed here: send singly
}

// Listen binds a UDP socket on loop l (network "udp", "udp4" or "udp6")
// and starts delivering its datagrams to h.
func (l *Loop) Listen(network string, addr netip.AddrPort, opt Options, h Handler) (*Socket, error) {
	v6, v6only, err := family(network, addr.Addr())
	if err != nil {
		return nil, err
	}
	fd, err := bindSocket(v6, v6only, addr, opt)
	if err != nil && v6 && !v6only && !addr.Addr().Is6() && errors.Is(err, unix.EAFNOSUPPORT) {
		v6 = false // no IPv6 on this host: the wildcard serves IPv4 only
		fd, err = bindSocket(false, false, addr, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	s := &Socket{fd: fd, v6: v6, h: h, loop: l}
	s.refs.Store(1)
	if s.local, err = localAddr(fd); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	if err := l.add(s); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return s, nil
}

func bindSocket(v6, v6only bool, addr netip.AddrPort, opt Options) (int, error) {
	domain := unix.AF_INET
	if v6 {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	set := func(level, name, v int, what string) error {
		if err := unix.SetsockoptInt(fd, level, name, v); err != nil {
			return os.NewSyscallError("setsockopt "+what, err)
		}
		return nil
	}
	var errs []error
	if v6 {
		errs = append(errs, set(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(v6only), "IPV6_V6ONLY"))
	}
	if opt.ReusePort {
		errs = append(errs, set(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT"))
	}
	if opt.ReadBuffer > 0 {
		errs = append(errs, set(unix.SOL_SOCKET, unix.SO_RCVBUF, opt.ReadBuffer, "SO_RCVBUF"))
	}
	if opt.WriteBuffer > 0 {
		errs = append(errs, set(unix.SOL_SOCKET, unix.SO_SNDBUF, opt.WriteBuffer, "SO_SNDBUF"))
	}
	if err := errors.Join(errs...); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	var sa unix.Sockaddr
	ip := addr.Addr().Unmap()
	if v6 {
		a := &unix.SockaddrInet6{Port: int(addr.Port())}
		if ip.Is4() && !ip.IsUnspecified() {
			a.Addr = netip.AddrFrom16(ip.As16()).As16() // ::ffff:a.b.c.d
		} else if ip.Is6() {
			a.Addr = ip.As16()
		}
		sa = a
	} else {
		a := &unix.SockaddrInet4{Port: int(addr.Port())}
		if ip.Is4() {
			a.Addr = ip.As4()
		}
		sa = a
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func localAddr(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("getsockname: unexpected %T", sa)
}

// LocalAddr is the bound address (an IPv6 wildcard for a dual-stack
// socket), IPv4-mapped addresses unmapped as senders' are.
func (s *Socket) LocalAddr() netip.AddrPort { return s.local }

// Loop is the loop serving s.
func (s *Socket) Loop() *Loop { return s.loop }

// acquire takes a reference for one use of the descriptor; false once the
// socket is closed.
func (s *Socket) acquire() bool {
	for {
		v := s.refs.Load()
		if v <= 0 || s.closed.Load() {
			return false
		}
		if s.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

func (s *Socket) release() {
	if s.refs.Add(-1) == 0 {
		_ = unix.Close(s.fd)
	}
}

// Close stops the socket's reads and closes it once no read or write is
// in flight. Datagrams already queued in the kernel are discarded.
func (s *Socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	s.loop.remove(s)
	s.release()
	return nil
}

// WriteTo sends b to dst without blocking. A full send buffer drops the
// datagram with ErrWouldBlock, as UDP may; an IPv4 destination is mapped
// for a dual-stack socket.
func (s *Socket) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	if !s.acquire() {
		return 0, ErrClosed
	}
	defer s.release()
	var sa unix.RawSockaddrInet6 // big enough for either family
	salen, err := s.encode(&sa, dst)
	if err != nil {
		return 0, err
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(p), uintptr(len(b)),
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&sa)), salen)
	if e != 0 {
		if e == unix.EAGAIN {
			return 0, ErrWouldBlock
		}
		return 0, os.NewSyscallError("sendto", e)
	}
	return int(n), nil
}

var errFamily = errors.New("udpio: IPv6 destination on an IPv4 socket")

// encode writes dst into sa in the socket's family and returns its length.
func (s *Socket) encode(sa *unix.RawSockaddrInet6, dst netip.AddrPort) (uintptr, error) {
	ip := dst.Addr()
	port := dst.Port()
	if s.v6 {
		sa.Family = unix.AF_INET6
		putPort(&sa.Port, port)
		sa.Addr = ip.As16() // an IPv4 address comes out as ::ffff:a.b.c.d
		return unix.SizeofSockaddrInet6, nil
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0, errFamily
	}
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	sa4.Family = unix.AF_INET
	putPort(&sa4.Port, port)
	sa4.Addr = ip.As4()
	return unix.SizeofSockaddrInet4, nil
}

// putPort stores port in network byte order.
func putPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(src *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(src))
	return uint16(b[0])<<8 | uint16(b[1])
}

// batch is a loop's recvmmsg(2) state: buffers with headroom, their
// iovecs, and room for the senders' addresses. Reads of one wake-up take
// consecutive slots, from next on, so that what the handlers queued from
// them (Loop.Queue) is still intact when the loop sends it.
type batch struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	next  int // first slot not holding a datagram of this wake-up
}

func newBatch(n int) *batch {
	b := &batch{
		msgs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		bufs:  make([][]byte, n),
	}
	for i := range n {
		b.bufs[i] = make([]byte, Headroom+maxDatagram)
		b.iovs[i].Base = &b.bufs[i][Headroom]
		b.iovs[i].SetLen(maxDatagram)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// recv reads up to hi-lo datagrams into slots lo..hi-1 in one system call
// without blocking; the caller holds a reference. Datagram i is
// b.bufs[i][Headroom:Headroom+b.msgs[i].Len] from b.sender(i).
func (s *Socket) recv(b *batch, lo, hi int) (int, syscall.Errno) {
	for i := lo; i < hi; i++ {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].Hdr.Flags = 0
		b.msgs[i].Len = 0
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&b.msgs[lo])),
		uintptr(hi-lo), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// sender decodes the address datagram i came from: IPv4-mapped senders
// as IPv4, zones dropped.
func (b *batch) sender(i int) netip.AddrPort {
	sa := &b.names[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), getPort(&sa4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), getPort(&sa.Port))
	}
	return netip.AddrPort{}
}
