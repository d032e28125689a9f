package turnserver

import (
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
)

// victim is a UDP service on this host that must receive nothing through
// the relay.
type victim struct {
	pc      net.PacketConn
	port    int
	targets []string // how clients address it
}

// listenVictim binds a UDP socket on ip at a free port in [lo, hi] (or
// any port when lo is 0).
func listenVictim(t *testing.T, ip string, lo, hi int) *victim {
	t.Helper()
	for range 200 {
		port := 0
		if lo > 0 {
			port = lo + rand.IntN(hi-lo+1) //nolint:gosec // a test's port choice
		}
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = pc.Close() })
		return &victim{pc: pc, port: pc.LocalAddr().(*net.UDPAddr).Port}
	}
	t.Fatalf("no free port on %s in %d-%d", ip, lo, hi)
	return nil
}

// spelled returns ip:port for each spelling of each address.
func spelled(port int, ips ...string) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip, strconv.Itoa(port)))
	}
	return out
}

// hostIPs are the host's non-loopback addresses in the spellings a client
// may use.
func hostIPs() []string {
	ip, err := HostIP()
	if err != nil {
		return nil
	}
	return []string{ip.String(), "::ffff:" + ip.String()}
}

// probe sends a datagram through relay to every target of every victim
// (refused permissions are expected), then checks that none arrived.
func probe(t *testing.T, what string, relay net.PacketConn, victims []*victim) {
	t.Helper()
	for _, v := range victims {
		for _, target := range v.targets {
			addr, err := net.ResolveUDPAddr("udp", target)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = relay.WriteTo([]byte("probe to "+target), addr)
		}
	}
	for _, v := range victims {
		if err := expectSilence(v.pc, 300*time.Millisecond); err != nil {
			t.Errorf("%s: a service on this host at %s (port %d) got relayed data: %v", what, v.pc.LocalAddr(), v.port, err)
		}
	}
}

// probeFromEveryTransport allocates as a client over UDP, TCP and TLS,
// probes the victims from each, and returns the relays by transport.
func probeFromEveryTransport(t *testing.T, srv *Server, clientTLS *tls.Config, what string, victims []*victim) map[string]net.PacketConn {
	t.Helper()
	relays := map[string]net.PacketConn{}
	for _, network := range []string{"udp", "tcp", "tls"} {
		relays[network] = allocateOn(t, srv, clientTLS, network, "mallory-"+network)
		probe(t, what+"client over "+network, relays[network], victims)
	}
	return relays
}

// relayToRelay checks that a datagram from one allocation reaches the
// other's relay address, both ways.
func relayToRelay(t *testing.T, what string, a, b net.PacketConn) {
	t.Helper()
	for _, dir := range [][2]net.PacketConn{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		_, _ = to.WriteTo([]byte("open"), from.LocalAddr()) // the permission
		var err error
		for range 5 {
			if _, err = from.WriteTo([]byte("relay to relay"), to.LocalAddr()); err != nil {
				continue
			}
			buf := make([]byte, 64)
			_ = to.SetReadDeadline(time.Now().Add(time.Second))
			var n int
			var src net.Addr
			for {
				n, src, err = to.ReadFrom(buf)
				if err != nil || string(buf[:n]) == "relay to relay" {
					break
				}
			}
			if err == nil {
				if src.String() != from.LocalAddr().String() {
					t.Fatalf("%s: datagram from %s, want %s", what, src, from.LocalAddr())
				}
				break
			}
		}
		_ = to.SetReadDeadline(time.Time{})
		if err != nil {
			t.Fatalf("%s: %s -> %s: %v", what, from.LocalAddr(), to.LocalAddr(), err)
		}
	}
}

// guardedServer runs a relay with TCP and TLS besides UDP, loopback not
// opened to clients.
func guardedServer(t *testing.T, mutate func(*Config)) (*Server, *tls.Config) {
	t.Helper()
	serverTLS, clientTLS := testcert.Loopback(t)
	cfg := testConfig()
	cfg.ListenTLS = []string{"127.0.0.1:0"}
	cfg.AllowLoopbackPeers = false
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: testLogger(t), TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, clientTLS
}

func allocateOn(t *testing.T, srv *Server, clientTLS *tls.Config, network, user string) net.PacketConn {
	t.Helper()
	addr := map[string]string{"udp": srv.UDPAddrs()[0].String(), "tcp": srv.TCPAddrs()[0].String(),
		"tls": srv.TLSAddrs()[0].String()}[network]
	u, p := validCreds(t, user)
	return turntest.Allocate(t, network, addr, u, p, clientTLS)
}

