//go:build !linux

package udpio

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Procs is GOMAXPROCS: what to size the number of loops by.
func Procs() int { return runtime.GOMAXPROCS(0) }

// Loop groups sockets; off Linux each socket is read by a goroutine of its
// own through Go's netpoller.
type Loop struct {
	log      *slog.Logger
	mu       sync.Mutex
	socks    map[*Socket]struct{}
	closing  bool
	stopping atomic.Bool // Close: readers return at their next error
	wg       sync.WaitGroup
}

// NewLoop creates a loop. A handler's panic is logged to log (nil
// discards) and costs only the datagram it was handling.
func NewLoop(log *slog.Logger) (*Loop, error) {
	return &Loop{log: orDiscard(log), socks: make(map[*Socket]struct{})}, nil
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

	gate   sync.Mutex
	resume *sync.Cond // on gate: paused changed, or the socket or loop closed
	paused bool
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
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &Socket{conn: conn, local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), h: h, loop: l}
	s.resume = sync.NewCond(&s.gate)
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
		s.gate.Lock()
		for s.paused && !s.closed.Load() && !l.stopping.Load() {
			s.resume.Wait()
		}
		s.gate.Unlock()
		n, src, err := s.conn.ReadFromUDPAddrPort(buf[Headroom:])
		if err != nil {
			if s.closed.Load() || l.stopping.Load() || errors.Is(err, net.ErrClosed) {
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

// Close stops reading the loop's sockets and waits for their goroutines.
// The sockets stay open for writes; their owners still close them.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closing = true
	l.stopping.Store(true)
	for s := range l.socks {
		_ = s.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader, which sees stopping
		s.wake()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return nil
}

// LocalAddr is the bound address, IPv4-mapped addresses unmapped as
// senders' are.
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
	s.wake()
	return s.conn.Close()
}

// SetReading stops (false) or resumes (true) reading s, so that a
// consumer that falls behind leaves datagrams in the kernel's receive
// buffer instead of having them dropped. Safe from any goroutine.
func (s *Socket) SetReading(on bool) {
	s.gate.Lock()
	s.paused = !on
	s.gate.Unlock()
	s.resume.Broadcast()
}

// wake lets a paused reader see that the socket or loop closed; under the
// gate, so it cannot fall between the reader's check and its Wait.
func (s *Socket) wake() {
	s.gate.Lock()
	s.resume.Broadcast()
	s.gate.Unlock()
}

// WriteTo sends b to dst.
func (s *Socket) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.conn.WriteToUDPAddrPort(b, dst)
}

// Queue sends b to dst from s at once and reports the outcome to done:
// the portable loops read one datagram at a time and have nothing to
// batch (see the Linux Loop.Queue for the contract).
func (l *Loop) Queue(s *Socket, b []byte, dst netip.AddrPort, done Completion) {
	n, err := s.WriteTo(b, dst)
	complete(done, n, err)
}
