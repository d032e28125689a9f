package turnserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/streamsync/streamsync/internal/udpio"
	"golang.org/x/time/rate"
)

// errNoRelayPort is returned when no port of the range could be bound.
var errNoRelayPort = errors.New("no free relay port in range")

// relayGenerator implements turn.RelayAddressGenerator: it binds relay
// sockets within the configured port range and wraps each so that the
// policy in force is applied where the socket writes.
type relayGenerator struct {
	loops      *udpio.Group // relay sockets are spread over them
	fast       *fastPath    // nil: no channel fast path
	bind       netip.Addr   // local IP relay sockets bind to
	advertised net.IP       // relay IP told to clients
	minPort    int
	maxPort    int
	state      *atomic.Pointer[runtimeState]
	stats      *counters
	ports      portSet // the bound relay ports, for the host guard
}

// Validate is called by pion at start.
func (g *relayGenerator) Validate() error {
	if g.minPort <= 0 || g.maxPort < g.minPort {
		return fmt.Errorf("relay port range %d-%d", g.minPort, g.maxPort)
	}
	return nil
}

// AllocatePacketConn binds a UDP relay socket. A requested port (EVEN-PORT
// and RESERVATION-TOKEN flows) is honoured only inside the range.
func (g *relayGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	if requestedPort != 0 {
		if requestedPort < g.minPort || requestedPort > g.maxPort {
			return nil, nil, fmt.Errorf("requested relay port %d outside %d-%d", requestedPort, g.minPort, g.maxPort)
		}
		return g.listen(network, requestedPort)
	}
	span := g.maxPort - g.minPort + 1
	tries := min(span, 64)
	start := rand.IntN(span) //nolint:gosec // port choice needs no secrecy, only spread
	for i := range tries {
		// A random start then a stride walks distinct ports while staying spread out.
		port := g.minPort + (start+i*7919)%span
		if conn, addr, err := g.listen(network, port); err == nil {
			return conn, addr, nil
		}
	}
	return nil, nil, errNoRelayPort
}

func (g *relayGenerator) listen(network string, port int) (net.PacketConn, net.Addr, error) {
	cfg := &g.state.Load().cfg
	rc := &relayConn{gen: g, port: port, pionQueue: newFlowQueue(relayQueue, g.stats)}
	if bw := cfg.AllocationBandwidth; bw > 0 {
		rc.out = rate.NewLimiter(rate.Limit(bw), max(bw, 64*1024))
		rc.in = rate.NewLimiter(rate.Limit(bw), max(bw, 64*1024))
	}
	sock, err := g.loops.Next().Listen(network, netip.AddrPortFrom(g.bind, uint16(port)), socketOptions(*cfg, false), rc)
	if err != nil {
		return nil, nil, err
	}
	rc.sock = sock
	rc.addr = net.UDPAddrFromAddrPort(sock.LocalAddr())
	g.ports.add(uint16(port))
	if g.fast != nil {
		g.fast.addRelay(port, rc)
	}
	return rc, &net.UDPAddr{IP: g.advertised, Port: port}, nil
}

// AllocateConn would serve RFC 6062 TCP relays, which browsers never ask for.
func (g *relayGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errors.New("TCP relay allocations (RFC 6062) are not supported")
}

// relayConn is the peer-facing socket of one allocation, read by a udpio
// loop. pion writes to it what clients send to peers and reads from it
// (through a pionQueue) what peers send back without a channel.
//
// Both directions run per datagram, so neither takes a lock nor allocates
// in the common case: a write reuses the verdict on its peer address until
// the peer or the runtime state (a reload) changes, and a read hands pion
// the same *net.UDPAddr for as long as the same peer sends.
type relayConn struct {
	sock       *udpio.Socket // set before pion or the fast path see the conn
	addr       *net.UDPAddr  // sock's local address
	gen        *relayGenerator
	out, in    *rate.Limiter // nil when allocation_bandwidth is 0
	*pionQueue               // what pion reads; its deadline methods are the conn's

	verdict atomic.Pointer[peerVerdict] // the last peer written to
	from    *peerAddr                   // the last peer read from; owned by the loop goroutine

	port   int
	table  atomic.Pointer[channelTable] // fast path routes; nil for none
	closed atomic.Bool
}

// relayQueue bounds the datagrams from peers waiting for pion: those
// without a channel (sent as Data indications; browsers bind channels for
// their media, so the first packets of a flow) and, for clients on TCP or
// TLS, all of them. Past it the socket is not read (see newFlowQueue).
const relayQueue = 64

// maxChannelData is the largest payload a ChannelData length can carry.
const maxChannelData = 0xFFFF

// Close closes the socket and forgets its fast path routes.
func (c *relayConn) Close() error {
	if !c.closed.Swap(true) {
		c.gen.ports.remove(uint16(c.port)) // unreachable before another program can bind it
	}
	c.table.Store(nil)
	if c.gen.fast != nil {
		c.gen.fast.removeRelay(c.port, c)
	}
	c.pionQueue.close()
	return c.sock.Close()
}

