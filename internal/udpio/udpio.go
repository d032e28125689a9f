// Package udpio serves many UDP sockets from a few event loops, the way a
// TURN relay needs: one loop per CPU reads every socket assigned to it and
// hands each datagram to the socket's Handler on the loop's own goroutine.
//
// With Go's net package every socket wants a goroutine parked in ReadFrom,
// and every datagram that finds its reader asleep costs a netpoller wake-up
// and a trip through the scheduler (spinning threads included). A relay
// with a thousand allocations receives on a thousand sockets; profiling
// showed that scheduler work as the relay's largest CPU cost after the
// system calls themselves. On Linux a Loop is an epoll instance of its own,
// outside the Go netpoller, waited on by one goroutine in a blocking system
// call: one wake-up reads every socket that is ready, and at saturation
// the loop never sleeps. Reads and writes are non-blocking system calls on
// the raw descriptor; nothing per datagram allocates or takes a lock.
//
// Elsewhere a portable implementation runs one goroutine per socket on
// net.UDPConn with the same API.
package udpio

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
)

// Headroom is the free space in front of every datagram handed to a
// Handler, so that a header can be prepended without a copy (a TURN relay
// writes the 4-byte ChannelData header there).
const Headroom = 4

// ReadsPerTurn is the most datagrams of one socket its Handler receives
// before the loop turns to other sockets; it is also how many may still
// arrive after SetReading(false), from the turn in progress.
const ReadsPerTurn = 16

// maxDatagram is the largest UDP payload a loop reads whole.
const maxDatagram = 65535

// Handler receives the datagrams of one socket.
type Handler interface {
	// Datagram is called on the socket's loop goroutine for each datagram
	// read, one at a time: the payload is buf[Headroom:Headroom+n], sent
	// from src. buf belongs to the loop and is valid only during the call;
	// the handler may write into it, headroom included, and hand slices of
	// it to Loop.Queue on s.Loop(), which sends them before it reads into
	// buf again. Datagram must not block: the loop serves every other
	// socket it holds.
	Datagram(s *Socket, buf []byte, n int, src netip.AddrPort)
}

// Completion learns what became of a datagram queued with Loop.Queue:
// n bytes sent and a nil error, or the error WriteTo would have returned
// (ErrWouldBlock for a full send buffer, ErrClosed for a closed socket).
type Completion interface {
	Sent(n int, err error)
}

func complete(c Completion, n int, err error) {
	if c != nil {
		c.Sent(n, err)
	}
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(s *Socket, buf []byte, n int, src netip.AddrPort)

// Datagram calls f.
func (f HandlerFunc) Datagram(s *Socket, buf []byte, n int, src netip.AddrPort) { f(s, buf, n, src) }

// Options are socket options applied before bind.
type Options struct {
	// ReusePort sets SO_REUSEPORT, so that several sockets share the
	// address and the kernel spreads senders over them by 4-tuple hash.
	ReusePort bool
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF when above 0;
	// the kernel caps them at net.core.rmem_max and wmem_max.
	ReadBuffer, WriteBuffer int
}

// ErrClosed is returned by operations on a closed socket or loop; it is
// a net.ErrClosed, as callers of a net.PacketConn expect.
var ErrClosed = fmt.Errorf("udpio: %w", net.ErrClosed)

// ErrWouldBlock is returned by WriteTo when the socket's send buffer is
// full: the datagram is dropped, as UDP may drop it, without waiting.
var ErrWouldBlock = errors.New("udpio: send buffer full, datagram dropped")

// Group is a fixed set of loops handing out sockets round-robin.
type Group struct {
	loops []*Loop
	next  atomic.Uint32
}

// orDiscard is log, or a logger that discards when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// NewGroup starts n loops (at least one); see NewLoop for log.
func NewGroup(n int, log *slog.Logger) (*Group, error) {
	g := &Group{}
	for range max(n, 1) {
		l, err := NewLoop(log)
		if err != nil {
			_ = g.Close()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Loop returns loop i modulo the group's size.
func (g *Group) Loop(i int) *Loop { return g.loops[i%len(g.loops)] }

// Next returns the loops in turn.
func (g *Group) Next() *Loop { return g.Loop(int(g.next.Add(1) % uint32(len(g.loops)))) }

// Len is the number of loops.
func (g *Group) Len() int { return len(g.loops) }

// Close stops every loop; their sockets must be closed by their owners.
func (g *Group) Close() error {
	var errs []error
	for _, l := range g.loops {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// family picks the socket family for network and a local address: an
// IPv4 address binds an IPv4 socket; a wildcard with network "udp" binds a
// dual-stack IPv6 socket, as Go's net package does, and reports IPv4
// senders as IPv4.
func family(network string, ip netip.Addr) (v6, v6only bool, err error) {
	switch network {
	case "udp4":
		if ip.Is6() && !ip.Is4In6() {
			return false, false, errors.New("udpio: udp4 with an IPv6 address")
		}
		return false, false, nil
	case "udp6":
		if ip.Is4() {
			return false, false, errors.New("udpio: udp6 with an IPv4 address")
		}
		return true, true, nil
	case "udp":
		if !ip.IsValid() || ip.IsUnspecified() {
			return true, false, nil
		}
		return ip.Is6() && !ip.Is4In6(), false, nil
	}
	return false, false, errors.New("udpio: unknown network " + network)
}

// contain recovers a handler's panic, so that one datagram that trips a
// bug does not take the loop and every socket it serves down with it.
func (l *Loop) contain(s *Socket) {
	if r := recover(); r != nil {
		l.log.Error("udp handler panicked; datagram dropped", "local", s.LocalAddr().String(),
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}
