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
