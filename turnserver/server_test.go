package turnserver

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestBindingReturnsMappedAddress(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, conn := dialClient(t, srv, network, "", "")
			mapped, err := c.SendBindingRequest()
			if err != nil {
				t.Fatalf("binding: %v", err)
			}
			if local := conn.LocalAddr(); mapped.String() != local.String() {
				t.Fatalf("XOR-MAPPED-ADDRESS = %s, want the client's address %s", mapped, local)
			}
		})
	}
}

func TestAllocateAndRelayRoundTrip(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	})
	peer := echoPeer(t, "127.1.2.3:0")
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			u, p := validCreds(t, "alice")
			c, _ := dialClient(t, srv, network, u, p)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relay.Close()
			if got := relay.LocalAddr().(*net.UDPAddr).Port; got < testRelayMin || got > testRelayMax {
				t.Fatalf("relay port %d outside %d-%d", got, testRelayMin, testRelayMax)
			}
			payload := []byte(fmt.Sprintf("hello over %s \x00\xff", network))
			if err := roundTrip(t, relay, peer, payload); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if srv.Allocations() < 1 {
				t.Fatalf("server counts %d allocations", srv.Allocations())
			}
		})
	}
	if srv.Stats().PeerBytesOut == 0 || srv.Stats().PeerBytesIn == 0 {
		t.Fatalf("relayed byte counters did not move: %+v", srv.Stats())
	}
}

func TestRejectedCredentials(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.Secrets = []string{testSecret, "older-secret-0123456789"}
	})
	past := time.Now().Add(-time.Minute)
	expiredU, expiredP, _, _ := MintREST(testSecret, "alice", past, time.Second)
	validU, _ := validCreds(t, "alice")
	unknownU, unknownP, _, _ := MintREST("unknown-secret-0123456789", "alice", time.Now(), time.Hour)
	rotatedU, rotatedP, _, _ := MintREST("older-secret-0123456789", "alice", time.Now(), time.Hour)

	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"expired", expiredU, expiredP, false},
		{"wrong hmac", validU, RESTPassword(testSecret, validU+"x"), false},
		{"malformed username", "alice", RESTPassword(testSecret, "alice"), false},
		{"not a timestamp", "soon:alice:x", RESTPassword(testSecret, "soon:alice:x"), false},
		{"unknown secret", unknownU, unknownP, false},
		{"rotated secret", rotatedU, rotatedP, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Allocations()
			c, _ := dialClient(t, srv, "udp", tc.user, tc.pass)
			relay, err := c.Allocate()
			if tc.ok {
				if err != nil {
					t.Fatalf("allocate: %v", err)
				}
				relay.Close()
				return
			}
			if err == nil {
				relay.Close()
				t.Fatal("allocation succeeded, want an error response")
			}
			if after := srv.Allocations(); after != before {
				t.Fatalf("allocations went from %d to %d after a refused request", before, after)
			}
		})
	}
	if srv.Stats().AuthFailures() < 5 {
		t.Fatalf("auth failures counted %d, want >= 5", srv.Stats().AuthFailures())
	}
}
