// Package connlimit bounds the connections that one client address, and
// all clients together, hold open at once. A listener wrapped by it closes
// a connection over either cap right after accepting it and goes on
// accepting: one address at its cap never stops another's connection, and
// the kernel's accept queue never fills because we stopped taking from it.
package connlimit

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Reasons a connection is refused.
var (
	// ErrPerAddress: the client's address (IPv4) or /64 (IPv6) holds
	// its cap already.
	ErrPerAddress = errors.New("per-address connection cap reached")
	// ErrTotal: all clients together hold the total cap.
	ErrTotal = errors.New("total connection cap reached")
)

// Key is what per-address caps count by: an IPv4 address, or the /64 of
// an IPv6 one (one subscriber's network, RFC 6177, which hands out as many
// addresses as its owner wants).
func Key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.Addr()
	}
	return ip
}

// AddrKey is Key of a TCP or UDP address; addresses without an IP (a
// Unix socket) all share the zero key.
func AddrKey(a net.Addr) netip.Addr {
	if ip := addrIP(a); ip.IsValid() {
		return Key(ip)
	}
	return netip.Addr{}
}

// addrIP is the IP of a TCP or UDP address, unmapped and without a zone;
// the zero Addr when a has none.
func addrIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	return ip.Unmap().WithZone("")
}

// Limiter counts open connections per client key and in total. It is safe
// for concurrent use; one Limiter may be shared by several listeners, so
// that its caps span them.
type Limiter struct {
	perKey, total int

	// exempt are the networks that count only toward total (reverse
	// proxies, whose connections carry many clients); set before use.
	exempt []netip.Prefix

	mu   sync.Mutex // guards open and n
	open map[netip.Addr]int
	n    int

	refusedPerAddress atomic.Uint64
	refusedTotal      atomic.Uint64
}

// New returns a Limiter allowing perKey connections per client key and
// total in all. Both must be positive.
func New(perKey, total int) *Limiter {
	if perKey <= 0 || total <= 0 {
		panic(fmt.Sprintf("connlimit.New(%d, %d): caps must be positive", perKey, total))
	}
	return &Limiter{perKey: perKey, total: total, open: make(map[netip.Addr]int)}
}

// ExemptPerAddress makes connections from these networks count only
// toward the total cap: a reverse proxy's connections carry many clients,
// whose own caps are kept where their addresses are known (the
// signaling server reads X-Forwarded-For). Call it before the Limiter is
// used.
func (l *Limiter) ExemptPerAddress(networks []netip.Prefix) {
	l.exempt = append([]netip.Prefix(nil), networks...)
}

func (l *Limiter) exempted(remote net.Addr) bool {
	if len(l.exempt) == 0 {
		return false
	}
	ip := addrIP(remote)
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Acquire takes a place for a connection from remote. The caller calls
// release exactly once when the connection ends; release is nil with an
// error (ErrPerAddress or ErrTotal) when there was no place.
func (l *Limiter) Acquire(remote net.Addr) (release func(), err error) {
	key := AddrKey(remote)
	perKey := l.perKey
	if l.exempted(remote) {
		perKey = l.total
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open[key] >= perKey:
		l.refusedPerAddress.Add(1)
		return nil, ErrPerAddress
	case l.n >= l.total:
		l.refusedTotal.Add(1)
		return nil, ErrTotal
	}
	l.open[key]++
	l.n++
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, nil
}

func (l *Limiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.open[key] <= 1 {
		delete(l.open, key)
	} else {
		l.open[key]--
	}
}

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	Open              int    // connections holding a place now
	Addresses         int    // client keys holding at least one
	RefusedPerAddress uint64 // refused since start: ErrPerAddress
	RefusedTotal      uint64 // refused since start: ErrTotal
}

// Stats returns the current counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Open: l.n, Addresses: len(l.open),
		RefusedPerAddress: l.refusedPerAddress.Load(), RefusedTotal: l.refusedTotal.Load(),
	}
}

// Listener wraps ln: Accept returns only connections that got a place,
// and closing one gives its place back. A connection over a cap is closed
// at once and Accept goes on to the next; refused, when not nil, is told
// about each (for a log line or a counter).
func (l *Limiter) Listener(ln net.Listener, refused func(remote net.Addr, err error)) net.Listener {
	return &listener{Listener: ln, lim: l, refused: refused}
}

type listener struct {
	net.Listener
	lim     *Limiter
	refused func(net.Addr, error)
}

// Accept returns the next connection under both caps. Errors of the
// wrapped listener are returned as they are (http.Server retries the
// temporary ones).
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.lim.Acquire(c.RemoteAddr())
		if err != nil {
			if l.refused != nil {
				l.refused(c.RemoteAddr(), err)
			}
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, release: release}, nil
	}
}

// conn gives its place back when closed, the first time. A hijacked HTTP
// connection (a WebSocket) is this conn too, so it keeps its place until
// the WebSocket ends.
type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite half-closes a TCP connection, which net/http does before it
// closes one it answered with an error (so the client reads the answer
// rather than a reset).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
