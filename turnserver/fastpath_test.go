package turnserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/udpio"
)

// fastRoutes returns the number of allocations and channels the fast path
// knows.
func fastRoutes(s *Server) (allocs, channels int) {
	s.fast.mu.Lock()
	defer s.fast.mu.Unlock()
	for _, rc := range s.fast.allocs {
		if t := rc.table.Load(); t != nil {
			channels += len(t.byNumber)
		}
	}
	return len(s.fast.allocs), channels
}

// TestChannelFastPath relays over a bound channel through the sockets'
// fast path and checks that it keeps the peer policy across reloads and
// forgets the routes with the allocation.
func TestChannelFastPath(t *testing.T) {
	t.Parallel()
	allow := func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") }
	srv := startServer(t, allow)
	peer := echoPeer(t, "127.1.2.4:0")
	u, p := validCreds(t, "carol")
	c, _ := dialClient(t, srv, "udp", u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	// pion's client binds a channel on its first writes to a peer.
	waitFor(t, func() bool {
		if err := roundTrip(t, relay, peer, []byte("bind")); err != nil {
			t.Fatalf("round trip before the channel: %v", err)
		}
		_, ch := fastRoutes(srv)
		return ch == 1
	})
	time.Sleep(50 * time.Millisecond) // let the last write's counter move
	out := srv.Stats().PeerPacketsOut
	fast := srv.Stats().FastPathForwarded
	for i := range 20 {
		if err := roundTrip(t, relay, peer, []byte{byte(i), 0, 0xff}); err != nil {
			t.Fatalf("round trip %d over the channel: %v", i, err)
		}
	}
	// The counter moves just after the write, so the echo may come first.
	waitFor(t, func() bool { return srv.Stats().PeerPacketsOut-out >= 20 })
	if got := srv.Stats().FastPathForwarded - fast; got < 20 {
		t.Fatalf("the fast path forwarded %d of 20 datagrams on a bound channel; pion carried the rest", got)
	}

	// A reload that denies loopback peers stops the channel at once.
	cfg := testConfig()
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	drops := srv.Stats().RelayDropsPolicy
	if _, err := relay.WriteTo([]byte("denied"), peer); err != nil {
		t.Fatal(err)
	}
	if err := expectSilence(relay, 300*time.Millisecond); err != nil {
		t.Fatalf("relayed to a peer the reloaded policy denies: %v", err)
	}
	if got := srv.Stats().RelayDropsPolicy; got != drops+1 {
		t.Fatalf("policy drops %d, want %d", got, drops+1)
	}
	allow(&cfg)
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, relay, peer, []byte("allowed again")); err != nil {
		t.Fatalf("round trip after the policy allows it again: %v", err)
	}

	if err := relay.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { a, _ := fastRoutes(srv); return a == 0 })
}

// TestFastPathLateDeletion: pion reports an allocation's deletion after
// closing it, when its five-tuple may already hold a new allocation; the
// new one's routes must survive the old one's events.
func TestFastPathLateDeletion(t *testing.T) {
	t.Parallel()
	f := newFastPath()
	listener := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	lap, _ := udpAddrPort(listener)
	f.listeners[lap] = &udpio.Socket{}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5000}
	peer := &net.UDPAddr{IP: net.IPv4(127, 1, 0, 1), Port: 6000}
	oldRC, newRC := &relayConn{port: 20001}, &relayConn{port: 20002}
	oldRelay := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20001}
	newRelay := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20002}
	f.addRelay(20001, oldRC)
	f.allocationCreated(client, listener, oldRelay)
	f.channel(oldRelay, peer, 0x4000, true)

	// pion: delete from its map, create the new allocation, then close
	// the old one (channel events) and report the deletion.
	f.addRelay(20002, newRC)
	f.allocationCreated(client, listener, newRelay)
	f.channel(newRelay, peer, 0x4000, true)
	f.channel(oldRelay, peer, 0x4000, false)
	oldRC.closed.Store(true)
	oldRC.table.Store(nil)
	f.removeRelay(20001, oldRC)
	f.allocationDeleted(client, listener)

	cip, _ := udpAddrPort(client)
	if got := f.lookup(cip, lap); got != newRC {
		t.Fatalf("five-tuple routes to %p, want the new allocation %p", got, newRC)
	}
	if tbl := newRC.table.Load(); tbl == nil || tbl.byNumber[0x4000] == nil {
		t.Fatal("the new allocation lost its channel to the old one's deletion")
	}
}

