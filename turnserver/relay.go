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

	"golang.org/x/time/rate"
)

// errNoRelayPort is returned when no port of the range could be bound.
var errNoRelayPort = errors.New("no free relay port in range")

// relayGenerator implements turn.RelayAddressGenerator: it binds relay
// sockets within the configured port range and wraps each so that the
// policy in force is applied where the socket writes.
type relayGenerator struct {
	fast       *fastPath  // nil: no channel fast path
	bind       netip.Addr // local IP relay sockets bind to
	advertised net.IP     // relay IP told to clients
	minPort    int
	maxPort    int
	state      *atomic.Pointer[runtimeState]
	stats      *Stats
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
	pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.bind, uint16(port))))
	if err != nil {
		return nil, nil, err
	}
	cfg := &g.state.Load().cfg
	setBuffers(pc, *cfg)
	rc := &relayConn{UDPConn: pc, gen: g, port: port}
	if g.fast != nil {
		g.fast.addRelay(port, rc)
	}
	if bw := cfg.AllocationBandwidth; bw > 0 {
		rc.out = rate.NewLimiter(rate.Limit(bw), max(bw, 64*1024))
		rc.in = rate.NewLimiter(rate.Limit(bw), max(bw, 64*1024))
	}
	return rc, &net.UDPAddr{IP: g.advertised, Port: port}, nil
}

// AllocateConn would serve RFC 6062 TCP relays, which browsers never ask for.
func (g *relayGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errors.New("TCP relay allocations (RFC 6062) are not supported")
}

// relayConn is the peer-facing socket of one allocation. pion writes to it
// what clients send to peers and reads from it what peers send back.
//
// Both directions run per datagram, so neither takes a lock nor allocates
// in the common case: a write reuses the verdict on its peer address until
// the peer or the runtime state (a reload) changes, and a read hands pion
// the same *net.UDPAddr for as long as the same peer sends.
type relayConn struct {
	*net.UDPConn
	gen     *relayGenerator
	out, in *rate.Limiter // nil when allocation_bandwidth is 0

	verdict atomic.Pointer[peerVerdict] // the last peer written to
	from    atomic.Pointer[peerAddr]    // the last peer read from

	port   int
	table  atomic.Pointer[channelTable] // fast path routes; nil for none
	closed atomic.Bool
	buf    []byte // ReadFrom's, room for a ChannelData header
}

// relayReadSize is what pion reads a relayed datagram into (its rtpMTU).
const relayReadSize = 1600

// Close closes the socket and forgets its fast path routes.
func (c *relayConn) Close() error {
	c.closed.Store(true)
	c.table.Store(nil)
	if c.gen.fast != nil {
		c.gen.fast.removeRelay(c.port, c)
	}
	return c.UDPConn.Close()
}

// peerVerdict is the policy's answer for one peer address under one
// runtime state; it is immutable.
type peerVerdict struct {
	state *runtimeState
	peer  netip.AddrPort // as pion gave it
	dst   netip.AddrPort // canonical spelling, where the datagram goes
	ok    bool
}

type peerAddr struct {
	ap   netip.AddrPort
	addr *net.UDPAddr
}

// WriteTo sends a datagram to a peer. The peer IP was already admitted by
// the PermissionHandler, which sees no port; here the port is checked too:
// on the server's own addresses only the relay port range is reachable, so
// a client cannot reach services on the host itself. The address is judged
// in its canonical spelling, so ::ffff:127.0.0.1 is 127.0.0.1. The verdict
// is cached per peer and state, so a reload re-judges every peer.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("relay write to %T", addr)
	}
	ap := ua.AddrPort()
	st := c.gen.state.Load()
	v := c.verdict.Load()
	if v == nil || v.state != st || v.peer != ap {
		v = c.gen.judge(st, ap)
		c.verdict.Store(v)
	}
	if !v.ok {
		c.gen.stats.RelayDropsPolicy.Add(1)
		return len(p), nil // dropped silently, as UDP may be
	}
	if c.out != nil && !c.out.AllowN(time.Now(), len(p)) {
		c.gen.stats.RelayDropsBandwidth.Add(1)
		return len(p), nil
	}
	n, err := c.WriteToUDPAddrPort(p, v.dst)
	if err == nil {
		c.gen.stats.PeerBytesOut.Add(uint64(n))
		c.gen.stats.PeerPacketsOut.Add(1)
	}
	return n, err
}

// judge applies st's peer policy and the own-address port guard to ap.
func (g *relayGenerator) judge(st *runtimeState, ap netip.AddrPort) *peerVerdict {
	ip := Canonical(ap.Addr().WithZone(""))
	permitted, own, _ := st.policy.Check(ip)
	port := int(ap.Port())
	ok := permitted && !(own && (port < g.minPort || port > g.maxPort))
	return &peerVerdict{state: st, peer: ap, dst: netip.AddrPortFrom(ip, ap.Port()), ok: ok}
}

// ReadFrom reads a datagram from a peer, dropping what exceeds the
// allocation's bandwidth cap. A datagram from a peer the client has bound
// a channel to is sent to the client as ChannelData right here (see
// fastPath); pion gets the others, to send as Data indications.
// ReadFrom must have a single caller (pion's read loop of the allocation).
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.buf == nil {
		c.buf = make([]byte, channelDataHeader+relayReadSize)
	}
	for {
		n, ap, err := c.UDPConn.ReadFromUDPAddrPort(c.buf[channelDataHeader:])
		if err != nil {
			return 0, nil, err
		}
		if c.in != nil && !c.in.AllowN(time.Now(), n) {
			c.gen.stats.RelayDropsBandwidth.Add(1)
			continue
		}
		c.gen.stats.PeerBytesIn.Add(uint64(n))
		c.gen.stats.PeerPacketsIn.Add(1)
		if t := c.table.Load(); t != nil && n < relayReadSize {
			if r := t.byPeer[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]; r != nil {
				binary.BigEndian.PutUint16(c.buf[0:2], r.number)
				binary.BigEndian.PutUint16(c.buf[2:4], uint16(n))
				_, _ = t.out.WriteToUDPAddrPort(c.buf[:channelDataHeader+n], t.client)
				continue
			}
		}
		n = copy(p, c.buf[channelDataHeader:channelDataHeader+n])
		last := c.from.Load()
		if last == nil || last.ap != ap {
			last = &peerAddr{ap: ap, addr: net.UDPAddrFromAddrPort(ap)}
			c.from.Store(last)
		}
		return n, last.addr, nil
	}
}
