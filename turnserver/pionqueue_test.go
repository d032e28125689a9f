package turnserver

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/udpio"
)

// The queue to pion is bounded: past its size datagrams are dropped and
// counted, never blocking the loop; closing and deadlines end pion's read.
func TestPionQueueBounds(t *testing.T) {
	t.Parallel()
	var stats counters
	q := newPionQueue(4, &stats)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	for i := range 6 {
		q.push([]byte{byte(i), 1, 2}, from, nil)
	}
	q.push(make([]byte, pionMTU+1), from, nil)    // pion would truncate it
	if got := stats.QueueDrops.Load(); got != 2 { // the oversized one is not a full queue
		t.Fatalf("%d datagrams counted as dropped, want 2", got)
	}
	p := make([]byte, pionMTU)
	for i := range 4 {
		n, addr, err := q.pop(p)
		if err != nil || n != 3 || p[0] != byte(i) || addr != from {
			t.Fatalf("pop %d: %d bytes %v from %v (%v), want 3 bytes starting %d", i, n, p[:n], addr, err, i)
		}
	}
	if err := q.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.pop(p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pop past the deadline: %v, want a timeout", err)
	}
	_ = q.SetReadDeadline(time.Time{})
	q.close()
	q.close() // twice is harmless
	if _, _, err := q.pop(p); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pop after close: %v, want net.ErrClosed", err)
	}
}

// A relay socket's queue stops reading the socket near its bound and
// resumes once pion has caught up: a burst larger than the queue waits in
// the kernel's buffer and arrives whole, in order.
func TestFlowQueueBackPressure(t *testing.T) {
	t.Parallel()
	loops, err := udpio.NewGroup(1, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Close()
	var stats counters
	q := newFlowQueue(udpio.ReadsPerTurn+8, &stats)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	sock, err := loops.Loop(0).Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), udpio.Options{ReadBuffer: 1 << 20},
		udpio.HandlerFunc(func(s *udpio.Socket, buf []byte, n int, _ netip.AddrPort) {
			q.push(buf[udpio.Headroom:udpio.Headroom+n], from, s)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sender, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(sock.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	const burst = 200
	for i := range burst {
		if _, err := sender.Write([]byte{byte(i), byte(i >> 8)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return q.isPaused.Load() })
	time.Sleep(50 * time.Millisecond) // a loop that kept reading would overflow the queue now
	if got := len(q.ch); got > cap(q.ch) || stats.QueueDrops.Load() != 0 {
		t.Fatalf("queue holds %d of %d with %d dropped; reading did not stop", got, cap(q.ch), stats.QueueDrops.Load())
	}
	_ = q.SetReadDeadline(time.Now().Add(10 * time.Second))
	p := make([]byte, pionMTU)
	for i := range burst {
		n, _, err := q.pop(p)
		if err != nil || n != 2 || int(p[0])|int(p[1])<<8 != i {
			t.Fatalf("datagram %d: %x (%v)", i, p[:n], err)
		}
	}
	if q.isPaused.Load() || stats.QueueDrops.Load() != 0 {
		t.Fatalf("after the burst: paused %v, %d dropped", q.isPaused.Load(), stats.QueueDrops.Load())
	}
}
