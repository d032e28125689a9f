package udpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

func newTestGroup(t *testing.T, n int) *Group {
	t.Helper()
	g, err := NewGroup(n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// echo answers every datagram with its payload prefixed by "echo" written
// into the headroom, so that a test sees the headroom is writable and the
// payload intact.
var echo = HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
	copy(buf[:Headroom], "echo")
	_, _ = s.WriteTo(buf[:Headroom+n], src)
})

func listen(t *testing.T, l *Loop, network, addr string, h Handler) *Socket {
	t.Helper()
	s, err := l.Listen(network, netip.MustParseAddrPort(addr), Options{}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dial(t *testing.T, network string, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip sends msg and returns the answer, failing after a second.
func roundTrip(t *testing.T, c *net.UDPConn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 2048)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no answer to %q: %v", msg, err)
	}
	return b[:n]
}

func TestEchoThroughHeadroom(t *testing.T) {
	g := newTestGroup(t, 2)
	s := listen(t, g.Next(), "udp4", "127.0.0.1:0", echo)
	if !s.LocalAddr().Addr().Is4() || s.LocalAddr().Port() == 0 {
		t.Fatalf("local address %v", s.LocalAddr())
	}
	c := dial(t, "udp4", s.LocalAddr())
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*7)
		got := roundTrip(t, c, msg)
		if want := append([]byte("echo"), msg...); !bytes.Equal(got, want) {
			t.Fatalf("datagram %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	// The largest UDP payload arrives whole.
	big := bytes.Repeat([]byte("x"), 65000)
	var got atomic.Int64
	s2 := listen(t, g.Next(), "udp4", "127.0.0.1:0", HandlerFunc(func(_ *Socket, _ []byte, n int, _ netip.AddrPort) {
		got.Store(int64(n))
	}))
	c2 := dial(t, "udp4", s2.LocalAddr())
	if _, err := c2.Write(big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return got.Load() == int64(len(big)) }, "65000-byte datagram read whole")
}

func TestSenderAddressAndFamilies(t *testing.T) {
	g := newTestGroup(t, 1)
	srcs := make(chan netip.AddrPort, 4)
	record := HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
		srcs <- src
		_, _ = s.WriteTo(buf[Headroom:Headroom+n], src)
	})
	// A wildcard with "udp" is dual-stack, as in package net: IPv4 senders
	// are reported (and answered) as IPv4.
	dual := listen(t, g.Loop(0), "udp", "0.0.0.0:0", record)
	if !dual.LocalAddr().Addr().Is6() {
		t.Fatalf("dual-stack socket bound %v, want an IPv6 wildcard", dual.LocalAddr())
	}
	port := dual.LocalAddr().Port()
	c4 := dial(t, "udp4", netip.AddrPortFrom(loopback4, port))
	if got := roundTrip(t, c4, []byte("v4")); string(got) != "v4" {
		t.Fatalf("answer %q", got)
	}
	if src := <-srcs; src != c4.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("sender %v, want %v (IPv4, unmapped)", src, c4.LocalAddr())
	}
	if c6, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.IPv6loopback, Port: int(port)}); err == nil {
		defer c6.Close()
		if got := roundTrip(t, c6, []byte("v6")); string(got) != "v6" {
			t.Fatalf("answer %q", got)
		}
		if src := <-srcs; !src.Addr().Is6() || src.Addr() != netip.IPv6Loopback() {
			t.Fatalf("sender %v, want ::1", src)
		}
	} else {
		t.Logf("no IPv6 loopback here (%v); dual-stack checked with IPv4 only", err)
	}

	// An IPv4 socket refuses an IPv6 destination with an error.
	s4 := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", record)
	if _, err := s4.WriteTo([]byte("x"), netip.MustParseAddrPort("[::1]:9")); err == nil {
		t.Fatal("IPv6 destination on an IPv4 socket: no error")
	}
	if _, err := g.Loop(0).Listen("udp4", netip.MustParseAddrPort("[::1]:0"), Options{}, record); err == nil {
		t.Fatal("udp4 with an IPv6 address: no error")
	}
	if _, err := g.Loop(0).Listen("tcp", netip.MustParseAddrPort("127.0.0.1:0"), Options{}, record); err == nil {
		t.Fatal("network tcp: no error")
	}
}

func TestPortInUse(t *testing.T) {
	g := newTestGroup(t, 1)
	s := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", echo)
	if _, err := g.Loop(0).Listen("udp4", s.LocalAddr(), Options{}, echo); err == nil {
		t.Fatal("second bind of a port without SO_REUSEPORT: no error")
	}
}