// TestHostServicesInRelayRangeUnreachable: services on this host whose
// port lies in the relay range (as DNS resolvers' ephemeral sockets do
// with the default range) receive nothing through the relay, from UDP,
// TCP and TLS clients and in every spelling, while two allocations still
// reach each other's relay addresses; once an allocation is gone its port
// is out of reach too.
func TestHostServicesInRelayRangeUnreachable(t *testing.T) {
	t.Parallel()
	srv, clientTLS := guardedServer(t, nil)
	onRelayIP := listenVictim(t, "127.0.0.1", testRelayMin, testRelayMax)
	onRelayIP.targets = spelled(onRelayIP.port, "127.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1")
	wildcard := listenVictim(t, "0.0.0.0", testRelayMin, testRelayMax)
	wildcard.targets = spelled(wildcard.port, append([]string{"127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2",
		"0.0.0.0", "::", "::1"}, hostIPs()...)...)
	outside := listenVictim(t, "127.0.0.1", 0, 0)
	outside.targets = spelled(outside.port, "127.0.0.1", "::ffff:127.0.0.1")
	victims := []*victim{onRelayIP, wildcard, outside}

	relays := probeFromEveryTransport(t, srv, clientTLS, "", victims)
	if srv.Stats().RelayDropsPolicy == 0 {
		t.Error("no datagram to the relay address was dropped")
	}
	relayToRelay(t, "udp and tcp clients", relays["udp"], relays["tcp"])
	relayToRelay(t, "udp and tls clients", relays["udp"], relays["tls"])

	// The TCP client's allocation goes; a program takes its port.
	gone := relays["tcp"].LocalAddr().(*net.UDPAddr)
	if err := relays["tcp"].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.Allocations() == 2 })
	var taker net.PacketConn
	waitFor(t, func() bool {
		var err error
		taker, err = net.ListenPacket("udp4", gone.String())
		return err == nil
	})
	t.Cleanup(func() { _ = taker.Close() })
	_, _ = relays["udp"].WriteTo([]byte("after the allocation went"), gone)
	if err := expectSilence(taker, 300*time.Millisecond); err != nil {
		t.Fatalf("a freed relay port taken by another socket got relayed data: %v", err)
	}
}

// TestHostGuardHoldsWhateverIsAllowed: with allowed_peer_ranges opening
// every address (0.0.0.0/0, ::/0), the relay still reaches no service of
// this host — a loopback one outside the relay range through 0.0.0.0, a
// wildcard-bound one through 127.0.0.2 — and relay addresses still work.
func TestHostGuardHoldsWhateverIsAllowed(t *testing.T) {
	t.Parallel()
	srv, clientTLS := guardedServer(t, func(c *Config) {
		c.AllowedPeerRanges = mustPrefixes("0.0.0.0/0", "::/0")
		c.RelayBind = "0.0.0.0"
		c.PublicIP = "127.0.0.1"
	})
	loopback := listenVictim(t, "127.0.0.1", 0, 0)
	loopback.targets = spelled(loopback.port, "0.0.0.0", "127.0.0.1", "::ffff:127.0.0.1", "::", "::1")
	wildcard := listenVictim(t, "0.0.0.0", 0, 0)
	wildcard.targets = spelled(wildcard.port, append([]string{"127.0.0.2", "127.255.255.254", "::ffff:127.0.0.2",
		"::127.0.0.2", "64:ff9b::7f00:2", "2002:7f00:2::1", "255.255.255.255", "224.0.0.1"}, hostIPs()...)...)
	victims := []*victim{loopback, wildcard}
	relays := probeFromEveryTransport(t, srv, clientTLS, "allow-all, ", victims)
	if srv.Stats().PermissionHostDenials == 0 {
		t.Error("no permission was refused as a host address")
	}
	relayToRelay(t, "allow-all, udp and tls clients", relays["udp"], relays["tls"])
}

func TestHostGuardKinds(t *testing.T) {
	t.Parallel()
	h := &hostGuard{relay: netip.MustParseAddr("203.0.113.5"), addrs: map[netip.Addr]bool{
		netip.MustParseAddr("10.0.0.7"): true, netip.MustParseAddr("10.0.0.255"): true,
	}}
	cases := map[string]hostKind{
		"203.0.113.5":        relayHost,
		"::ffff:203.0.113.5": relayHost,
		"64:ff9b::cb00:7105": otherHost, // the relay address, NAT64-spelled: not where the datagram goes
		"10.0.0.7":           otherHost,
		"10.0.0.255":         otherHost,
		"::ffff:10.0.0.7":    otherHost,
		"127.3.4.5":          otherHost,
		"0.0.0.0":            otherHost,
		"0.1.2.3":            otherHost,
		"::":                 otherHost,
		"::1":                otherHost,
		"239.1.2.3":          otherHost,
		"ff02::1":            otherHost,
		"10.0.0.8":           notHost,
		"8.8.8.8":            notHost,
	}
	for s, want := range cases {
		if got := h.kind(netip.MustParseAddr(s)); got != want {
			t.Errorf("kind(%s) = %d, want %d", s, got, want)
		}
	}
	if got := h.kind(netip.Addr{}); got != otherHost {
		t.Errorf("kind(no address) = %d, want otherHost", got)
	}
	if ok, ifLive, _ := (&runtimeState{host: h, policy: NewPeerPolicy(mustPrefixes("0.0.0.0/0"), nil)}).admits(netip.Addr{}); ok || ifLive {
		t.Error("no address admitted")
	}
	h.loopback = true
	if got := h.kind(netip.MustParseAddr("127.3.4.5")); got != notHost {
		t.Errorf("with loopback peers allowed, kind(127.3.4.5) = %d, want notHost", got)
	}
	if got := h.kind(netip.MustParseAddr("10.0.0.7")); got != otherHost {
		t.Errorf("with loopback peers allowed, kind(10.0.0.7) = %d, want otherHost", got)
	}
	var ps portSet
	ps.add(49152)
	ps.add(65535)
	if !ps.live(49152) || !ps.live(65535) || ps.live(49153) {
		t.Fatal("portSet add/live")
	}
	ps.remove(49152)
	if ps.live(49152) || !ps.live(65535) {
		t.Fatal("portSet remove")
	}
}
