package signaling

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/time/rate"
)

// maxTrackedIPs bounds the join limiter table; idle entries are pruned
// before it is reached.
const maxTrackedIPs = 1 << 16

// ipLimits counts open connections and rate-limits joins per client IP.
type ipLimits struct {
	maxConns  int
	joinRate  rate.Limit
	joinBurst int

	mu sync.Mutex
	// guarded by mu:
	conns map[netip.Addr]int
	joins map[netip.Addr]*rate.Limiter
}

func newIPLimits(cfg Config) *ipLimits {
	return &ipLimits{
		maxConns:  cfg.MaxConnsPerIP,
		joinRate:  rate.Limit(cfg.JoinRate),
		joinBurst: cfg.JoinBurst,
		conns:     make(map[netip.Addr]int),
		joins:     make(map[netip.Addr]*rate.Limiter),
	}
}

// acquire counts a new connection from ip, or reports false when ip is at
// its cap. Every true result must be paired with release.
func (l *ipLimits) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] >= l.maxConns {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *ipLimits) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] <= 1 {
		delete(l.conns, ip)
		return
	}
	l.conns[ip]--
}

// allowJoin takes one join token for ip.
func (l *ipLimits) allowJoin(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.joins[ip]
	if !ok {
		if len(l.joins) >= maxTrackedIPs {
			l.pruneLocked()
			if len(l.joins) >= maxTrackedIPs {
				return false // under a flood of addresses, fail closed
			}
		}
		lim = rate.NewLimiter(l.joinRate, l.joinBurst)
		l.joins[ip] = lim
	}
	return lim.Allow()
}

// pruneLocked forgets limiters that have refilled: they hold no state.
func (l *ipLimits) pruneLocked() {
	for ip, lim := range l.joins {
		if lim.Tokens() >= float64(l.joinBurst) {
			delete(l.joins, ip)
		}
	}
}

// clientIP finds the client's address: the TCP peer, or, when the peer is
// a trusted proxy, the rightmost X-Forwarded-For entry that is not one.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !isTrusted(ip, trusted) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // garbage: do not believe anything further left
		}
		h = h.Unmap()
		if !isTrusted(h, trusted) {
			return h
		}
		ip = h
	}
	return ip
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// originChecker allows requests without Origin (non-browser clients), from
// the request's own host, or from a configured origin.
type originChecker struct {
	allowed map[string]bool // lower-case "scheme://host[:port]"
}

func newOriginChecker(allowed []string) *originChecker {
	oc := &originChecker{allowed: make(map[string]bool, len(allowed))}
	for _, o := range allowed {
		oc.allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return oc
}

func (oc *originChecker) check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if oc.allowed[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return equalHost(u, r.Host)
}

// equalHost compares the origin's host:port with the Host header, filling
// in the default port of the origin's scheme.
func equalHost(u *url.URL, host string) bool {
	withPort := func(h, scheme string) string {
		if _, _, err := net.SplitHostPort(h); err == nil {
			return strings.ToLower(h)
		}
		port := "80"
		if scheme == "https" {
			port = "443"
		}
		return strings.ToLower(net.JoinHostPort(strings.Trim(h, "[]"), port))
	}
	return withPort(u.Host, u.Scheme) == withPort(host, u.Scheme)
}
