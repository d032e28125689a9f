package turnserver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// TestUnauthenticatedRateCountsIPv6Per64: the addresses of one IPv6 /64,
// which its holder has without spoofing anything, share one bucket, as
// every other per-address limit counts them.
func TestUnauthenticatedRateCountsIPv6Per64(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.UnauthenticatedRate = 1
		c.UnauthenticatedBurst = 5
	})
	in, st := inspector{srv: srv}, srv.state.Load()
	from := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 4000} }
	for i := range 5 {
		if !in.unauthenticated(from("2001:db8:1:2::"+string(rune('a'+i))), st, true) {
			t.Fatalf("request %d of the /64's burst refused", i+1)
		}
	}
	if in.unauthenticated(from("2001:db8:1:2:ffff:1234:5678:9abc"), st, true) {
		t.Fatal("another address of the same /64 got a fresh bucket")
	}
	if !in.unauthenticated(from("2001:db8:1:3::a"), st, true) {
		t.Fatal("an address of another /64 was refused")
	}
}

// TestUnauthenticatedRateFailsShared: however many sources a flood uses,
// the table never fills and refuses newcomers; a source that used its
// burst is held to the rate.
func TestUnauthenticatedRateFailsShared(t *testing.T) {
	t.Parallel()
	l := newIPLimiter()
	const r, b = 10, 40
	now := time.Unix(1_700_000_000, 0)
	const sources = 70_000 // more than the 65536 entries the table used to hold
	for i := range sources {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if !l.allow(ip, r, b, now) {
			t.Fatalf("source %d of a spoofed flood (%s) refused its first request", i+1, ip)
		}
	}
	newcomer := netip.MustParseAddr("192.0.2.1")
	if !l.allow(newcomer, r, b, now.Add(time.Millisecond)) {
		t.Fatal("a newcomer after a flood from 70000 sources was refused")
	}
	// Once the flood's buckets are full again (b/r seconds), a source
	// that sends 1000 requests at once gets its burst answered, no more.
	now = now.Add(b / r * time.Second)
	flooder := netip.MustParseAddr("198.51.100.7")
	allowed := 0
	for range 1000 {
		if l.allow(flooder, r, b, now) {
			allowed++
		}
	}
	if allowed != b {
		t.Fatalf("a source sending 1000 requests at once had %d answered, want the burst of %d", allowed, b)
	}
	if !l.allow(flooder, r, b, now.Add(time.Second/r)) {
		t.Fatal("the flooder got no token back after one interval")
	}
	if l.allow(flooder, r, b, now.Add(time.Second/r)) {
		t.Fatal("the flooder got two tokens back after one interval")
	}
}

// BenchmarkUnauthenticatedRateNewSources: the cost of one request from a
// source never seen before, every listener loop at once.
func BenchmarkUnauthenticatedRateNewSources(b *testing.B) {
	l := newIPLimiter()
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var i uint32
		for pb.Next() {
			i++
			l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 10, 40, now)
		}
	})
}

// TestAllocatedClientAnsweredWhileItsAddressFloods: requests in an
// allocated client's name (its address, other ports: on the internet,
// spoofed) that empty the address's unauthenticated bucket do not starve
// the client itself of the 438 that renews its nonce: an answer to the
// five-tuple of a live allocation takes no token.
func TestAllocatedClientAnsweredWhileItsAddressFloods(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.UnauthenticatedRate = 0.2
		c.UnauthenticatedBurst = 5
	})
	to := srv.UDPAddrs()[0]
	u, p := validCreds(t, "victim")
	victim := udpSocket(t)
	nonce := challengeNonce(t, victim, to)
	if res := exchange(t, victim, to, authAllocate(nonce, u, p, "streamsync")); res == nil || res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("the victim's Allocate: code %d", errorCode(res))
	}
	// A nonce minted for another client: the victim's request with it is
	// answered 438, as one with its own nonce grown old would be.
	foreign := challengeNonce(t, udpSocket(t), to)

	flooder := udpSocket(t)
	before := srv.Stats().UnauthenticatedDropped
	for range 60 {
		if _, err := flooder.WriteTo(allocateRequest(), to); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().UnauthenticatedDropped-before < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood was not dropped: %d", srv.Stats().UnauthenticatedDropped-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The bucket is empty: a client without an allocation is not answered...
	if res := exchange(t, udpSocket(t), to, authAllocate(foreign, u, p, "streamsync")); res != nil {
		t.Fatalf("a client with no allocation was answered (code %d) with its address's bucket empty", errorCode(res))
	}
	// ...but the allocated client is.
	if code := errorCode(exchange(t, victim, to, authAllocate(foreign, u, p, "streamsync"))); code != int(stun.CodeStaleNonce) {
		t.Fatalf("the allocated client's request answered %d during the flood, want 438", code)
	}
}
