package turnserver

import (
	"net/netip"
	"testing"
	"time"
)

// TestUnauthenticatedRateSharedSlot: addresses whose keys land on one slot
// share its bucket (that is the price of a table that cannot fill), and
// the slot an address lands on depends on the process's random seed.
func TestUnauthenticatedRateSharedSlot(t *testing.T) {
	t.Parallel()
	l := newIPLimiterSize(1)
	now := time.Now()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for range 3 {
		if !l.allow(a, 1, 3, now) {
			t.Fatal("burst refused")
		}
	}
	if l.allow(b, 1, 3, now) {
		t.Fatal("an address sharing a drained slot was answered")
	}

	l1, l2 := newIPLimiter(), newIPLimiter()
	same := 0
	for i := range 64 {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if slotIndex(l1, ip) == slotIndex(l2, ip) {
			same++
		}
	}
	if same > 4 {
		t.Fatalf("%d of 64 addresses on the same slot in two limiters: the hash is not keyed", same)
	}
}

func slotIndex(l *ipLimiter, ip netip.Addr) int {
	s := l.slot(ip)
	for i := range l.slots {
		if &l.slots[i] == s {
			return i
		}
	}
	return -1
}
