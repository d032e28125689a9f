package turnserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
)

// faultyListener fails Accept with EMFILE, as a process out of file
// descriptors does, as many times as it is armed to.
type faultyListener struct {
	net.Listener
	armed atomic.Int32
}

func (l *faultyListener) Accept() (net.Conn, error) {
	if l.armed.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.armed.Store(0)
	return l.Listener.Accept()
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}

// TestAcceptErrorsAreRetried: a burst of accept errors (EMFILE) on the TCP
// and TLS listeners is retried and logged once; TURN over TCP and TLS
// still allocates and relays afterwards.
func TestAcceptErrorsAreRetried(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testcert.Loopback(t)
	var faulty []*faultyListener
	var mu sync.Mutex
	logs := &countingHandler{msgs: make(map[string]int)}
	cfg := testConfig()
	cfg.ListenTLS = []string{"127.0.0.1:0"}
	cfg.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	srv, err := New(cfg, Options{Logger: slog.New(logs), TLS: serverTLS, wrapStreamForTest: func(l net.Listener) net.Listener {
		fl := &faultyListener{Listener: l}
		mu.Lock()
		faulty = append(faulty, fl)
		mu.Unlock()
		return fl
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	peer := echoPeer(t, "127.7.7.7:0")

	const burst = 8
	for _, fl := range faulty {
		fl.armed.Store(burst) // the accept after the next connection fails
	}
	targets := map[string]string{"tcp": srv.TCPAddrs()[0].String(), "tls": srv.TLSAddrs()[0].String()}
	for network, addr := range targets {
		// The first connection is accepted; the next Accept meets the burst.
		first := turntest.Dial(t, network, addr, clientTLS)
		u, p := validCreds(t, "before-"+network)
		c := turntest.NewClient(t, first, addr, u, p)
		if _, err := c.SendBindingRequest(); err != nil {
			t.Fatalf("%s before the burst: %v", network, err)
		}
	}
	for network, addr := range targets {
		u, p := validCreds(t, "after-"+network)
		relay := turntest.Allocate(t, network, addr, u, p, clientTLS)
		if err := roundTrip(t, relay, peer, []byte("after accept errors over "+network)); err != nil {
			t.Fatalf("%s after the burst: %v", network, err)
		}
	}
	if got := srv.Stats().AcceptErrors; got != 2*burst {
		t.Fatalf("accept errors counted %d, want %d", got, 2*burst)
	}
	if got := logs.count("accept failed; retrying with backoff"); got != 2 {
		t.Fatalf("%d warnings for two bursts, want one per burst", got)
	}
	if got := logs.count("accepting again"); got != 2 {
		t.Fatalf("%d recoveries logged for two bursts, want 2", got)
	}
}

// TestStreamConnsPerIPCapped: one address holds at most
// max_stream_conns_per_ip TURN stream connections; another address is
// unaffected, and a closed connection frees its place.
func TestStreamConnsPerIPCapped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.MaxStreamConnsPerIP = 3 })
	addr := srv.TCPAddrs()[0].String()
	dialFrom := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var held []net.Conn
	for range 3 {
		c := dialFrom("127.0.0.1")
		u, p := validCreds(t, "holder")
		tc := turntest.NewClient(t, turnStreamConn(c), addr, u, p)
		if _, err := tc.SendBindingRequest(); err != nil {
			t.Fatalf("connection under the cap: %v", err)
		}
		held = append(held, c)
	}
	over := dialFrom("127.0.0.1")
	expectClosedByServer(t, over, "a connection over the per-IP cap")
	if got := srv.Stats().StreamConnsRefused; got != 1 {
		t.Fatalf("refused connections counted %d, want 1", got)
	}

	other := dialFrom("127.0.0.2")
	u, p := validCreds(t, "other")
	oc := turntest.NewClient(t, turnStreamConn(other), addr, u, p)
	if _, err := oc.Allocate(); err != nil {
		t.Fatalf("another address: %v", err)
	}

	held[0].Close()
	waitFor(t, func() bool {
		srv.conns.mu.Lock()
		defer srv.conns.mu.Unlock()
		return srv.conns.open[netipAddr("127.0.0.1")] == 2
	})
	again := dialFrom("127.0.0.1")
	ac := turntest.NewClient(t, turnStreamConn(again), addr, u, p)
	if _, err := ac.Allocate(); err != nil {
		t.Fatalf("a connection after one was closed: %v", err)
	}
}

func turnStreamConn(c net.Conn) net.PacketConn { return turn.NewSTUNConn(c) }

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestStreamConnsTotalCapped: connections from many addresses, each under
// its per-IP cap, stop at max_stream_conns in all; those past it are
// closed at accept and counted, and a place freed is taken again.
func TestStreamConnsTotalCapped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.MaxStreamConns = 4 })
	addr := srv.TCPAddrs()[0].String()
	dialFrom := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	answers := func(c net.Conn) bool {
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := c.Write(req.Raw); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var resp stun.Message
		resp.Raw = make([]byte, 512)
		n, err := c.Read(resp.Raw)
		if err != nil {
			return false
		}
		resp.Raw = resp.Raw[:n]
		return resp.Decode() == nil && resp.Type == stun.BindingSuccess
	}
	var held []net.Conn
	for i := range 4 {
		c := dialFrom(fmt.Sprintf("127.0.0.%d", 1+i%2))
		if !answers(c) {
			t.Fatalf("connection %d under the total cap not answered", i+1)
		}
		held = append(held, c)
	}
	for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		expectClosedByServer(t, dialFrom(ip), "a connection from "+ip+" past max_stream_conns")
	}
	if got, perIP := srv.Stats().StreamConnsRefusedTotal, srv.Stats().StreamConnsRefused; got != 2 || perIP != 0 {
		t.Fatalf("refused connections counted %d past the total cap and %d past the per-IP cap, want 2 and 0", got, perIP)
	}
	held[0].Close()
	waitFor(t, func() bool {
		srv.conns.mu.Lock()
		defer srv.conns.mu.Unlock()
		return srv.conns.total == 3
	})
	if !answers(dialFrom("127.0.0.5")) {
		t.Fatal("a connection after one was closed was not answered")
	}
}
