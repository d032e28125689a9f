package turnserver

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestUDPSocketsShareThePort binds udp_sockets sockets to one port (port 0
// picks it once) and relays for clients spread over them.
func TestUDPSocketsShareThePort(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.UDPSockets = 3
		c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	})
	if got := len(srv.UDPAddrs()); got != 1 {
		t.Fatalf("UDPAddrs lists %d addresses, want 1 per listen_udp", got)
	}
	want := srv.UDPAddrs()[0].String()
	if !reusePortSupported {
		t.Skip("SO_REUSEPORT is Linux only")
	}
	if len(srv.udp) != 3 {
		t.Fatalf("%d sockets, want 3", len(srv.udp))
	}
	for _, pc := range srv.udp {
		if pc.LocalAddr().String() != want {
			t.Fatalf("socket on %s, want %s", pc.LocalAddr(), want)
		}
	}
	peer := echoPeer(t, "127.1.2.5:0")
	for i := range 6 {
		u, p := validCreds(t, fmt.Sprintf("user%d", i))
		c, _ := dialClient(t, srv, "udp", u, p)
		relay, err := c.Allocate()
		if err != nil {
			t.Fatalf("client %d: allocate: %v", i, err)
		}
		if err := roundTrip(t, relay, peer, []byte("spread")); err != nil {
			t.Fatalf("client %d: round trip: %v", i, err)
		}
	}
}

// TestBufferCapWarning warns at start when the kernel caps a buffer size.
func TestBufferCapWarning(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max")
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || limit >= 1<<30 {
		t.Skip("rmem_max unreadable or too large to exceed")
	}
	var logs bytes.Buffer
	cfg := testConfig()
	cfg.UDPReceiveBuffer = limit + 1
	cfg.UDPSendBuffer = 0
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "net.core.rmem_max") || strings.Contains(logs.String(), "wmem_max") {
		t.Fatalf("want one warning naming net.core.rmem_max, got:\n%s", logs.String())
	}
}

// TestDefaultUDPSockets holds udp_sockets = 0 to one loop per two CPUs,
// at least one.
func TestDefaultUDPSockets(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 16: 8} {
		if got := defaultUDPSockets(procs); got != want {
			t.Errorf("defaultUDPSockets(%d) = %d, want %d", procs, got, want)
		}
	}
	if got, want := udpSocketCount(Config{UDPSockets: 3}), 3; got != want {
		t.Errorf("udpSocketCount with udp_sockets = 3: %d, want %d", got, want)
	}
}