func TestReusePortGroupSharesThePort(t *testing.T) {
	g := newTestGroup(t, 2)
	var hits [2]atomic.Int64
	opt := Options{ReusePort: true}
	first, err := g.Loop(0).Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), opt, HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) { hits[0].Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := g.Loop(1).Listen("udp4", first.LocalAddr(), opt, HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) { hits[1].Add(1) }))
	if err != nil {
		t.Fatalf("second socket on %v: %v", first.LocalAddr(), err)
	}
	defer second.Close()
	// The kernel spreads senders by 4-tuple hash: with 64 senders both
	// sockets get some (the chance that one gets none is 2^-63).
	for range 64 {
		c := dial(t, "udp4", first.LocalAddr())
		_, _ = c.Write([]byte("hello"))
	}
	waitFor(t, func() bool { return hits[0].Load()+hits[1].Load() == 64 }, "64 datagrams over the group")
	if hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Fatalf("datagrams per socket: %d and %d, want both above 0", hits[0].Load(), hits[1].Load())
	}
}

func TestCloseSemantics(t *testing.T) {
	g := newTestGroup(t, 1)
	var got atomic.Int64
	s, err := g.Loop(0).Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), Options{}, HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) { got.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	if n := g.Loop(0).Len(); n != 1 {
		t.Fatalf("loop serves %d sockets, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if _, err := s.WriteTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v, want ErrClosed, a net.ErrClosed", err)
	}
	if n := g.Loop(0).Len(); n != 0 {
		t.Fatalf("loop serves %d sockets after Close, want 0", n)
	}
	// The port is free again once closed.
	again, err := g.Loop(0).Listen("udp4", s.LocalAddr(), Options{}, echo)
	if err != nil {
		t.Fatalf("rebind after Close: %v", err)
	}
	_ = again.Close()
	if got.Load() != 0 {
		t.Fatalf("closed socket delivered %d datagrams", got.Load())
	}
	l, err := NewLoop(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), Options{}, echo); err == nil {
		t.Fatal("Listen on a closed loop: no error")
	}
}

// A handler's panic costs one datagram, not the loop.
func TestHandlerPanicIsContained(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	l, err := NewLoop(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := listen(t, l, "udp4", "127.0.0.1:0", HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
		if string(buf[Headroom:Headroom+n]) == "boom" {
			panic("boom")
		}
		echo(s, buf, n, src)
	}))
	c := dial(t, "udp4", s.LocalAddr())
	_, _ = c.Write([]byte("boom"))
	if got := roundTrip(t, c, []byte("after")); string(got) != "echoafter" {
		t.Fatalf("answer after a panic: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Contains(logged.Bytes(), []byte("udp handler panicked")) {
		t.Fatalf("panic not logged: %s", logged.String())
	}
}

// A loop made without a logger discards the panic's report instead of
// dereferencing nil while recovering (which took the process down).
func TestNilLoggerDiscards(t *testing.T) {
	g, err := NewGroup(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
		if string(buf[Headroom:Headroom+n]) == "boom" {
			panic("boom")
		}
		echo(s, buf, n, src)
	}))
	c := dial(t, "udp4", s.LocalAddr())
	_, _ = c.Write([]byte("boom"))
	if got := roundTrip(t, c, []byte("after")); string(got) != "echoafter" {
		t.Fatalf("answer after a panic: %q", got)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// Sockets closed while datagrams flow to them and while other goroutines
// write on them: nothing is delivered for a closed socket, nothing races
// (go test -race), and every descriptor is closed in the end.
func TestCloseUnderTraffic(t *testing.T) {
	g := newTestGroup(t, 2)
	before := openFDs(t)
	const sockets = 64
	var delivered atomic.Int64
	socks := make([]*Socket, sockets)
	for i := range socks {
		s, err := g.Next().Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), Options{}, HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
			delivered.Add(1)
			_, _ = s.WriteTo(buf[Headroom:Headroom+n], src)
		}))
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = s
	}
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	// untilStopped applies do to every socket in turn until stop closes.
	untilStopped := func(do func(s *Socket)) {
		defer wg.Done()
		for {
			for _, s := range socks {
				select {
				case <-stop:
					return
				default:
				}
				do(s)
			}
		}
	}
	to := sender.LocalAddr().(*net.UDPAddr).AddrPort()
	go untilStopped(func(s *Socket) { // datagrams to every socket
		_, _ = sender.WriteToUDPAddrPort([]byte("ping"), s.LocalAddr())
	})
	go untilStopped(func(s *Socket) { // writes from another goroutine on the same sockets
		_, _ = s.WriteTo([]byte("pong"), to)
	})
	go func() { // drain the sender's socket
		b := make([]byte, 64)
		for {
			if _, _, err := sender.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	waitFor(t, func() bool { return delivered.Load() > 1000 }, "traffic flowing")
	for _, s := range socks {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	_ = sender.Close()
	if n := g.Loop(0).Len() + g.Loop(1).Len(); n != 0 {
		t.Fatalf("loops still serve %d sockets", n)
	}
	waitFor(t, func() bool { return openFDs(t) <= before }, fmt.Sprintf("descriptors back to %d", before))
}

// Writing a datagram takes no heap allocation.
func TestWriteDoesNotAllocate(t *testing.T) {
	g := newTestGroup(t, 1)
	s := listen(t, g.Loop(0), "udp", "0.0.0.0:0", HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) {}))
	sink := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) {}))
	b := make([]byte, 100)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.WriteTo(b, sink.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("WriteTo allocates %.1f objects per datagram", allocs)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
