package turnserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/streamsync/streamsync/internal/udpio"
)

// clientConn is a client-facing UDP socket, read by its udpio loop. The
// loop relays ChannelData of bound channels itself (see fastPath) and
// queues the rest for pion, whose read loop takes it through ReadFrom
// with a *net.UDPAddr shared by every datagram of that client (pion needs
// a net.Addr and never changes it), so reads do not allocate.
type clientConn struct {
	sock *udpio.Socket // set by bound, before pion sees the conn
	addr *net.UDPAddr  // sock's local address
	fast *fastPath
	// clients caches an entry per client address; owned by the loop
	// goroutine, bounded by maxCachedClients.
	clients map[netip.AddrPort]*clientEntry
	stats   *counters
	// admit, when set, decides on the loop whether a datagram for pion is
	// queued (see Server.admitDatagram).
	admit      func(p []byte, src netip.Addr) bool
	*pionQueue // what pion reads; its deadline methods are the conn's
}

// maxCachedClients bounds clientConn's cache; a flood of spoofed sources
// only empties it now and then.
const maxCachedClients = 1 << 14

// listenerQueue bounds the datagrams waiting for pion on one listener
// socket: STUN requests and indications, mostly, whose bursts the unauth
// rate limit and pion's handling then absorb.
const listenerQueue = 1024

func newClientConn(fast *fastPath, stats *counters) *clientConn {
	return &clientConn{fast: fast, clients: make(map[netip.AddrPort]*clientEntry), pionQueue: newPionQueue(listenerQueue, stats), stats: stats}
}

func (c *clientConn) bound(sock *udpio.Socket) {
	c.sock = sock
	c.addr = net.UDPAddrFromAddrPort(sock.LocalAddr())
}

// Datagram handles a datagram from a client on the loop goroutine.
func (c *clientConn) Datagram(s *udpio.Socket, buf []byte, n int, src netip.AddrPort) {
	p := buf[udpio.Headroom : udpio.Headroom+n]
	e := c.clients[src]
	if e == nil {
		if len(c.clients) >= maxCachedClients {
			clear(c.clients)
		}
		e = &clientEntry{ap: src, addr: net.UDPAddrFromAddrPort(src)}
		c.clients[src] = e
	}
	// ChannelData starts with 0b01 (RFC 8656 §12.4).
	if n >= channelDataHeader && p[0]&0xC0 == 0x40 && c.fast != nil && c.fast.forward(p, e, s.LocalAddr(), s.Loop()) {
		return
	}
	if c.admit != nil && !c.admit(p, src.Addr()) {
		return
	}
	c.pionQueue.push(p, e.addr, s)
}

// ReadFrom returns the next datagram for pion.
func (c *clientConn) ReadFrom(p []byte) (int, net.Addr, error) { return c.pionQueue.pop(p) }

// WriteTo sends a datagram to a client without blocking; a full send
// buffer drops it and counts it.
func (c *clientConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("udp write to %T", addr)
	}
	n, err := c.sock.WriteTo(p, ua.AddrPort())
	return dropIfFull(n, err, len(p), c.stats)
}

// dropIfFull turns a write that found the send buffer full into a counted
// drop, as UDP may drop: pion logs every write error at Error level, which
// a burst would flood.
func dropIfFull(n int, err error, size int, stats *counters) (int, error) {
	if errors.Is(err, udpio.ErrWouldBlock) {
		stats.SendBufferDrops.Add(1)
		return size, nil
	}
	return n, err
}

// Close closes the socket and ends pion's reads.
func (c *clientConn) Close() error {
	c.pionQueue.close()
	return c.sock.Close()
}

// LocalAddr is the bound address.
func (c *clientConn) LocalAddr() net.Addr { return c.addr }
