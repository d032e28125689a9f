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
	methodAllocate         = 0x003
	methodRefresh          = 0x004
	methodCreatePermission = 0x008
	methodChannelBind      = 0x009
	attrMessageIntegrity   = 0x0008
	attrChannelNumber      = 0x000C
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
	_, hasIntegrity = stunAttr(b, attrMessageIntegrity)
	return true, method, hasIntegrity
}

// stunAttr returns the value of the first attribute of type typ in the
// STUN message b (RFC 8489 §14: type, length, value padded to 4 bytes).
func stunAttr(b []byte, typ uint16) ([]byte, bool) {
	end := min(len(b), stunHeaderSize+int(binary.BigEndian.Uint16(b[2:4])))
	for off := stunHeaderSize; off+4 <= end; {
		t := binary.BigEndian.Uint16(b[off : off+2])
		length := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		if t == typ {
			if off+4+length > end {
				return nil, false
			}
			return b[off+4 : off+4+length], true
		}
		off += 4 + (length+3)&^3
	}
	return nil, false
}

// channelNumber returns the CHANNEL-NUMBER of a ChannelBind request
// (RFC 8656 §18.1), or 0.
func channelNumber(b []byte) uint16 {
	v, ok := stunAttr(b, attrChannelNumber)
	if !ok || len(v) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(v)
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
	channels map[string]map[uint16]int
}

func newAllocationCaps() *allocationCaps {
	return &allocationCaps{perms: make(map[string]map[netip.Addr]int), channels: make(map[string]map[uint16]int)}
}

// admitPermission reports whether src may hold a permission for peer: it
// already does, or it holds fewer than max.
func (c *allocationCaps) admitPermission(src net.Addr, peer netip.Addr, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return admit(c.perms[src.String()], peer, max)
}

func (c *allocationCaps) permissionCreated(src net.Addr, peer netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	add(c.perms, src.String(), peer)
}

func (c *allocationCaps) permissionDeleted(src net.Addr, peer netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	remove(c.perms, src.String(), peer)
}

// admitChannel reports whether src may bind channel number: it is bound
// already (a refresh, RFC 8656 §11), or src holds fewer than max.
func (c *allocationCaps) admitChannel(src net.Addr, number uint16, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return admit(c.channels[src.String()], number, max)
}

func (c *allocationCaps) channelCreated(src net.Addr, number uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	add(c.channels, src.String(), number)
}

func (c *allocationCaps) channelDeleted(src net.Addr, number uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	remove(c.channels, src.String(), number)
}

// admit reports whether k is in set or set has room under max.
func admit[K comparable](set map[K]int, k K, max int) bool {
	if _, ok := set[k]; ok {
		return true
	}
	return len(set) < max
}

func add[K comparable](sets map[string]map[K]int, owner string, k K) {
	if sets[owner] == nil {
		sets[owner] = make(map[K]int)
	}
	sets[owner][k]++
}

func remove[K comparable](sets map[string]map[K]int, owner string, k K) {
	if set := sets[owner]; set != nil {
		decr(set, k)
		if len(set) == 0 {
			delete(sets, owner)
		}
	}
}
