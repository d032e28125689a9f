package signaling

import (
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// maxTrackedIPs bounds the join limiter table; idle entries are pruned
// before it is reached.
const maxTrackedIPs = 1 << 16

// joinLimits rate-limits joins per client address (ipKey).
type joinLimits struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex
	// guarded by mu:
	joins map[netip.Addr]*rate.Limiter
}

func newJoinLimits(cfg Config) *joinLimits {
	return &joinLimits{
		rate:  rate.Limit(cfg.JoinRate),
		burst: cfg.JoinBurst,
		joins: make(map[netip.Addr]*rate.Limiter),
	}
}

// allow takes one join token for key.
func (l *joinLimits) allow(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.joins[key]
	if !ok {
		if len(l.joins) >= maxTrackedIPs {
			l.pruneLocked()
			if len(l.joins) >= maxTrackedIPs {
				return false // under a flood of addresses, fail closed
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.joins[key] = lim
	}
	return lim.Allow()
}

// pruneLocked forgets limiters that have refilled: they hold no state.
func (l *joinLimits) pruneLocked() {
	for key, lim := range l.joins {
		if lim.Tokens() >= float64(l.burst) {
			delete(l.joins, key)
		}
	}
}

// roomsPerIP counts the rooms each client address (ipKey) takes part in:
// rooms where it has a peer, connected or held for resume. An address at
// max_rooms_per_ip may neither create nor join another room, so holding
// rooms takes as many addresses as rooms held divided by the cap, each
// keeping a live connection in every room.
type roomsPerIP struct {
	max int

	mu sync.Mutex
	// guarded by mu: peers of each address, by room
	rooms map[netip.Addr]map[string]int
}

func newRoomsPerIP(max int) *roomsPerIP {
	return &roomsPerIP{max: max, rooms: make(map[netip.Addr]map[string]int)}
}

// reserve counts one more peer of key in room, unless that would put key
// in more than max rooms. Every true result is paired with release.
func (l *roomsPerIP) reserve(key netip.Addr, room string) bool { return l.incr(key, room, false) }

// add counts one more peer of key in room even past max: a place that
// existed before (taken over from another node) is not refused.
func (l *roomsPerIP) add(key netip.Addr, room string) { l.incr(key, room, true) }

func (l *roomsPerIP) incr(key netip.Addr, room string, force bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.rooms[key]
	if !force && rs[room] == 0 && len(rs) >= l.max {
		return false
	}
	if rs == nil {
		rs = make(map[string]int)
		l.rooms[key] = rs
	}
	rs[room]++
	return true
}

// release forgets one peer of key in room.
func (l *roomsPerIP) release(key netip.Addr, room string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.rooms[key]
	if rs[room] <= 1 {
		delete(rs, room)
		if len(rs) == 0 {
			delete(l.rooms, key)
		}
		return
	}
	rs[room]--
}

// count returns the number of rooms key is in.
func (l *roomsPerIP) count(key netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rooms[key])
}
