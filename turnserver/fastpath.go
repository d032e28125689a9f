package turnserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/turn/v4"
	"github.com/streamsync/streamsync/internal/udpio"
)

// The channel fast path. Once a UDP client has bound a channel (RFC 8656
// §12), every datagram on it is ChannelData: a 4-byte header and the
// payload. pion hands each one through its request dispatcher, looks the
// allocation and the channel up under locks and allocates a few objects per
// datagram, which profiling showed costs about as much CPU as the two
// system calls the datagram needs. Here the sockets do it themselves, on
// the udpio event loop that reads them: the client-facing socket forwards
// ChannelData of a bound channel straight to the allocation's relay
// socket, and the relay socket wraps a bound peer's datagram in
// ChannelData (the header written into the read buffer's headroom) and
// writes it to the client. Everything else — STUN requests and
// indications, ChannelData of unknown channels, peers without a channel —
// still goes to pion, through a queue (see pionQueue).
//
// Routes mirror pion's own state through its events (allocation and
// channel created and deleted), so they die with the channel or the
// allocation; a channel binding implies the permission, exactly as pion
// treats it. The relay socket's WriteTo still applies the peer policy, the
// own-address port guard, the bandwidth cap and the counters; its Datagram
// handler the bandwidth cap and the counters (inbound datagrams are
// admitted by the channel, as in pion, until the channel expires or is
// refreshed under the policy in force).
// TCP and TLS clients are left to pion.

// channelDataHeader is the ChannelData header size (RFC 8656 §12.4).
const channelDataHeader = 4

// Channel numbers a client may bind (RFC 8656 §12).
const (
	minChannel = 0x4000
	maxChannel = 0x4FFF
)

// fastPath holds the routes of the channel fast path.
type fastPath struct {
	// listeners maps a UDP listener's local address (pion's five-tuple
	// destination) to the socket ChannelData to its clients is written
	// with. Filled before serving, read-only after.
	listeners map[netip.AddrPort]*udpio.Socket

	mu sync.Mutex // guards the maps below; taken on events and cache misses, not per datagram
	// relays maps a relay port to its socket, from bind to close.
	relays map[int]*relayConn
	// allocs maps a UDP five-tuple to its allocation's relay socket.
	allocs map[allocKey]*relayConn
}

type allocKey struct {
	client, listener netip.AddrPort
}

func newFastPath() *fastPath {
	return &fastPath{
		listeners: make(map[netip.AddrPort]*udpio.Socket),
		relays:    make(map[int]*relayConn),
		allocs:    make(map[allocKey]*relayConn),
	}
}

// channelTable is one allocation's routes; immutable, replaced whole.
type channelTable struct {
	client   netip.AddrPort // the client's address
	out      *udpio.Socket  // the listener socket to reach it with
	byNumber map[uint16]*channelRoute
	byPeer   map[netip.AddrPort]*channelRoute
	// few holds the routes when there are at most fewRoutes, side by
	// side, and is searched before (instead of) the maps: a browser binds
	// a channel per remote candidate it checks, a few per allocation, and
	// at call rates a map lookup costs a hash and cold cache lines per
	// datagram (profile in BENCHMARKS.md, "Fifth round").
	few []channelRoute
}

type channelRoute struct {
	number uint16
	peer   netip.AddrPort
}

// fewRoutes is the most routes a table searches without its maps.
const fewRoutes = 4

// route returns the route of channel number, or nil.
func (t *channelTable) route(number uint16) *channelRoute {
	if t.few != nil {
		for i := range t.few {
			if t.few[i].number == number {
				return &t.few[i]
			}
		}
		return nil
	}
	return t.byNumber[number]
}

// routeTo returns the route to peer, or nil.
func (t *channelTable) routeTo(peer netip.AddrPort) *channelRoute {
	if t.few != nil {
		for i := range t.few {
			if t.few[i].peer == peer {
				return &t.few[i]
			}
		}
		return nil
	}
	return t.byPeer[peer]
}

// with returns a copy of t with route r added (or, with add false, the
// channel number r.number removed).
func (t *channelTable) with(r *channelRoute, add bool) *channelTable {
	n := &channelTable{client: t.client, out: t.out,
		byNumber: make(map[uint16]*channelRoute, len(t.byNumber)+1),
		byPeer:   make(map[netip.AddrPort]*channelRoute, len(t.byPeer)+1)}
	for k, v := range t.byNumber {
		if k != r.number {
			n.byNumber[k] = v
			n.byPeer[v.peer] = v
		}
	}
	if add {
		n.byNumber[r.number] = r
		n.byPeer[r.peer] = r
	}
	// Only when numbers and peers pair one to one (pion refuses a second
	// channel to a bound peer) do the few stand for the maps.
	if k := len(n.byNumber); k > 0 && k <= fewRoutes && len(n.byPeer) == k {
		n.few = make([]channelRoute, 0, k)
		for _, v := range n.byNumber {
			n.few = append(n.few, *v)
		}
	}
	return n
}

func udpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

func (f *fastPath) addRelay(port int, rc *relayConn) {
	f.mu.Lock()
	f.relays[port] = rc
	f.mu.Unlock()
}

