package signaling

import (
	"net/http"
	"net/netip"
	"strings"
)

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
		h, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
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

// parseHop reads one X-Forwarded-For entry: an address, or an address
// with a port as some proxies write it (192.0.2.1:4711, [2001:db8::1]:4711,
// [2001:db8::1]).
func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr(), true
	}
	if inner, ok := strings.CutPrefix(h, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipKey is the unit every per-address limit counts by: an IPv4 address,
// or the /64 an IPv6 address belongs to. One subscriber usually gets a
// whole /64 (RFC 6177), so counting single IPv6 addresses would hand an
// attacker 2^64 of them.
func ipKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.Addr()
}

// requestScheme is "https" when the request came over TLS, or through a
// trusted proxy that says so in X-Forwarded-Proto; else "http".
func requestScheme(r *http.Request, trusted []netip.Prefix) string {
	if r.TLS != nil {
		return "https"
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil && isTrusted(ap.Addr().Unmap(), trusted) {
		// The nearest proxy's word counts: the last value it appended.
		vals := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
		switch strings.ToLower(strings.TrimSpace(vals[len(vals)-1])) {
		case "https", "wss":
			return "https"
		}
	}
	return "http"
}
