package turnserver

import (
	"net/netip"
)

// Reasons a peer is refused, used in logs and counters.
const (
	ReasonDeniedRange = "denied_range"
	ReasonNotIP       = "not_ip"
)

// DefaultDeniedPeerRanges are never relayed to unless listed in
// allowed_peer_ranges: relaying there would make the server a proxy into
// its own host and networks (the Slack TURN report, coturn CVE-2020-26262).
// The list follows eturnal's "recommended" blocklist and RFC 6156 §9.1.
var DefaultDeniedPeerRanges = mustPrefixes(
	"0.0.0.0/8",       // "this network", incl. 0.0.0.0 (CVE-2020-26262)
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // carrier-grade NAT, RFC 6598
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, incl. cloud metadata 169.254.169.254
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::/96",           // IPv4-compatible (deprecated)
	"64:ff9b::/96",    // NAT64 well-known prefix
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001::/32",       // Teredo
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated)
	"ff00::/8",        // multicast
)

// PeerPolicy decides which peer addresses a TURN client may relay to,
// from the built-in and configured ranges. It is immutable; build a new
// one to change it. Addresses of this host are the host guard's (see
// hostGuard), which holds whatever the policy allows.
type PeerPolicy struct {
	allowed []netip.Prefix
	denied  []netip.Prefix
}

// NewPeerPolicy returns a policy that denies DefaultDeniedPeerRanges and
// denied, except addresses in allowed (allowed wins).
func NewPeerPolicy(allowed, denied []netip.Prefix) *PeerPolicy {
	p := &PeerPolicy{}
	for _, a := range allowed {
		p.allowed = append(p.allowed, a.Masked())
	}
	p.denied = append(p.denied, DefaultDeniedPeerRanges...)
	for _, d := range denied {
		p.denied = append(p.denied, d.Masked())
	}
	return p
}

// Check reports whether ip may be a peer, and if not, why.
func (p *PeerPolicy) Check(ip netip.Addr) (ok bool, reason string) {
	if !ip.IsValid() {
		return false, ReasonNotIP
	}
	ip = ip.WithZone("")
	canon := Canonical(ip)
	if containsAny(p.allowed, canon) {
		return true, ""
	}
	// Every spelling the address carries must pass: the address itself,
	// its canonical IPv4 form, and any IPv4 address embedded in it by a
	// transition mechanism (coturn CVE-2026-27624 and #1945 are this bug).
	for _, form := range []netip.Addr{ip, canon, embeddedIPv4(ip)} {
		if form.IsValid() && containsAny(p.denied, form) && !containsAny(p.allowed, form) {
			return false, ReasonDeniedRange
		}
	}
	return true, ""
}

// Canonical returns the one spelling an address is judged by: IPv4-mapped
// (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) IPv6 addresses become
// plain IPv4; :: and ::1 stay as they are.
func Canonical(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		if isZero(b[:12]) && !isZero(b[12:15]) || isZero(b[:12]) && b[15] > 1 {
			return netip.AddrFrom4([4]byte(b[12:16]))
		}
	}
	return ip
}

// embeddedIPv4 returns the IPv4 address a transition mechanism carries
// inside an IPv6 address (NAT64, 6to4, Teredo), or the zero Addr.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if !ip.Is6() || ip.Is4In6() {
		return netip.Addr{}
	}
	b := ip.As16()
	switch {
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b: // 64:ff9b::/96 and /48
		return netip.AddrFrom4([4]byte(b[12:16]))
	case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002:AABB:CCDD::/48
		return netip.AddrFrom4([4]byte(b[2:6]))
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0: // Teredo, client IPv4 inverted
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
	}
	return netip.Addr{}
}

func containsAny(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
