package turnserver

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// The queue to pion is bounded: past its size datagrams are dropped and
// counted, never blocking the loop; closing and deadlines end pion's read.
func TestPionQueueBounds(t *testing.T) {
	t.Parallel()
	var stats Stats
	q := newPionQueue(4, &stats)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	for i := range 6 {
		q.push([]byte{byte(i), 1, 2}, from)
	}
	q.push(make([]byte, pionMTU), from) // pion would drop it as truncated
	if got := stats.QueueDrops.Load(); got != 2 {
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
