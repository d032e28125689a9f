package udpio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// countSent is a Completion that counts datagrams and bytes sent and
// keeps the last error.
type countSent struct {
	sent, bytes atomic.Int64
	err         atomic.Pointer[error]
}

func (c *countSent) Sent(n int, err error) {
	if err != nil {
		c.err.Store(&err)
		return
	}
	c.sent.Add(1)
	c.bytes.Add(int64(n))
}

// TestQueueSendsThroughOtherSockets: a handler queues every datagram it
// reads, headroom included, to be sent from one of two sockets of another
// loop, alternately. A burst makes the wake-ups read several datagrams,
// so the queued ones go out in batches; every datagram must arrive intact,
// from the socket it was queued on, in the order each socket was given.
func TestQueueSendsThroughOtherSockets(t *testing.T) {
	g := newTestGroup(t, 2)
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	_ = recv.SetReadBuffer(4 << 20)
	dst := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	quiet := HandlerFunc(func(*Socket, []byte, int, netip.AddrPort) {})
	out := [2]*Socket{listen(t, g.Loop(1), "udp4", "127.0.0.1:0", quiet), listen(t, g.Loop(1), "udp4", "127.0.0.1:0", quiet)}
	var done countSent
	in, err := g.Loop(0).Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), Options{ReadBuffer: 4 << 20},
		HandlerFunc(func(s *Socket, buf []byte, n int, _ netip.AddrPort) {
			copy(buf[:Headroom], "queu")
			seq := binary.BigEndian.Uint32(buf[Headroom:])
			s.Loop().Queue(out[seq%2], buf[:Headroom+n], dst, &done)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	const total = 300
	c := dial(t, "udp4", in.LocalAddr())
	msg := make([]byte, 200)
	for i := range total {
		binary.BigEndian.PutUint32(msg, uint32(i))
		for j := 4; j < len(msg); j++ {
			msg[j] = byte(i + j)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	next := map[netip.AddrPort]uint32{out[0].LocalAddr(): 0, out[1].LocalAddr(): 1}
	buf := make([]byte, 2048)
	for got := 0; got < total; got++ {
		_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", got, total, err)
		}
		want, ok := next[from]
		if !ok {
			t.Fatalf("datagram from %s, not from a queueing socket", from)
		}
		binary.BigEndian.PutUint32(msg, want)
		for j := 4; j < len(msg); j++ {
			msg[j] = byte(int(want) + j)
		}
		if !bytes.Equal(buf[:n], append([]byte("queu"), msg...)) {
			t.Fatalf("from %s: datagram %d out of order or damaged (seq %d)", from, want, binary.BigEndian.Uint32(buf[Headroom:]))
		}
		next[from] = want + 2
	}
	waitFor(t, func() bool { return done.sent.Load() == total }, "every completion")
	if b := done.bytes.Load(); b != total*(Headroom+200) {
		t.Fatalf("completions counted %d bytes, want %d", b, total*(Headroom+200))
	}
	if e := done.err.Load(); e != nil {
		t.Fatalf("a queued datagram failed: %v", *e)
	}
}

// TestQueueOnClosedSocket: a datagram queued on a closed socket is
// reported as ErrClosed and the loop serves on.
func TestQueueOnClosedSocket(t *testing.T) {
	g := newTestGroup(t, 1)
	closed := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", echo)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	var done countSent
	s := listen(t, g.Loop(0), "udp4", "127.0.0.1:0", HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
		s.Loop().Queue(closed, buf[Headroom:Headroom+n], src, &done)
		copy(buf[:Headroom], "echo")
		s.Loop().Queue(s, buf[:Headroom+n], src, nil)
	}))
	c := dial(t, "udp4", s.LocalAddr())
	if got := roundTrip(t, c, []byte("x")); string(got) != "echox" {
		t.Fatalf("answer %q, want echox", got)
	}
	waitFor(t, func() bool { return done.err.Load() != nil }, "the closed socket's completion")
	if err := *done.err.Load(); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("queued on a closed socket: %v, want ErrClosed", err)
	}
	if done.sent.Load() != 0 {
		t.Fatal("a datagram queued on a closed socket was counted as sent")
	}
}