func (f *fastPath) removeRelay(port int, rc *relayConn) {
	f.mu.Lock()
	if f.relays[port] == rc {
		delete(f.relays, port)
	}
	f.mu.Unlock()
}

// lookup returns the relay socket of the allocation of client on listener.
func (f *fastPath) lookup(client, listener netip.AddrPort) *relayConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.allocs[allocKey{client, listener}]
}

// allocated reports whether the UDP five-tuple of client and the listener
// at local holds a live allocation.
func (f *fastPath) allocated(client, local net.Addr) bool {
	c, ok1 := udpAddrPort(client)
	l, ok2 := udpAddrPort(local)
	if f == nil || !ok1 || !ok2 {
		return false
	}
	rc := f.lookup(c, l)
	return rc != nil && !rc.closed.Load()
}

// events wraps next so that the fast path learns pion's allocations and
// channels before next sees them.
func (f *fastPath) events(next turn.EventHandler) turn.EventHandler {
	created, deleted := next.OnAllocationCreated, next.OnAllocationDeleted
	chCreated, chDeleted := next.OnChannelCreated, next.OnChannelDeleted
	next.OnAllocationCreated = func(src, dst net.Addr, protocol, username, realm string, relay net.Addr, port int) {
		f.allocationCreated(src, dst, relay)
		if created != nil {
			created(src, dst, protocol, username, realm, relay, port)
		}
	}
	next.OnAllocationDeleted = func(src, dst net.Addr, protocol, username, realm string) {
		f.allocationDeleted(src, dst)
		if deleted != nil {
			deleted(src, dst, protocol, username, realm)
		}
	}
	next.OnChannelCreated = func(src, dst net.Addr, protocol, username, realm string, relay, peer net.Addr, number uint16) {
		f.channel(relay, peer, number, true)
		if chCreated != nil {
			chCreated(src, dst, protocol, username, realm, relay, peer, number)
		}
	}
	next.OnChannelDeleted = func(src, dst net.Addr, protocol, username, realm string, relay, peer net.Addr, number uint16) {
		f.channel(relay, peer, number, false)
		if chDeleted != nil {
			chDeleted(src, dst, protocol, username, realm, relay, peer, number)
		}
	}
	return next
}

func (f *fastPath) allocationCreated(src, dst, relay net.Addr) {
	client, ok1 := udpAddrPort(src)
	listener, ok2 := udpAddrPort(dst)
	relayAP, ok3 := udpAddrPort(relay)
	out := f.listeners[listener]
	if !ok1 || !ok2 || !ok3 || out == nil { // a TCP or TLS client
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rc := f.relays[int(relayAP.Port())]
	if rc == nil {
		return
	}
	rc.table.Store(&channelTable{client: client, out: out})
	f.allocs[allocKey{client, listener}] = rc
}

func (f *fastPath) allocationDeleted(src, dst net.Addr) {
	client, ok1 := udpAddrPort(src)
	listener, ok2 := udpAddrPort(dst)
	if !ok1 || !ok2 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// pion closes the relay socket before it reports the deletion, and the
	// five-tuple may already hold a new allocation by then: only a closed
	// socket's route is the one being deleted.
	k := allocKey{client, listener}
	if rc := f.allocs[k]; rc != nil && rc.closed.Load() {
		delete(f.allocs, k)
	}
}

// channel adds or removes a channel route. The allocation is found by its
// relay port: pion reports a channel's deletion while closing the
// allocation, when its five-tuple may already name a newer one.
func (f *fastPath) channel(relay, peer net.Addr, number uint16, add bool) {
	relayAP, ok1 := udpAddrPort(relay)
	peerAP, ok2 := udpAddrPort(peer)
	if !ok1 || !ok2 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rc := f.relays[int(relayAP.Port())]
	if rc == nil {
		return
	}
	if t := rc.table.Load(); t != nil {
		r := &channelRoute{number: number, peer: peerAP}
		rc.table.Store(t.with(r, add))
	}
}

// forward relays ChannelData b from client (cached, see clientConn) to its
// peer and reports whether it did; false leaves the datagram to pion. The
// datagram is queued on q, the loop that read it (see udpio Loop.Queue).
func (f *fastPath) forward(b []byte, e *clientEntry, listener netip.AddrPort, q *udpio.Loop) bool {
	number := binary.BigEndian.Uint16(b[0:2])
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if number < minChannel || number > maxChannel || channelDataHeader+length > len(b) {
		return false
	}
	rc := e.relay
	t := (*channelTable)(nil)
	if rc != nil {
		t = rc.table.Load()
	}
	if t == nil { // no allocation seen yet, or it was deleted: look again
		rc = f.lookup(e.ap, listener)
		if rc == nil {
			return false
		}
		e.relay = rc
		if t = rc.table.Load(); t == nil {
			return false
		}
	}
	r := t.route(number)
	if r == nil {
		return false
	}
	_, _ = rc.writePeer(b[channelDataHeader:channelDataHeader+length], r.peer, q)
	rc.gen.stats.FastPathForwarded.Add(1)
	return true
}

// clientEntry is what clientConn caches per client address.
type clientEntry struct {
	ap    netip.AddrPort
	addr  *net.UDPAddr
	relay *relayConn // the client's allocation, once seen
}
