package demux

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"
)

// sideListener is one side (HTTP or TURN) of the mux: a net.Listener fed
// with sorted, handshaken connections.
type sideListener struct {
	m      *Mux
	name   string
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newSideListener(m *Mux, name string, backlog int) *sideListener {
	return &sideListener{m: m, name: name, ch: make(chan net.Conn, backlog), closed: make(chan struct{})}
}

// Accept returns the next connection of this side, or net.ErrClosed once
// this listener or the mux is closed.
func (l *sideListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.m.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close makes Accept return net.ErrClosed and drops connections waiting
// for it and later ones. The shared port stays open for the other side.
func (l *sideListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	l.drain()
	return nil
}

// Addr is the shared port's address.
func (l *sideListener) Addr() net.Addr { return l.m.ln.Addr() }

// deliver queues c for Accept, or closes it when this side is closed or
// stays full for wait.
func (l *sideListener) deliver(c net.Conn, wait time.Duration, log *slog.Logger) {
	select {
	case <-l.closed:
		_ = c.Close()
		return
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.ch <- c:
		log.Debug("connection sorted", "side", l.name)
	case <-l.closed:
		_ = c.Close()
	case <-l.m.ctx.Done():
		_ = c.Close()
	case <-t.C:
		_ = c.Close()
		log.Warn("connection dropped: nobody accepting", "side", l.name)
	}
}

// drain closes the connections waiting for Accept.
func (l *sideListener) drain() {
	for {
		select {
		case c := <-l.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

// peekedConn is a TLS connection whose first plaintext bytes were read to
// sort it; Read returns them first. The embedded *tls.Conn provides
// ConnectionState, which net/http uses to set Request.TLS, and NetConn.
type peekedConn struct {
	*tls.Conn
	peeked []byte // not yet returned by Read; only Read touches it
}

// Read implements net.Conn, replaying the peeked bytes first.
func (c *peekedConn) Read(b []byte) (int, error) {
	if len(c.peeked) > 0 {
		n := copy(b, c.peeked)
		c.peeked = c.peeked[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
