package turnserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
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

// TestUnauthenticatedDroppedOnTheLoop: past its burst, a source's Binding
// requests are dropped on the socket's loop, before pion's queue; what
// may carry verified credentials, and what is not a request, passes on
// to be inspected.
func TestUnauthenticatedDroppedOnTheLoop(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.UnauthenticatedRate = 1
		c.UnauthenticatedBurst = 2
	})
	src := netip.MustParseAddr("127.3.3.3")
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	for i := range 2 {
		if !srv.admitDatagram(binding, src) {
			t.Fatalf("Binding %d of the burst dropped", i+1)
		}
	}
	if srv.admitDatagram(binding, src) {
		t.Fatal("a Binding past the burst was queued for pion")
	}
	if srv.admitDatagram(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest)).Raw, src) {
		t.Fatal("an Allocate without credentials past the burst was queued for pion")
	}
	refresh := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
		stun.NewUsername("u"), stun.NewShortTermIntegrity("p")).Raw
	if !srv.admitDatagram(refresh, src) {
		t.Fatal("a Refresh with MESSAGE-INTEGRITY was dropped before its integrity was checked")
	}
	send := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication)).Raw
	if !srv.admitDatagram(send, src) || !srv.admitDatagram([]byte{0x40, 0, 0, 4, 1, 2, 3, 4}, src) {
		t.Fatal("an indication or ChannelData was dropped by the unauthenticated rate")
	}
	if got := srv.Stats().UnauthenticatedDropped; got != 2 {
		t.Fatalf("dropped counter %d, want 2", got)
	}
}
