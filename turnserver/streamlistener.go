package turnserver

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// pion v4.1.4 (and v5) end a listener's accept loop on its first Accept
// error: one moment out of file descriptors (EMFILE) and TURN over TCP or
// TLS never answers again. pion only ever sees our listeners, so they
// retry every error but a closed listener with a backoff, log once per
// burst, and cap the connections one client address may hold.

// Accept retry backoff: from acceptBackoffMin doubling to acceptBackoffMax.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// inspectedListener wraps accepted TCP connections in inspectedConn and
// keeps them so that Close ends them all.
type inspectedListener struct {
	net.Listener
	in      inspector
	limit   *connLimiter // shared by every stream listener of the server
	closed  chan struct{}
	once    sync.Once
	started bool       // the server's gate was passed
	mu      sync.Mutex // guards conns
	conns   map[net.Conn]struct{}
}

func newInspectedListener(l net.Listener, in inspector, limit *connLimiter) *inspectedListener {
	return &inspectedListener{Listener: l, in: in, limit: limit, closed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
}

// Accept returns the next connection whose client address is under the
// per-IP cap. Errors other than a closed listener are retried.
func (l *inspectedListener) Accept() (net.Conn, error) {
	srv := l.in.srv
	if !l.started { // pion's accept loop alone calls Accept
		select {
		case <-srv.ready:
			l.started = true
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	failures := 0
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			srv.stats.AcceptErrors.Add(1)
			if failures == 0 {
				srv.log.Warn("accept failed; retrying with backoff", "addr", l.Addr().String(), "err", err)
			}
			failures++
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			select {
			case <-time.After(backoff):
			case <-l.closed:
				return nil, net.ErrClosed
			}
			continue
		}
		if failures > 0 {
			srv.log.Info("accepting again", "addr", l.Addr().String(), "failed_accepts", failures)
			failures, backoff = 0, 0
		}
		key := clientKey(addrIP(c.RemoteAddr()))
		cfg := &srv.state.Load().cfg
		if refused := l.limit.acquire(key, cfg.MaxStreamConnsPerIP, cfg.MaxStreamConns); refused != "" {
			if refused == refusedTotal {
				srv.stats.StreamConnsRefusedTotal.Add(1)
			} else {
				srv.stats.StreamConnsRefused.Add(1)
			}
			srv.log.Debug("stream connection refused", "reason", refused, "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		ic := &inspectedConn{Conn: c, in: l.in, speakBy: time.Now().Add(firstMessageTimeout)}
		tc := &trackedConn{inspectedConn: ic, l: l, key: key}
		l.mu.Lock()
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

// Close stops accepting and closes every connection still open.
func (l *inspectedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	err := l.Listener.Close()
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return err
}

// trackedConn is an accepted connection: closing it releases its place
// under the per-IP cap and in the listener's set.
type trackedConn struct {
	*inspectedConn
	l    *inspectedListener
	key  netip.Addr
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.limit.release(c.key)
	})
	return c.inspectedConn.Close()
}

// connLimiter counts open stream connections per client key and in all.
type connLimiter struct {
	mu    sync.Mutex // guards open and total
	open  map[netip.Addr]int
	total int
}

func newConnLimiter() *connLimiter { return &connLimiter{open: make(map[netip.Addr]int)} }

// Why acquire refused a place (the metric's reasons).
const (
	refusedPerIP = "per_ip_cap"
	refusedTotal = "total_cap"
)

// acquire takes a place for key unless the server holds total places
// already or key holds perKey, and otherwise says which cap refused it.
func (l *connLimiter) acquire(key netip.Addr, perKey, total int) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= total {
		return refusedTotal
	}
	if l.open[key] >= perKey {
		return refusedPerIP
	}
	l.open[key]++
	l.total++
	return ""
}

func (l *connLimiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[key]; ok {
		decr(l.open, key)
		l.total--
	}
}

// clientKey is what per-address limits count by: an IPv4 address, or the
// /64 of an IPv6 one (one subscriber's network, which hands out as many
// addresses as anyone wants).
func clientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
