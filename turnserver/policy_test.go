package turnserver

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var deniedSpellings = []string{
	"127.1.2.3", "::ffff:127.1.2.3", "0.0.0.0", "10.1.2.3", "169.254.169.254",
	"::ffff:169.254.169.254", "::1", "::", "::127.1.2.3", "64:ff9b::a01:203",
	"2002:a01:203::1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "224.0.0.1",
	"fe80::1", "fd00::1", "ff02::1", "255.255.255.255",
}

func TestPeerPolicyDefaultDenies(t *testing.T) {
	t.Parallel()
	p := NewPeerPolicy(nil, nil)
	for _, s := range deniedSpellings {
		if ok, _ := p.Check(netip.MustParseAddr(s)); ok {
			t.Errorf("%s allowed by the default policy", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"} {
		if ok, reason := p.Check(netip.MustParseAddr(s)); !ok {
			t.Errorf("public %s refused (%s)", s, reason)
		}
	}
}

func TestPeerPolicyAllowedWins(t *testing.T) {
	t.Parallel()
	p := NewPeerPolicy(mustPrefixes("10.0.0.0/8"), mustPrefixes("8.8.8.0/24"))
	cases := map[string]bool{
		"10.1.2.3":        true,  // allowed wins over the built-in list
		"::ffff:10.1.2.3": true,  // in every spelling
		"8.8.8.8":         false, // denied by config
		"::ffff:8.8.8.8":  false,
		"127.0.0.1":       false,
	}
	for s, want := range cases {
		if ok, _ := p.Check(netip.MustParseAddr(s)); ok != want {
			t.Errorf("Check(%s) = %v, want %v", s, ok, want)
		}
	}
}

// TestCreatePermissionPolicy drives CreatePermission through pion's client:
// every denied spelling is refused by default and admitted once its range
// is in allowed_peer_ranges (loopback with allow_loopback_peers, as the
// tests run), except 0.0.0.0, which is this host whatever is allowed.
func TestCreatePermissionPolicy(t *testing.T) {
	t.Parallel()
	targets := []string{"127.1.2.3", "::ffff:127.1.2.3", "0.0.0.0", "10.1.2.3",
		"169.254.169.254", "::ffff:169.254.169.254", "::1"}
	never := map[string]bool{"0.0.0.0": true}
	deny := startServer(t, nil)
	allow := startServer(t, func(c *Config) {
		c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8", "0.0.0.0/8", "10.0.0.0/8",
			"169.254.0.0/16", "::1/128")
	})
	for _, target := range targets {
		peer := &net.UDPAddr{IP: net.ParseIP(target), Port: 9}
		u, p := validCreds(t, "alice")
		c, _ := dialClient(t, deny, "udp", u, p)
		if _, err := c.Allocate(); err != nil {
			t.Fatalf("allocate: %v", err)
		}
		if err := c.CreatePermission(peer); err == nil {
			t.Errorf("default policy: CreatePermission to %s succeeded", target)
		}
		c2, _ := dialClient(t, allow, "udp", u, p)
		if _, err := c2.Allocate(); err != nil {
			t.Fatalf("allocate: %v", err)
		}
		switch err := c2.CreatePermission(peer); {
		case never[target] && err == nil:
			t.Errorf("allowed range: CreatePermission to %s (this host) succeeded", target)
		case !never[target] && err != nil:
			t.Errorf("allowed range: CreatePermission to %s: %v", target, err)
		}
	}
	if got := deny.Stats().PermissionDenials; got < uint64(len(targets)) {
		t.Fatalf("permission denials counted %d, want >= %d", got, len(targets))
	}
}

// TestOwnAddressOnlyRelayPorts: with the relay on 127.0.0.1, a client may
// reach another client's relay address there, but nothing outside the relay
// port range, whichever spelling it uses.
func TestOwnAddressOnlyRelayPorts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	victim, err := net.ListenPacket("udp4", "127.0.0.1:0") // ephemeral: outside the test relay range
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	vport := victim.LocalAddr().(*net.UDPAddr).Port

	u, p := validCreds(t, "mallory")
	c, _ := dialClient(t, srv, "udp", u, p)
	relayA, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		dst := &net.UDPAddr{IP: net.ParseIP(spelling), Port: vport}
		if _, err := relayA.WriteTo([]byte("probe"), dst); err != nil {
			t.Fatalf("write via relay to %s: %v", dst, err)
		}
	}
	if err := expectSilence(victim, 500*time.Millisecond); err != nil {
		t.Fatalf("a local service outside the relay range got relayed data: %v", err)
	}
	if srv.Stats().RelayDropsPolicy < 2 {
		t.Fatalf("policy drops counted %d, want >= 2", srv.Stats().RelayDropsPolicy)
	}

	// A second client's relay address on the same IP is reachable.
	u2, p2 := validCreds(t, "bob")
	c2, _ := dialClient(t, srv, "tcp", u2, p2)
	relayB, err := c2.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.CreatePermission(relayA.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relayA.WriteTo([]byte("to bob"), relayB.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = relayB.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := relayB.ReadFrom(buf)
	if err != nil {
		t.Fatalf("relay to relay: %v", err)
	}
	if string(buf[:n]) != "to bob" || from.String() != relayA.LocalAddr().String() {
		t.Fatalf("got %q from %s", buf[:n], from)
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"::ffff:1.2.3.4": "1.2.3.4",
		"::1.2.3.4":      "1.2.3.4",
		"::1":            "::1",
		"::":             "::",
		"1.2.3.4":        "1.2.3.4",
		"2001:db8::1":    "2001:db8::1",
	}
	for in, want := range cases {
		if got := Canonical(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Canonical(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestListenPortInsideRelayRangeRefused(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.ListenUDP = []string{"0.0.0.0:50000"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "listen_udp[0]: port inside the relay port range") {
		t.Fatalf("got %v", err)
	}
}
