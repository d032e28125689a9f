package turnserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// STUN methods and attributes read straight from the wire (RFC 8489 §5,
// RFC 8656 §17); a full decode is not needed to classify a request.
const (
	methodAllocate       = 0x003
	methodChannelBind    = 0x009
	attrMessageIntegrity = 0x0008
)

// stunRequest classifies a STUN message: whether it is a request, its
// method, and whether it carries MESSAGE-INTEGRITY.
func stunRequest(b []byte) (isRequest bool, method uint16, hasIntegrity bool) {
	if len(b) < stunHeaderSize || b[0]&0xC0 != 0 || binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 {
		return false, 0, false
	}
	t := binary.BigEndian.Uint16(b[0:2])
	if t&0x0110 != 0 {
		return false, 0, false
	}
	method = t&0x000F | (t&0x00E0)>>1 | (t&0x3E00)>>2
	end := min(len(b), stunHeaderSize+int(binary.BigEndian.Uint16(b[2:4])))
	for off := stunHeaderSize; off+4 <= end; {
		typ := binary.BigEndian.Uint16(b[off : off+2])
		length := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		if typ == attrMessageIntegrity {
			return true, method, true
		}
		off += 4 + (length+3)&^3
	}
	return true, method, false
}

// ipLimiter is a token bucket per source IP, bounded in size.
type ipLimiter struct {
	mu      sync.Mutex // guards buckets
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxLimiterIPs bounds the limiter's memory under a spoofed-source flood.
const maxLimiterIPs = 1 << 16

func newIPLimiter() *ipLimiter { return &ipLimiter{buckets: make(map[netip.Addr]*bucket)} }

// allow takes one token from ip's bucket (r per second, burst b).
func (l *ipLimiter) allow(ip netip.Addr, r float64, b int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	bk, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= maxLimiterIPs {
			for k, v := range l.buckets {
				if now.Sub(v.seen) > time.Minute {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxLimiterIPs {
				return false // flooded from too many sources: refuse newcomers
			}
		}
		bk = &bucket{lim: rate.NewLimiter(rate.Limit(r), b)}
		l.buckets[ip] = bk
	}
	bk.seen = now
	return bk.lim.AllowN(now, 1)
}

// allocationCaps counts permissions and channels per client address (one
// client address holds one allocation per listener), from pion's events.
type allocationCaps struct {
	mu       sync.Mutex // guards the maps
	perms    map[string]map[netip.Addr]int
	channels map[string]int
}

func newAllocationCaps() *allocationCaps {
	return &allocationCaps{perms: make(map[string]map[netip.Addr]int), channels: make(map[string]int)}
}

// admitPermission reports whether src may hold a permission for peer: it
// already does, or it holds fewer than max.
func (c *allocationCaps) admitPermission(src net.Addr, peer netip.Addr, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.perms[src.String()]
	if _, ok := set[peer]; ok {
		return true
	}
	return len(set) < max
}

func (c *allocationCaps) permissionCreated(src net.Addr, peer netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := src.String()
	if c.perms[k] == nil {
		c.perms[k] = make(map[netip.Addr]int)
	}
	c.perms[k][peer]++
}

func (c *allocationCaps) permissionDeleted(src net.Addr, peer netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := src.String()
	if set := c.perms[k]; set != nil {
		decr(set, peer)
		if len(set) == 0 {
			delete(c.perms, k)
		}
	}
}

// admitChannel reports whether src holds fewer than max channels.
func (c *allocationCaps) admitChannel(src net.Addr, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channels[src.String()] < max
}

func (c *allocationCaps) channelCreated(src net.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.channels[src.String()]++
}

func (c *allocationCaps) channelDeleted(src net.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	decr(c.channels, src.String())
}
