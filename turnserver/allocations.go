package turnserver

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// reservationTTL is how long a quota slot taken for an Allocate waits for
// the allocation to appear before it is given back (the allocation may fail
// after the quota check, e.g. with 508, and pion then fires no event).
const reservationTTL = 5 * time.Second

// allocations tracks live allocations from pion's events, to enforce quotas
// and to let an allocation outlive the credentials that created it.
type allocations struct {
	mu sync.Mutex // guards the fields below
	// live maps a five-tuple key to the owners of its allocations, oldest
	// first: pion forgets an expiring allocation before it reports the
	// deletion, so a new one on the same five-tuple may be created first.
	live  map[string][]owner
	total int // allocations in live
	// bySrcUser counts live allocations per client address and username;
	// it is what lets an expired username keep refreshing its allocation.
	bySrcUser map[string]int
	perUser   map[string]int
	perIP     map[netip.Addr]int
	perPrefix map[netip.Prefix]int // per IPv4 /24 and IPv6 /64
	// pending holds quota slots taken by Allocate requests whose allocation
	// is not live yet, keyed by client address and username.
	pending map[string]reservation
}

type owner struct {
	srcUser string
	user    string
	ip      netip.Addr
}

type reservation struct {
	user    string
	ip      netip.Addr
	expires time.Time
}

// clientPrefix is the network a client address is counted in besides
// itself: its IPv4 /24 or IPv6 /64.
func clientPrefix(ip netip.Addr) netip.Prefix {
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Shares of the relay port range one client address, and one /24 or /64,
// may hold at most, whatever the configured caps: on a small range a few
// addresses could otherwise take every port (and honest clients get 508).
const (
	ipShareOfPorts     = 16 // at most 1/16 of the relay ports per address
	prefixShareOfPorts = 4  // at most 1/4 per /24 or /64
)

// quotaCaps are the caps in force on ip and on its /24 or /64: the
// configured ones, bounded by the shares of the relay port range.
func quotaCaps(cfg *Config, ip netip.Addr) (perIP, perPrefix int) {
	ports := cfg.RelayPortMax - cfg.RelayPortMin + 1
	perPrefix = cfg.MaxAllocationsPer24
	if ip.Is6() {
		perPrefix = cfg.MaxAllocationsPer64
	}
	// Two at least: the self-test allocates twice from one address.
	return min(cfg.MaxAllocationsPerIP, max(ports/ipShareOfPorts, 2)),
		min(perPrefix, max(ports/prefixShareOfPorts, 2))
}

func newAllocations() *allocations {
	return &allocations{
		live:      make(map[string][]owner),
		bySrcUser: make(map[string]int),
		perUser:   make(map[string]int),
		perIP:     make(map[netip.Addr]int),
		perPrefix: make(map[netip.Prefix]int),
		pending:   make(map[string]reservation),
	}
}

func srcUserKey(src net.Addr, username string) string { return src.String() + "|" + username }

func tupleKey(src, dst net.Addr, protocol string) string {
	return protocol + "|" + src.String() + "|" + dst.String()
}

func addrIP(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// reserve takes a quota slot for an Allocate from src as user, or reports
// which limit refuses it. A retransmitted request holds one slot only.
func (a *allocations) reserve(src net.Addr, username, user string, cfg *Config, now time.Time) (ok bool, limit string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	key := srcUserKey(src, username)
	if _, dup := a.pending[key]; dup {
		return true, ""
	}
	ip := addrIP(src)
	pfx := clientPrefix(ip)
	users, ips, nets := a.perUser[user], a.perIP[ip], a.perPrefix[pfx]
	for _, r := range a.pending {
		if r.user == user {
			users++
		}
		if r.ip == ip {
			ips++
		}
		if clientPrefix(r.ip) == pfx {
			nets++
		}
	}
	perIP, perPrefix := quotaCaps(cfg, ip)
	switch {
	case a.total+len(a.pending) >= cfg.MaxAllocations:
		return false, "total"
	case users >= cfg.MaxAllocationsPerUser:
		return false, "user"
	case ips >= perIP:
		return false, "ip"
	case nets >= perPrefix:
		return false, "prefix"
	}
	a.pending[key] = reservation{user: user, ip: ip, expires: now.Add(reservationTTL)}
	return true, ""
}

func (a *allocations) expireLocked(now time.Time) {
	for k, r := range a.pending {
		if now.After(r.expires) {
			delete(a.pending, k)
		}
	}
}

// created records a live allocation and releases its reservation.
func (a *allocations) created(src, dst net.Addr, protocol, username string) {
	user := ""
	if u, err := ParseRESTUsername(username); err == nil {
		user = u.User
	}
	o := owner{srcUser: srcUserKey(src, username), user: user, ip: addrIP(src)}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pending, o.srcUser)
	k := tupleKey(src, dst, protocol)
	a.live[k] = append(a.live[k], o)
	a.total++
	a.bySrcUser[o.srcUser]++
	a.perUser[o.user]++
	a.perIP[o.ip]++
	a.perPrefix[clientPrefix(o.ip)]++
}

// deleted forgets a live allocation.
func (a *allocations) deleted(src, dst net.Addr, protocol string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := tupleKey(src, dst, protocol)
	owners := a.live[k]
	if len(owners) == 0 {
		return
	}
	o := owners[0]
	if len(owners) == 1 {
		delete(a.live, k)
	} else {
		a.live[k] = owners[1:]
	}
	a.total--
	decr(a.bySrcUser, o.srcUser)
	decr(a.perUser, o.user)
	decr(a.perIP, o.ip)
	decr(a.perPrefix, clientPrefix(o.ip))
}

// owns reports whether src holds a live allocation made with username.
func (a *allocations) owns(src net.Addr, username string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bySrcUser[srcUserKey(src, username)] > 0
}

// count returns the number of live allocations.
func (a *allocations) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

func decr[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}
