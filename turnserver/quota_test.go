package turnserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/internal/turntest"
)

// allocateCode allocates with c and returns the STUN error code of a
// refusal (0 on success).
func allocateCode(t *testing.T, c *turn.Client) (net.PacketConn, int) {
	t.Helper()
	relay, err := c.Allocate()
	if err == nil {
		return relay, 0
	}
	var te *stun.TurnError
	if !errors.As(err, &te) {
		t.Fatalf("allocate failed without an error response: %v", err)
	}
	return nil, int(te.ErrorCodeAttr.Code)
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
		user   func(i int) string
	}{
		{"per user", func(c *Config) { c.MaxAllocationsPerUser = 2 }, func(int) string { return "same" }},
		{"per ip", func(c *Config) { c.MaxAllocationsPerIP = 2 }, func(i int) string { return "u" + strconv.Itoa(i) }},
		{"total", func(c *Config) { c.MaxAllocations = 2 }, func(i int) string { return "u" + strconv.Itoa(i) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tc.mutate)
			var relays []net.PacketConn
			for i := range 2 {
				u, p := validCreds(t, tc.user(i))
				c, _ := dialClient(t, srv, "udp", u, p)
				relay, code := allocateCode(t, c)
				if code != 0 {
					t.Fatalf("allocation %d refused with %d", i, code)
				}
				relays = append(relays, relay)
			}
			u, p := validCreds(t, tc.user(2))
			c, _ := dialClient(t, srv, "tcp", u, p)
			if _, code := allocateCode(t, c); code != int(stun.CodeAllocQuotaReached) {
				t.Fatalf("third allocation: code %d, want 486", code)
			}
			// Freeing one admits the next.
			if err := relays[0].Close(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return srv.Allocations() == 1 })
			c2, _ := dialClient(t, srv, "udp", u, p)
			if _, code := allocateCode(t, c2); code != 0 {
				t.Fatalf("allocation after one was freed: code %d", code)
			}
			if srv.Stats().QuotaRejections() != 1 {
				t.Fatalf("quota rejections = %d, want 1", srv.Stats().QuotaRejections())
			}
		})
	}
}

// TestAllocationReplacedBeforeItsDeletionIsCounted: pion may report a new
// allocation on a five-tuple before the deletion of the expired one there;
// the new one stays counted.
func TestAllocationReplacedBeforeItsDeletionIsCounted(t *testing.T) {
	t.Parallel()
	a := newAllocations()
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	a.created(src, dst, "UDP", "1:u")
	a.created(src, dst, "UDP", "2:u") // the new one, reported first
	a.deleted(src, dst, "UDP")        // the old one's late deletion
	if a.count() != 1 || !a.owns(src, "2:u") || a.owns(src, "1:u") {
		t.Fatalf("count %d, owns new %v, owns old %v; want 1, true, false", a.count(), a.owns(src, "2:u"), a.owns(src, "1:u"))
	}
}

// rawAllocate allocates from a new socket on local with the credentials
// and returns the STUN error code (0 on success). The socket, and so the
// allocation, lives until the test ends.
func rawAllocate(t *testing.T, local string, to net.Addr, user, pass string) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", local+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	nonce := challengeNonce(t, pc, to)
	return errorCode(exchange(t, pc, to, authAllocate(nonce, user, pass, "streamsync")))
}

// TestNineGuestsCannotExhaustTheRelayPorts: nine addresses of one /24,
// each with a guest's credentials, allocate all they can on a relay of 100
// ports; they are held to a quarter of the range (the /24 cap, and 1/16 of
// it per address), and an honest client elsewhere still gets a port.
func TestNineGuestsCannotExhaustTheRelayPorts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		p := turntest.RelayPorts(t, 100)
		c.RelayPortMin, c.RelayPortMax = p.Min, p.Max
	})
	to := srv.UDPAddrs()[0]
	granted := 0
	for g := range 9 {
		ip := "127.0.0." + strconv.Itoa(11+g)
		u, p := validCreds(t, "guest-"+strconv.Itoa(g))
		for range 12 {
			switch code := rawAllocate(t, ip, to, u, p); code {
			case 0:
				granted++
			case int(stun.CodeAllocQuotaReached):
			default:
				t.Fatalf("guest %s: allocate answered %d", ip, code)
			}
		}
	}
	if granted > 25 {
		t.Fatalf("nine guests of one /24 hold %d of 100 relay ports, want at most 25", granted)
	}
	u, p := validCreds(t, "honest")
	if code := rawAllocate(t, "127.0.1.20", to, u, p); code != 0 {
		t.Fatalf("an honest client after the guests: answered %d", code)
	}
	if srv.Stats().QuotaNet == 0 || srv.Stats().QuotaIP == 0 {
		t.Fatalf("486s by limit: ip %d, prefix %d; want both", srv.Stats().QuotaIP, srv.Stats().QuotaNet)
	}
	t.Logf("nine guests of one /24 got %d of 100 relay ports", granted)
}

// TestPrefixCaps: the per-/24 and per-/64 caps, and the shares of the
// relay range that bound every per-address cap.
func TestPrefixCaps(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxAllocationsPerIP, cfg.MaxAllocationsPer24, cfg.MaxAllocationsPer64 = 2, 3, 3
	now := time.Now()
	for _, tc := range []struct{ same, other string }{
		{"192.0.2.%d", "198.51.100.1"},
		{"2001:db8:1:2::%d", "2001:db8:1:3::1"},
	} {
		a := newAllocations()
		dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
		take := func(ip string, port int) (bool, string) {
			src := &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
			ok, limit := a.reserve(src, "1:u"+ip+strconv.Itoa(port), "u"+ip+strconv.Itoa(port), &cfg, now)
			if ok {
				a.created(src, dst, "UDP", "1:u"+ip+strconv.Itoa(port))
			}
			return ok, limit
		}
		for i := range 3 {
			if ok, limit := take(fmt.Sprintf(tc.same, 1+i), 1000); !ok {
				t.Fatalf("%s: allocation %d refused (%s)", tc.same, i, limit)
			}
		}
		if ok, limit := take(fmt.Sprintf(tc.same, 9), 1000); ok || limit != "prefix" {
			t.Fatalf("%s: a fourth address of the network: %v %q, want refused by prefix", tc.same, ok, limit)
		}
		if ok, limit := take(tc.other, 1000); !ok {
			t.Fatalf("another network refused (%s)", limit)
		}
	}
	cfg = DefaultConfig()
	cfg.RelayPortMin, cfg.RelayPortMax = 50000, 50999
	if ip, pfx := quotaCaps(&cfg, netip.MustParseAddr("192.0.2.1")); ip != 62 || pfx != 250 {
		t.Fatalf("caps on 1000 relay ports: %d per IP, %d per /24; want 62 and 250", ip, pfx)
	}
	if ip, pfx := quotaCaps(ptr(DefaultConfig()), netip.MustParseAddr("2001:db8::1")); ip != 256 || pfx != 512 {
		t.Fatalf("default caps: %d per IP, %d per /64; want the configured 256 and 512", ip, pfx)
	}
}

func ptr[T any](v T) *T { return &v }
