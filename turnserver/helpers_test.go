package turnserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/internal/turntest"
)

const testSecret = "test-secret-0123456789"

// testRelayMin and testRelayMax are the relay ports of testConfig,
// reserved for this test process (turntest.ReserveRelayPorts: below Linux's
// ephemeral range, so a test listener on an ephemeral port is outside it,
// and apart from every other test's relay ports).
var testRelayMin, testRelayMax = func() (int, int) {
	p, err := turntest.ReserveRelayPorts(3000)
	if err != nil {
		panic(err)
	}
	return p.Min, p.Max
}()

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ListenUDP = []string{"127.0.0.1:0"}
	cfg.ListenTCP = []string{"127.0.0.1:0"}
	cfg.RelayBind = "127.0.0.1"
	cfg.RelayPortMin = testRelayMin
	cfg.RelayPortMax = testRelayMax
	cfg.Secrets = []string{testSecret}
	// Tests relay to echo peers on loopback (listed in allowed_peer_ranges
	// where they do); the host guard's own tests turn this off.
	cfg.AllowLoopbackPeers = true
	return cfg
}

// startServer runs a relay on loopback with testConfig changed by mutate.
func startServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("invalid test config: %v", err)
	}
	s, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dialClient returns a started pion client of srv over network "udp" or
// "tcp", with the given credentials, and the socket it uses.
func dialClient(t testing.TB, srv *Server, network, username, password string) (*turn.Client, net.PacketConn) {
	t.Helper()
	var conn net.PacketConn
	var addr string
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = pc, srv.UDPAddrs()[0].String()
	case "tcp":
		c, err := net.Dial("tcp", srv.TCPAddrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), srv.TCPAddrs()[0].String()
	default:
		t.Fatalf("network %q", network)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          "streamsync",
		RTO:            100 * time.Millisecond,
		LoggerFactory:  pionLoggerFactory{log: testLogger(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return c, conn
}

// validCreds mints credentials for user with the test secret.
func validCreds(t testing.TB, user string) (string, string) {
	t.Helper()
	u, p, _, err := MintREST(testSecret, user, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return u, p
}

// roundTrip sends payload from relay to peer and waits for the echo.
func roundTrip(t testing.TB, relay net.PacketConn, peer net.Addr, payload []byte) error {
	t.Helper()
	if _, err := relay.WriteTo(payload, peer); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	_ = relay.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer func() { _ = relay.SetReadDeadline(time.Time{}) }()
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		return err
	}
	if from.String() != peer.String() {
		return errors.New("echo from " + from.String() + ", want " + peer.String())
	}
	if !bytes.Equal(buf[:n], payload) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// expectSilence reports an error if pc receives anything within wait.
func expectSilence(pc net.PacketConn, wait time.Duration) error {
	buf := make([]byte, 2048)
	_ = pc.SetReadDeadline(time.Now().Add(wait))
	n, from, err := pc.ReadFrom(buf)
	if err == nil {
		return fmt.Errorf("received %d bytes from %s", n, from)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoPeer runs a UDP echo server on addr until the test ends.
func echoPeer(t testing.TB, addr string) *net.UDPAddr { return turntest.EchoPeer(t, addr) }

// countAnswers counts the datagrams pc receives until it stays quiet for
// half a second.
func countAnswers(pc net.PacketConn) int {
	answers := 0
	buf := make([]byte, 1500)
	for {
		_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return answers
		}
		answers++
	}
}