// LocalAddr is the relay socket's bound address.
func (c *relayConn) LocalAddr() net.Addr { return c.addr }

// peerVerdict is the policy's answer for one peer address under one
// runtime state; it is immutable.
type peerVerdict struct {
	state  *runtimeState
	peer   netip.AddrPort // as pion gave it
	dst    netip.AddrPort // canonical spelling, where the datagram goes
	ok     bool           // admitted
	ifLive bool           // admitted while dst's port is a live relay port (see hostGuard)
}

type peerAddr struct {
	ap   netip.AddrPort
	addr *net.UDPAddr
}

// WriteTo sends a datagram to a peer. The peer IP was already admitted by
// the PermissionHandler, which sees no port; here the port is checked too:
// on this host only the relay ports of live allocations are reachable (see
// hostGuard), so a client cannot reach other services on the host. The
// address is judged in every spelling, and sent to in its canonical one
// (::ffff:127.0.0.1 is 127.0.0.1). The verdict is cached per peer and
// state, so a reload re-judges every peer.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("relay write to %T", addr)
	}
	return c.writePeer(p, ua.AddrPort(), nil)
}

// writePeer is WriteTo for a peer address at hand (the fast path's). With
// a loop q (the fast path, on the loop that read p) the datagram is queued
// there and sent with the other outputs of the wake-up (udpio Loop.Queue);
// the counters then move when it is sent (peerSend).
func (c *relayConn) writePeer(p []byte, ap netip.AddrPort, q *udpio.Loop) (int, error) {
	st := c.gen.state.Load()
	v := c.verdict.Load()
	if v == nil || v.state != st || v.peer != ap {
		v = c.gen.judge(st, ap)
		c.verdict.Store(v)
	}
	if !c.gen.admits(v) {
		c.gen.stats.RelayDropsPolicy.Add(1)
		return len(p), nil // dropped silently, as UDP may be
	}
	if c.out != nil && !c.out.AllowN(time.Now(), len(p)) {
		c.gen.stats.RelayDropsBandwidth.Add(1)
		return len(p), nil
	}
	if q != nil {
		q.Queue(c.sock, p, v.dst, (*peerSend)(c))
		return len(p), nil
	}
	n, err := c.sock.WriteTo(p, v.dst)
	if err == nil {
		c.gen.stats.PeerBytesOut.Add(uint64(n))
		c.gen.stats.PeerPacketsOut.Add(1)
	}
	return dropIfFull(n, err, len(p), c.gen.stats)
}

// peerSend counts a datagram the loop sent to a peer for the relay
// socket, as writePeer counts its own writes.
type peerSend relayConn

// Sent implements udpio.Completion.
func (p *peerSend) Sent(n int, err error) {
	st := p.gen.stats
	if err == nil {
		st.PeerBytesOut.Add(uint64(n))
		st.PeerPacketsOut.Add(1)
		return
	}
	_, _ = dropIfFull(0, err, 0, st)
}

// clientSend counts a ChannelData datagram to a client that found the
// listener's send buffer full.
type clientSend counters

// Sent implements udpio.Completion.
func (s *clientSend) Sent(_ int, err error) { _, _ = dropIfFull(0, err, 0, (*counters)(s)) }

// judge applies st's host guard and peer policy to ap.
func (g *relayGenerator) judge(st *runtimeState, ap netip.AddrPort) *peerVerdict {
	ip := ap.Addr().WithZone("")
	ok, ifLive, _ := st.admits(ip)
	return &peerVerdict{state: st, peer: ap, dst: netip.AddrPortFrom(Canonical(ip), ap.Port()), ok: ok, ifLive: ifLive}
}

// Datagram handles a datagram from a peer on the loop goroutine,
// dropping what exceeds the allocation's bandwidth cap. A datagram from a
// peer the client has bound a channel to is sent to the client as
// ChannelData right here, its header written into the headroom (see
// fastPath); the others are queued for pion, to send as Data indications.
func (c *relayConn) Datagram(s *udpio.Socket, buf []byte, n int, src netip.AddrPort) {
	if c.in != nil && !c.in.AllowN(time.Now(), n) {
		c.gen.stats.RelayDropsBandwidth.Add(1)
		return
	}
	c.gen.stats.PeerBytesIn.Add(uint64(n))
	c.gen.stats.PeerPacketsIn.Add(1)
	if t := c.table.Load(); t != nil && n <= maxChannelData {
		if r := t.routeTo(src); r != nil {
			binary.BigEndian.PutUint16(buf[0:2], r.number)
			binary.BigEndian.PutUint16(buf[2:4], uint16(n))
			s.Loop().Queue(t.out, buf[:channelDataHeader+n], t.client, (*clientSend)(c.gen.stats))
			return
		}
	}
	last := c.from
	if last == nil || last.ap != src {
		last = &peerAddr{ap: src, addr: net.UDPAddrFromAddrPort(src)}
		c.from = last
	}
	c.pionQueue.push(buf[udpio.Headroom:udpio.Headroom+n], last.addr, s)
}

// ReadFrom returns the next datagram from a peer without a channel.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) { return c.pionQueue.pop(p) }
