// Package demux shares one TLS port between HTTPS and TURN over TLS, for
// networks that let nothing but TCP 443 through. It terminates TLS once,
// then sends each connection to one of two listeners: HTTP when ALPN says
// h2 or http/1.1, TURN when ALPN says stun.turn (RFC 7443), and otherwise
// by the first bytes of the plaintext — a STUN message (RFC 8489 §5: the
// two top bits zero, magic cookie 0x2112A442 at bytes 4-7) goes to TURN,
// anything else to HTTP. The peeked bytes are replayed to the consumer.
package demux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/streamsync/streamsync/internal/connlimit"
)

// ALPN protocol IDs that decide the side without peeking.
const (
	alpnH2     = "h2"
	alpnHTTP11 = "http/1.1"
	alpnTURN   = "stun.turn"          // RFC 7443 §6
	alpnSTUN   = "stun.nat-discovery" // RFC 7443 §6
	alpnACME   = "acme-tls/1"         // RFC 8737 §6.2: answered by the handshake
)

// Config bounds the work done for a connection before it is handed on.
// Zero fields take the defaults.
type Config struct {
	// HelloTimeout bounds the wait, from accept, for the first TLS record
	// (the ClientHello); a client that connects and stays silent gives its
	// place up this soon. Default 3s.
	HelloTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake, from accept. Default 10s.
	HandshakeTimeout time.Duration
	// PeekTimeout bounds the wait for the first bytes after a handshake
	// without a deciding ALPN; a silent client is then dropped. Default 10s.
	PeekTimeout time.Duration
	// MaxPending caps connections in handshake or peek at once, from all
	// addresses; past it a new connection is closed at once (the mux
	// never stops accepting). Default 1024.
	MaxPending int
	// MaxPendingPerAddress caps the connections in handshake or peek of
	// one client address (IPv4) or /64 (IPv6); past it a new connection of
	// that address is closed at once, so one address cannot take every
	// pending place. Default 16.
	MaxPendingPerAddress int
	// Backlog is how many sorted connections wait per side for Accept;
	// a connection that finds its side full for HandshakeTimeout is
	// dropped. Default 128.
	Backlog int
	// AdmitHTTP, when set, is asked for a place for each connection sorted
	// to the HTTP side (a per-address and total cap on open HTTPS
	// connections); the connection is closed when it gives none, and
	// release is called once when the connection is closed.
	AdmitHTTP func(remote net.Addr) (release func(), err error)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		HelloTimeout: 3 * time.Second, HandshakeTimeout: 10 * time.Second, PeekTimeout: 10 * time.Second,
		MaxPending: 1024, MaxPendingPerAddress: 16, Backlog: 128,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = d.HelloTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	c.HelloTimeout = min(c.HelloTimeout, c.HandshakeTimeout)
	if c.PeekTimeout <= 0 {
		c.PeekTimeout = d.PeekTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = d.MaxPending
	}
	if c.MaxPendingPerAddress <= 0 {
		c.MaxPendingPerAddress = d.MaxPendingPerAddress
	}
	c.MaxPendingPerAddress = min(c.MaxPendingPerAddress, c.MaxPending)
	if c.Backlog <= 0 {
		c.Backlog = d.Backlog
	}
	return c
}

// Mux accepts TLS connections on one listener and sorts them onto HTTP()
// and TURN().
type Mux struct {
	ln   net.Listener
	tls  *tls.Config
	cfg  Config
	log  *slog.Logger
	http *sideListener
	turn *sideListener

	pendingCap *connlimit.Limiter // places of connections in handshake or peek
	lastWarn   atomic.Int64       // unix nanoseconds of the last refusal warning
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup // connection goroutines

	mu      sync.Mutex            // guards pending and closed
	pending map[*rawConn]struct{} // raw connections being sorted
	closed  bool
}

// New sorts the connections of ln (plain TCP, bound by the caller) after a
// TLS handshake with tlsConfig. Run Serve to start; Close stops it. The
// tls.Config should offer ALPN h2, http/1.1 and stun.turn. A nil logger
// discards.
func New(ln net.Listener, tlsConfig *tls.Config, cfg Config, logger *slog.Logger) *Mux {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		ln: ln, tls: tlsConfig, cfg: cfg, log: logger,
		pendingCap: connlimit.New(cfg.MaxPendingPerAddress, cfg.MaxPending),
		ctx:        ctx, cancel: cancel,
		pending: make(map[*rawConn]struct{}),
	}
	m.http = newSideListener(m, "http", cfg.Backlog)
	m.turn = newSideListener(m, "turn", cfg.Backlog)
	return m
}

// HTTP is the listener of HTTPS connections, for http.Server.Serve. It
// yields the *tls.Conn itself when ALPN decided (so HTTP/2 works), or a
// net.Conn with a ConnectionState method (so Request.TLS is set).
// Closing it drops later HTTP connections; the port stays open for TURN.
func (m *Mux) HTTP() net.Listener { return m.http }

// TURN is the listener of TURN-over-TLS connections, for pion's
// turn.ListenerConfig. Closing it drops later TURN connections.
func (m *Mux) TURN() net.Listener { return m.turn }

// Addr is the address of the shared port.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Serve accepts connections until Close, then returns nil; it returns an
// error if the listener fails otherwise. Transient accept errors (out of
// file descriptors) are retried with a backoff. It never stops accepting
// because connections are pending: one over MaxPendingPerAddress or
// MaxPending is closed at once, so a flood of silent connections from one
// address leaves the port to everyone else.
func (m *Mux) Serve() error {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil {
				return nil
			}
			if !transient(err) {
				return fmt.Errorf("accept %s: %w", m.ln.Addr(), err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed; retrying", "addr", m.ln.Addr().String(), "err", err, "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-m.ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		release, err := m.pendingCap.Acquire(c.RemoteAddr())
		if err != nil {
			_ = c.Close()
			m.refused(c.RemoteAddr(), err)
			continue
		}
		rc := &rawConn{Conn: c}
		if !m.track(rc) {
			release()
			_ = c.Close()
			return nil
		}
		m.wg.Add(1)
		go m.sort(rc, release)
	}
}

// refusalWarnEvery spaces the warnings about connections refused for the
// pending caps; each is logged at debug.
const refusalWarnEvery = 10 * time.Second

func (m *Mux) refused(remote net.Addr, err error) {
	m.log.Debug("connection refused before handshake", "remote", remote.String(), "err", err)
	now, last := time.Now().UnixNano(), m.lastWarn.Load()
	if now-last < int64(refusalWarnEvery) || !m.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s := m.pendingCap.Stats()
	m.log.Warn("connections refused before handshake", "err", err, "pending", s.Open,
		"refused_per_address", s.RefusedPerAddress, "refused_total", s.RefusedTotal)
}

// PendingStats are the counts of connections in handshake or peek, and of
// those refused for the pending caps.
func (m *Mux) PendingStats() connlimit.Stats { return m.pendingCap.Stats() }

// transient reports accept errors worth retrying.
func transient(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// track records c as pending, unless the mux is closed.
func (m *Mux) track(c *rawConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.pending[c] = struct{}{}
	return true
}

func (m *Mux) untrack(c *rawConn) {
	m.mu.Lock()
	delete(m.pending, c)
	m.mu.Unlock()
}

// Close stops accepting, closes the shared listener, the connections being
// sorted and those not yet accepted, and ends both side listeners. It
// waits for the mux's goroutines. Connections already accepted by a
// consumer are the consumer's to close.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.cancel()
	err := m.ln.Close()
	for c := range m.pending {
		_ = c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.http.drain()
	m.turn.drain()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
