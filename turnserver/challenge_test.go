package turnserver

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// udpSocket is a client socket on loopback for raw STUN exchanges.
func udpSocket(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// exchange sends raw to the server and returns the response with raw's
// transaction ID, or nil if none came within two seconds.
func exchange(t *testing.T, pc net.PacketConn, to net.Addr, raw []byte) *stun.Message {
	t.Helper()
	if _, err := pc.WriteTo(raw, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return nil
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && string(m.TransactionID[:]) == string(raw[8:20]) {
			return m
		}
	}
}

func errorCode(m *stun.Message) int {
	if m == nil {
		return -1
	}
	var code stun.ErrorCodeAttribute
	if code.GetFrom(m) != nil {
		return 0
	}
	return int(code.Code)
}

func allocateRequest(extra ...stun.Setter) []byte {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}}, extra...)
	return stun.MustBuild(setters...).Raw
}

// authAllocate is an authenticated Allocate with nonce and the given
// credentials.
func authAllocate(nonce, user, pass, realm string) []byte {
	return allocateRequest(stun.NewUsername(user), stun.NewRealm(realm), stun.NewNonce(nonce),
		stun.NewLongTermIntegrity(user, realm, pass), stun.Fingerprint)
}

// challengeNonce asks the server at to for a 401 and returns its nonce.
func challengeNonce(t *testing.T, pc net.PacketConn, to net.Addr) string {
	t.Helper()
	res := exchange(t, pc, to, allocateRequest())
	if errorCode(res) != int(stun.CodeUnauthorized) {
		t.Fatalf("unauthenticated Allocate answered %d, want 401", errorCode(res))
	}
	var nonce stun.Nonce
	var realm stun.Realm
	if nonce.GetFrom(res) != nil || realm.GetFrom(res) != nil {
		t.Fatal("the 401 carries no NONCE or REALM")
	}
	return nonce.String()
}

// rawWithIntegrityAttr returns a STUN request of type typ whose attributes
// are attrs followed by a zero-length MESSAGE-INTEGRITY: nothing verifies it.
func rawWithIntegrityAttr(typ uint16, attrs ...uint16) []byte {
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	b := append([]byte(nil), m.Raw[:stunHeaderSize]...)
	binary.BigEndian.PutUint16(b[0:2], typ)
	for _, a := range append(attrs, attrMessageIntegrity) {
		b = binary.BigEndian.AppendUint16(b, a)
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-stunHeaderSize))
	return b
}

// TestBogusIntegrityCountsAsUnauthenticated: Binding and Allocate requests
// that merely carry a MESSAGE-INTEGRITY attribute count against the
// unauthenticated rate like any other: of 2000 of each from one source,
// only the burst (and what refills while they are sent) is answered.
func TestBogusIntegrityCountsAsUnauthenticated(t *testing.T) {
	t.Parallel()
	const rate, burst = 1, 5
	srv := startServer(t, func(c *Config) {
		c.UnauthenticatedRate = rate
		c.UnauthenticatedBurst = burst
	})
	pc := udpSocket(t)
	to := srv.UDPAddrs()[0]
	binding := rawWithIntegrityAttr(0x0001)             // Binding: 24 bytes
	allocate := rawWithIntegrityAttr(0x0003, attrNonce) // Allocate with an empty NONCE: 28 bytes
	if len(binding) != 24 || len(allocate) != 28 {
		t.Fatalf("requests of %d and %d bytes", len(binding), len(allocate))
	}
	start := time.Now()
	const each = 2000
	for i := range 2 * each {
		b := binding
		if i%2 == 1 {
			b = allocate
		}
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint32(b[8:12], uint32(i)) // a transaction ID of its own
		if _, err := pc.WriteTo(b, to); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	answers := countAnswers(pc)
	allowed := burst + int(elapsed.Seconds()*rate) + 1
	t.Logf("%d of %d requests with a bogus MESSAGE-INTEGRITY answered (sent in %s)", answers, 2*each, elapsed)
	if answers > allowed {
		t.Fatalf("%d answers to %d requests with a bogus MESSAGE-INTEGRITY, want at most %d", answers, 2*each, allowed)
	}
	if answers == 0 {
		t.Fatal("not even the burst was answered")
	}
}

// TestNonceBoundToClient: a captured authenticated Allocate replayed from
// other source ports gets 438 Stale Nonce and takes nothing of the
// victim's quota; a client that retries with the 438's nonce (as Chromium
// and Firefox do) gets its allocation.
func TestNonceBoundToClient(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.MaxAllocationsPerUser = 4 })
	to := srv.UDPAddrs()[0]
	u, p := validCreds(t, "victim")
	victim := udpSocket(t)
	nonce := challengeNonce(t, victim, to)
	if len(nonce) != nonceLen || !strings.HasPrefix(nonce, noncePrefix) {
		t.Fatalf("nonce %q is not ours", nonce)
	}
	captured := authAllocate(nonce, u, p, "streamsync")
	if res := exchange(t, victim, to, captured); res == nil || res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("the victim's own Allocate: code %d", errorCode(res))
	}
	for range 32 {
		attacker := udpSocket(t)
		res := exchange(t, attacker, to, captured)
		if code := errorCode(res); code != int(stun.CodeStaleNonce) {
			t.Fatalf("a replay from %s answered %d, want 438", attacker.LocalAddr(), code)
		}
		var fresh stun.Nonce
		if fresh.GetFrom(res) != nil || fresh.String() == nonce {
			t.Fatal("the 438 carries no fresh nonce")
		}
	}
	if got := srv.Allocations(); got != 1 {
		t.Fatalf("%d allocations after 32 replays, want the victim's one", got)
	}
	if got := srv.Stats().StaleNonces; got != 32 {
		t.Fatalf("stale nonces counted %d, want 32", got)
	}
	// An honest client that holds someone else's nonce recovers in one
	// round trip, and the victim's quota still has room for it.
	honest := udpSocket(t)
	res := exchange(t, honest, to, authAllocate(nonce, u, p, "streamsync"))
	var fresh stun.Nonce
	if errorCode(res) != int(stun.CodeStaleNonce) || fresh.GetFrom(res) != nil {
		t.Fatalf("honest client with a foreign nonce: code %d", errorCode(res))
	}
	if res := exchange(t, honest, to, authAllocate(fresh.String(), u, p, "streamsync")); res == nil || res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("retry with the 438's nonce: code %d", errorCode(res))
	}
}

