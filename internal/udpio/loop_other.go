//go:build !linux

package udpio

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Loop groups sockets; off Linux each socket is read by a goroutine of its
// own through Go's netpoller.
type Loop struct {
	log     *slog.Logger
	mu      sync.Mutex
	socks   map[*Socket]struct{}
	closing bool
	wg      sync.WaitGroup
}

// NewLoop creates a loop. A handler's panic is logged to log and costs
// only the datagram it was handling.
func NewLoop(log *slog.Logger) (*Loop, error) {
	return &Loop{log: log, socks: make(map[*Socket]struct{})}, nil
}

// Socket is a bound UDP socket served by a Loop. WriteTo may be called
// from any goroutine; reads happen on the socket's goroutine and reach the
// Handler.
type Socket struct {
	conn   *net.UDPConn
	local  netip.AddrPort
	h      Handler
	loop   *Loop
	closed atomic.Bool
}

// Listen binds a UDP socket on loop l (network "udp", "udp4" or "udp6")
// and starts delivering its datagrams to h.
func (l *Loop) Listen(network string, addr netip.AddrPort, opt Options, h Handler) (*Socket, error) {
	if _, _, err := family(network, addr.Addr()); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{}
	if opt.ReusePort {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			return errors.New("udpio: SO_REUSEPORT is only supported on Linux")
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	if opt.ReadBuffer > 0 {
		_ = conn.SetReadBuffer(opt.ReadBuffer)
	}
	if opt.WriteBuffer > 0 {
		_ = conn.SetWriteBuffer(opt.WriteBuffer)
	}
	s := &Socket{conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), h: h, loop: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		_ = conn.Close()
		return nil, ErrClosed
	}
	l.socks[s] = struct{}{}
	l.wg.Add(1)
	go l.serve(s)
	return s, nil
}

func (l *Loop) serve(s *Socket) {
	defer l.wg.Done()
	buf := make([]byte, Headroom+maxDatagram)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf[Headroom:])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.deliver(s, buf, n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
}

func (l *Loop) deliver(s *Socket, buf []byte, n int, src netip.AddrPort) {
	defer l.contain(s)
	s.h.Datagram(s, buf, n, src)
}

// Len is the number of sockets the loop serves.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.socks)
}

// Close stops the loop's sockets and waits for their goroutines.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closing = true
	socks := make([]*Socket, 0, len(l.socks))
	for s := range l.socks {
		socks = append(socks, s)
	}
	l.mu.Unlock()
	for _, s := range socks {
		_ = s.Close()
	}
	l.wg.Wait()
	return nil
}

// LocalAddr is the bound address.
func (s *Socket) LocalAddr() netip.AddrPort { return s.local }

// Loop is the loop serving s.
func (s *Socket) Loop() *Loop { return s.loop }

// Close closes the socket.
func (s *Socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	s.loop.mu.Lock()
	delete(s.loop.socks, s)
	s.loop.mu.Unlock()
	return s.conn.Close()
}

// WriteTo sends b to dst.
func (s *Socket) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.conn.WriteToUDPAddrPort(b, dst)
}
