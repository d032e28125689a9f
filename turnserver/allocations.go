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

func newAllocations() *allocations {
	return &allocations{
		live:      make(map[string][]owner),
		bySrcUser: make(map[string]int),
		perUser:   make(map[string]int),
		perIP:     make(map[netip.Addr]int),
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
	users, ips := a.perUser[user], a.perIP[ip]
	for _, r := range a.pending {
		if r.user == user {
			users++
		}
		if r.ip == ip {
			ips++
		}
	}
	switch {
	case a.total+len(a.pending) >= cfg.MaxAllocations:
		return false, "total"
	case users >= cfg.MaxAllocationsPerUser:
		return false, "user"
	case ips >= cfg.MaxAllocationsPerIP:
		return false, "ip"
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
