package turnserver

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
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
