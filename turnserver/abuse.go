package turnserver

import (
	"encoding/binary"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
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

// ipLimiter is the rate of unauthenticated UDP requests per client key
// (an IPv4 address or an IPv6 /64, see clientKey): a fixed table of token
// buckets indexed by a keyed hash of the key. It never fills, so it fails
// shared, not closed: addresses that land on one slot share its bucket,
// and however many sources a spoofed flood uses, a newcomer is never
// refused for want of an entry. The hash is seeded at random per process
// (hash/maphash), so an attacker who cannot read the seed cannot aim
// their sources at a victim's slot. Each bucket is one atomic word (GCRA:
// the time at which it is full again), so a request costs one hash and a
// compare-and-swap, with no lock, no scan and no allocation: the listener
// sockets' loops take tokens in parallel.
type ipLimiter struct {
	seed  maphash.Seed
	slots []atomic.Int64 // per slot, Unix nanoseconds at which its bucket is full; 0 = full
}

// unauthSlots is the table's size (8 bytes a slot, 2 MiB). A flood must
// send unauthenticated_rate packets a second to every slot, 2.6 million a
// second at the default rate, to leave every newcomer a drained bucket;
// below that a newcomer shares a busy bucket only with the odds of the
// slots the flood keeps drained.
const unauthSlots = 1 << 18

func newIPLimiter() *ipLimiter { return newIPLimiterSize(unauthSlots) }

// newIPLimiterSize returns a limiter of n slots, a power of two.
func newIPLimiterSize(n int) *ipLimiter {
	return &ipLimiter{seed: maphash.MakeSeed(), slots: make([]atomic.Int64, n)}
}

// slot returns the bucket of ip's client key.
func (l *ipLimiter) slot(ip netip.Addr) *atomic.Int64 {
	key := clientKey(ip).As16()
	return &l.slots[maphash.Comparable(l.seed, key)&uint64(len(l.slots)-1)]
}

// allow takes one token from the bucket of ip's client key (r per second,
// burst b).
func (l *ipLimiter) allow(ip netip.Addr, r float64, b int, now time.Time) bool {
	// The bucket holds b tokens, one back every interval: a request is
	// allowed while the time the bucket is full again lies at most b-1
	// intervals ahead.
	interval := max(int64(min(float64(time.Second)/r, maxBucketSpan)), 1)
	ahead := int64(min(float64(interval)*float64(b-1), maxBucketSpan))
	t := now.UnixNano()
	slot := l.slot(ip)
	for {
		full := slot.Load()
		from := max(full, t)
		if from-t > ahead {
			return false
		}
		if slot.CompareAndSwap(full, from+int64(interval)) {
			return true
		}
	}
}

// maxBucketSpan bounds, in nanoseconds (36 years), an interval and how far
// ahead a bucket's full time may lie, so that a tiny rate or a large burst
// cannot overflow.
const maxBucketSpan = float64(1 << 60)

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
