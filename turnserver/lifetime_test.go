package turnserver

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
)

// refresh sends an authenticated Refresh for c's allocation through c's own
// socket, as a long call's browser does every few minutes.
func refresh(c *turn.Client, username, password string, to net.Addr) error {
	build := func(extra ...stun.Setter) *stun.Message {
		attrs := append([]stun.Setter{stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
			stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0x02, 0x58}}}, extra...)
		return stun.MustBuild(attrs...)
	}
	res, err := c.PerformTransaction(build(), to, false)
	if err != nil {
		return err
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(res.Msg); err != nil {
		return errors.New("no nonce in the 401")
	}
	res, err = c.PerformTransaction(build(stun.NewUsername(username), stun.NewRealm("streamsync"), nonce,
		stun.NewLongTermIntegrity(username, "streamsync", password), stun.Fingerprint), to, false)
	if err != nil {
		return err
	}
	if res.Msg.Type.Class != stun.ClassSuccessResponse {
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(res.Msg)
		return errors.New("refresh refused: " + code.String())
	}
	return nil
}

// TestAllocationOutlivesCredentials: an allocation made with valid
// credentials keeps refreshing and opening permissions after they expire,
// while a new allocation with the same, now expired, credentials is refused.
func TestAllocationOutlivesCredentials(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") })
	peer1 := echoPeer(t, "127.2.2.2:0")
	peer2 := echoPeer(t, "127.3.3.3:0")
	u, p, _, err := MintREST(testSecret, "alice", time.Now(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dialClient(t, srv, "udp", u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, relay, peer1, []byte("before expiry")); err != nil {
		t.Fatal(err)
	}

	srv.skew.Store(int64(time.Hour)) // the credentials are now an hour past expiry

	if err := refresh(c, u, p, srv.UDPAddrs()[0]); err != nil {
		t.Fatalf("refresh after expiry: %v", err)
	}
	if err := roundTrip(t, relay, peer2, []byte("new permission after expiry")); err != nil {
		t.Fatalf("relay to a new peer after expiry: %v", err)
	}
	if err := roundTrip(t, relay, peer1, []byte("old permission after expiry")); err != nil {
		t.Fatal(err)
	}

	c2, _ := dialClient(t, srv, "udp", u, p)
	if r, err := c2.Allocate(); err == nil {
		r.Close()
		t.Fatal("a new allocation with expired credentials succeeded")
	}
}

// TestReloadRemovesSecret: a secret dropped by a reload stops verifying at
// once, even for a client address that used it a moment before.
func TestReloadRemovesSecret(t *testing.T) {
	const a, b, c = "secret-a-0123456789abc", "secret-b-0123456789abc", "secret-c-0123456789abc"
	srv := startServer(t, func(cfg *Config) { cfg.Secrets = []string{a, b} })
	u, p, _, _ := MintREST(a, "old", time.Now(), time.Hour)
	client, _ := dialClient(t, srv, "udp", u, p)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate with the first secret: %v", err)
	}
	if err := relay.Close(); err != nil { // Refresh with lifetime 0
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.Allocations() == 0 })

	cfg := srv.state.Load().cfg
	cfg.Secrets = []string{b, c}
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r, err := client.Allocate(); err == nil {
		r.Close()
		t.Fatal("an allocation with a secret removed by the reload succeeded")
	}
	u2, p2, _, _ := MintREST(c, "new", time.Now(), time.Hour)
	c2, _ := dialClient(t, srv, "udp", u2, p2)
	if _, err := c2.Allocate(); err != nil {
		t.Fatalf("allocate with the new secret: %v", err)
	}
}
