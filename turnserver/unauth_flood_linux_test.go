package turnserver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"golang.org/x/sys/unix"

	"github.com/streamsync/streamsync/internal/turntest"
)

// TestUnauthenticatedFloodFromManySources floods the relay with Binding
// requests from 67036 source addresses of 127/8, one each (more than the
// 65536 the rate's old table held before it refused every newcomer), as
// a spoofing attacker would. Every source is answered, as is a newcomer
// after the flood, and a client holding an allocation has every request
// answered while it lasts.
func TestUnauthenticatedFloodFromManySources(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") })
	server := srv.UDPAddrs()[0].(*net.UDPAddr).AddrPort()

	u, p := validCreds(t, "honest")
	honest, _ := dialClient(t, srv, "udp", u, p)
	if _, err := honest.Allocate(); err != nil {
		t.Fatal(err)
	}

	// One socket sends from every source (IP_PKTINFO picks the source
	// address of each datagram among this host's 127/8) and, bound to the
	// wildcard on its port, receives the answers to all of them.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	var answered atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 1500)
		for {
			_, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from.Port() == server.Port() {
				answered.Add(1)
			}
		}
	}()

	// The honest client's authenticated requests, all through the flood.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var honestOK, honestFailed atomic.Int64
	var slowest atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		peer := &net.UDPAddr{IP: net.IPv4(127, 9, 9, 9), Port: 9}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			start := time.Now()
			if err := honest.CreatePermission(peer); err != nil {
				honestFailed.Add(1)
				t.Errorf("an allocated client's CreatePermission during the flood: %v", err)
				continue
			}
			honestOK.Add(1)
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
		}
	}()

	const sources = 1<<16 + 1500
	const window = 256 // requests in flight, so that no queue overflows under -race
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	began := time.Now()
	stalled := 0 // milliseconds waited in all for answers that did not come
	for i := range sources {
		for waited := 0; int64(i)-answered.Load() > window && waited < 50 && stalled < 2000; waited++ {
			time.Sleep(time.Millisecond)
			if waited >= 10 {
				stalled++
			}
		}
		src := netip.AddrFrom4([4]byte{127, byte(64 + i>>16), byte(i >> 8), byte(i)})
		if _, _, err := conn.WriteMsgUDPAddrPort(req, pktinfo(src), server); err != nil && !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("send from %s: %v", src, err)
		}
	}
	waitUntil(func() bool { return answered.Load() >= sources }, 3*time.Second)
	took := time.Since(began)
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	close(stop)
	wg.Wait()
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("%d sources: %d answered in %v; process CPU (server and sender) %v, %.1f µs a request; honest client: %d requests answered, slowest %v",
		sources, answered.Load(), took.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(cpu.Microseconds())/sources, honestOK.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))

	if got := answered.Load(); got < sources*99/100 {
		t.Errorf("%d of %d sources answered (queue drops %d, send buffer drops %d): newcomers were refused",
			got, sources, srv.Stats().QueueDrops, srv.Stats().SendBufferDrops)
	}
	if honestOK.Load() == 0 || honestFailed.Load() > 0 {
		t.Errorf("the allocated client had %d requests answered and %d failed during the flood", honestOK.Load(), honestFailed.Load())
	}

	// Newcomers after the flood: a Binding, and an allocation.
	pc, err := net.ListenPacket("udp4", "127.250.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.WriteTo(req, srv.UDPAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 1500)); err != nil {
		t.Errorf("a newcomer's Binding after the flood: %v", err)
	}
	nc, err := net.ListenPacket("udp4", "127.250.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	u2, p2 := validCreds(t, "newcomer")
	if _, err := turntest.NewClient(t, nc, server.String(), u2, p2).Allocate(); err != nil {
		t.Errorf("a newcomer's Allocate after the flood: %v", err)
	}
	conn.Close()
	<-readerDone
}

// pktinfo is the control message that sends a datagram from src, one of
// this host's addresses (RFC 3542's IP_PKTINFO, ipi_spec_dst).
func pktinfo(src netip.Addr) []byte {
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	binary.NativeEndian.PutUint64(oob[0:8], uint64(unix.CmsgLen(unix.SizeofInet4Pktinfo)))
	binary.NativeEndian.PutUint32(oob[8:12], unix.IPPROTO_IP)
	binary.NativeEndian.PutUint32(oob[12:16], unix.IP_PKTINFO)
	a := src.As4()
	copy(oob[unix.CmsgLen(0)+4:], a[:]) // after ipi_ifindex: ipi_spec_dst
	return oob
}

// waitUntil polls cond until it holds or d has passed.
func waitUntil(cond func() bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
