// Package turntest holds the TURN client plumbing the tests of several
// packages share: pion's client over UDP, TCP or TLS, a UDP echo peer, and
// relay port ranges that no two tests share (RelayPorts). Everything it
// opens is closed when the test ends.
package turntest

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/pion/turn/v4"
)

// Dial opens a client socket to the TURN server at addr over network
// "udp", "tcp" or "tls" (using tlsConf), framed as pion's client wants it.
func Dial(t testing.TB, network, addr string, tlsConf *tls.Config) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = pc
	case "tcp":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	case "tls":
		c, err := tls.Dial("tcp", addr, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	default:
		t.Fatalf("turntest: unknown network %q", network)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// NewClient starts pion's TURN client on conn for the server at addr.
func NewClient(t testing.TB, conn net.PacketConn, addr, user, pass string) *turn.Client {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "streamsync",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Allocate dials the server at addr over network and allocates with the
// credentials, failing the test when it cannot.
func Allocate(t testing.TB, network, addr, user, pass string, tlsConf *tls.Config) net.PacketConn {
	t.Helper()
	c := NewClient(t, Dial(t, network, addr, tlsConf), addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate over %s at %s: %v", network, addr, err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

// EchoPeer runs a UDP echo server on addr ("127.0.0.5:0" style) until the
// test ends and returns its address.
func EchoPeer(t testing.TB, addr string) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}