// TestNonceExpires: nonces live minutes, not an hour. After eleven
// minutes a nonce gets 438, and pion's client, which retries on 438 as
// browsers do, keeps relaying.
func TestNonceExpires(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") })
	to := srv.UDPAddrs()[0]
	u, p := validCreds(t, "patient")
	pc := udpSocket(t)
	nonce := challengeNonce(t, pc, to)

	client, _ := dialClient(t, srv, "udp", u, p)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	srv.skew.Store(int64(11 * time.Minute))
	if code := errorCode(exchange(t, pc, to, authAllocate(nonce, u, p, "streamsync"))); code != int(stun.CodeStaleNonce) {
		t.Fatalf("an eleven-minute-old nonce answered %d, want 438", code)
	}
	if err := roundTrip(t, relay, echoPeer(t, "127.8.8.8:0"), []byte("after the nonce expired")); err != nil {
		t.Fatalf("relay after the client's nonce expired: %v", err)
	}
}

// TestBadCredentialsGet401: credentials that are wrong, expired,
// malformed or of another realm are answered 401 Unauthorized with a
// realm and a fresh nonce (RFC 8489 §9.2.4), not 400.
func TestBadCredentialsGet401(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	to := srv.UDPAddrs()[0]
	validU, validP := validCreds(t, "alice")
	expiredU, expiredP, _, _ := MintREST(testSecret, "alice", time.Now().Add(-time.Hour), time.Minute)
	otherU, otherP, _, _ := MintREST("another-secret-0123456789", "alice", time.Now(), time.Hour)
	cases := []struct{ name, user, pass, realm, reason string }{
		{"wrong password", validU, validP + "x", "streamsync", AuthBadHMAC},
		{"unknown secret", otherU, otherP, "streamsync", AuthBadHMAC},
		{"expired", expiredU, expiredP, "streamsync", AuthExpired},
		{"malformed username", "alice", RESTPassword(testSecret, "alice"), "streamsync", AuthMalformed},
		{"another realm", validU, validP, "elsewhere", AuthRealm},
	}
	for _, tc := range cases {
		pc := udpSocket(t)
		nonce := challengeNonce(t, pc, to)
		res := exchange(t, pc, to, authAllocate(nonce, tc.user, tc.pass, tc.realm))
		if code := errorCode(res); code != int(stun.CodeUnauthorized) {
			t.Errorf("%s: answered %d, want 401", tc.name, code)
			continue
		}
		var n stun.Nonce
		var r stun.Realm
		if n.GetFrom(res) != nil || r.GetFrom(res) != nil || r.String() != "streamsync" {
			t.Errorf("%s: the 401 lacks a nonce or the realm", tc.name)
		}
	}
	if srv.Allocations() != 0 {
		t.Fatalf("%d allocations made with bad credentials", srv.Allocations())
	}
	st := srv.Stats()
	if st.AuthBadHMAC != 2 || st.AuthExpired != 1 || st.AuthMalformed != 1 || st.AuthRealm != 1 {
		t.Fatalf("auth failures by reason: hmac %d expired %d malformed %d realm %d", st.AuthBadHMAC,
			st.AuthExpired, st.AuthMalformed, st.AuthRealm)
	}
	// pion's client, as a browser, fails with 401 too, over UDP and TCP.
	for _, network := range []string{"udp", "tcp"} {
		c, _ := dialClient(t, srv, network, validU, validP+"x")
		_, err := c.Allocate()
		var te *stun.TurnError
		if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeUnauthorized {
			t.Fatalf("pion's client over %s with a wrong password: %v, want a 401", network, err)
		}
	}
}