// TestFastPathAllocatesNothing relays datagrams over a bound channel in
// both directions, between sockets the test owns, and counts the heap
// allocations per round trip: the relay's per-datagram path (udpio loop,
// fast path, peer policy, counters) must allocate nothing.
func TestFastPathAllocatesNothing(t *testing.T) {
	// Not parallel: AllocsPerRun counts the allocations of the whole process.
	srv := startServer(t, func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") })
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 1, 2, 6)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	u, p := validCreds(t, "dave")
	c, conn := dialClient(t, srv, "udp", u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	waitFor(t, func() bool { // pion's client binds a channel on its first writes to a peer
		if _, err := relay.WriteTo([]byte("bind"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("peer: %v", err)
		}
		_, ch := fastRoutes(srv)
		return ch == 1
	})
	var number uint16
	srv.fast.mu.Lock()
	for _, rc := range srv.fast.allocs {
		for n := range rc.table.Load().byNumber {
			number = n
		}
	}
	srv.fast.mu.Unlock()

	// Take the client's address over: pion's socket closes (the allocation
	// lives on in the server) and a plain one binds the same address.
	clientAddr := conn.LocalAddr().(*net.UDPAddr)
	_ = conn.Close()
	client, err := net.ListenUDP("udp4", clientAddr)
	if err != nil {
		t.Fatalf("rebind the client's address %v: %v", clientAddr, err)
	}
	defer client.Close()
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	server := srv.UDPAddrs()[0].(*net.UDPAddr).AddrPort()
	msg := make([]byte, channelDataHeader+100)
	binary.BigEndian.PutUint16(msg[0:2], number)
	binary.BigEndian.PutUint16(msg[2:4], 100)
	roundTrip := func() {
		if _, err := client.WriteToUDPAddrPort(msg, server); err != nil {
			t.Fatal(err)
		}
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil || n != 100 {
			t.Fatalf("peer read %d bytes (%v), want 100", n, err)
		}
		if _, err := peer.WriteToUDPAddrPort(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		n, _, err = client.ReadFromUDPAddrPort(buf)
		if err != nil || n != len(msg) || binary.BigEndian.Uint16(buf[0:2]) != number {
			t.Fatalf("client read %d bytes %x (%v), want ChannelData of %d bytes on channel %#x", n, buf[:min(n, 8)], err, len(msg), number)
		}
	}
	for range 20 {
		roundTrip()
	}
	fast := srv.Stats().FastPathForwarded
	if allocs := testing.AllocsPerRun(500, roundTrip); allocs != 0 {
		t.Fatalf("%.2f heap allocations per relayed round trip, want 0", allocs)
	}
	if got := srv.Stats().FastPathForwarded - fast; got < 500 {
		t.Fatalf("the fast path forwarded %d of 501+ datagrams", got)
	}
}

// TestChannelTableRoutes: a table finds each of its routes by number and
// by peer, whether it holds a few (searched without the maps) or more
// than fewRoutes, and finds nothing of a channel removed or never bound.
func TestChannelTableRoutes(t *testing.T) {
	var routes []channelRoute
	for i := range fewRoutes + 2 {
		routes = append(routes, channelRoute{number: minChannel + uint16(i),
			peer: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 5000)})
	}
	v6 := channelRoute{number: maxChannel, peer: netip.MustParseAddrPort("[2001:db8::1]:5000")}
	routes = append(routes, v6)
	check := func(step string, tb *channelTable, bound int, searched bool) {
		t.Helper()
		for i, r := range routes {
			want := i < bound || r == v6 && bound == len(routes)
			n, p := tb.route(r.number), tb.routeTo(r.peer)
			if want && (n == nil || *n != r || p == nil || *p != r) || !want && (n != nil || p != nil) {
				t.Errorf("%s: route %#x: by number %v, by peer %v, want bound %v", step, r.number, n, p, want)
			}
		}
		if (tb.few != nil) != searched {
			t.Errorf("%s: %d routes side by side, %d in the maps", step, len(tb.few), len(tb.byNumber))
		}
	}
	tb := &channelTable{}
	check("empty", tb, 0, false)
	for i := range routes {
		tb = tb.with(&routes[i], true)
		check(fmt.Sprintf("%d bound", i+1), tb, i+1, i+1 <= fewRoutes)
	}
	for i := len(routes) - 1; i >= 0; i-- {
		tb = tb.with(&routes[i], false)
		check(fmt.Sprintf("down to %d", i), tb, i, i > 0 && i <= fewRoutes)
	}

	moved := channelRoute{number: routes[0].number, peer: v6.peer}
	one := (&channelTable{}).with(&routes[0], true).with(&moved, true)
	if r := one.route(moved.number); r == nil || *r != moved || one.routeTo(v6.peer) == nil || one.routeTo(routes[0].peer) != nil {
		t.Errorf("channel rebound to another peer: route %v, to the new peer %v, to the old %v",
			r, one.routeTo(v6.peer), one.routeTo(routes[0].peer))
	}
}
