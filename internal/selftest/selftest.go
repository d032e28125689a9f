// Package selftest checks that a TURN relay works end to end, the way two
// relayed browsers use it: two clients allocate over one transport and
// exchange a datagram between their relay addresses, both ways.
package selftest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/turn/v4"
)

// Target is one TURN listener to check.
type Target struct {
	// Transport is "udp", "tcp" or "tls".
	Transport string
	// Addr is host:port to dial.
	Addr string
	// TLS configures the "tls" transport.
	TLS *tls.Config
}

// Credentials are long-term TURN credentials.
type Credentials struct {
	Username, Password, Realm string
}

// Result is the verdict for one Target.
type Result struct {
	Target Target
	Err    error         // nil when the round trip succeeded
	RTT    time.Duration // the relayed round trip, when it succeeded
}

// Check allocates twice on t and relays a datagram from one relay address
// to the other and back. It gives up when ctx ends.
func Check(ctx context.Context, t Target, c Credentials) Result {
	res := Result{Target: t}
	done := make(chan struct{})
	var closers []func()
	go func() {
		defer close(done)
		res.RTT, res.Err = roundTrip(t, c, &closers)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		res.Err = fmt.Errorf("%s %s: %w", t.Transport, t.Addr, ctx.Err())
		// closers is only appended to before done; closing the sockets
		// unblocks the pion client, then we wait for it.
		go func() { <-done }()
		return res
	}
	for _, c := range closers {
		c()
	}
	return res
}

func roundTrip(t Target, c Credentials, closers *[]func()) (time.Duration, error) {
	a, err := allocate(t, c, closers)
	if err != nil {
		return 0, fmt.Errorf("allocate: %w", err)
	}
	b, err := allocate(t, c, closers)
	if err != nil {
		return 0, fmt.Errorf("second allocate: %w", err)
	}
	ping := make([]byte, 32)
	_, _ = rand.Read(ping)
	start := time.Now()
	// B admits A (CreatePermission), A sends to B's relay address.
	if _, err := b.WriteTo([]byte("open"), a.LocalAddr()); err != nil {
		return 0, fmt.Errorf("permission: %w", err)
	}
	if _, err := a.WriteTo(ping, b.LocalAddr()); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	got, from, err := readOne(b)
	if err != nil {
		return 0, fmt.Errorf("relay %s -> %s: %w", a.LocalAddr(), b.LocalAddr(), err)
	}
	if !bytes.Equal(got, ping) || from.String() != a.LocalAddr().String() {
		return 0, errors.New("relayed datagram arrived altered or from the wrong address")
	}
	if _, err := b.WriteTo(ping, a.LocalAddr()); err != nil {
		return 0, fmt.Errorf("send back: %w", err)
	}
	for {
		back, _, err := readOne(a)
		if err != nil {
			return 0, fmt.Errorf("relay %s -> %s: %w", b.LocalAddr(), a.LocalAddr(), err)
		}
		if bytes.Equal(back, ping) { // skip B's "open"
			return time.Since(start), nil
		}
	}
}

func readOne(pc net.PacketConn) ([]byte, net.Addr, error) {
	buf := make([]byte, 1500)
	_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	return buf[:n], from, err
}

func allocate(t Target, c Credentials, closers *[]func()) (net.PacketConn, error) {
	var conn net.PacketConn
	switch t.Transport {
	case "udp":
		pc, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return nil, err
		}
		conn = pc
	case "tcp":
		nc, err := net.DialTimeout("tcp", t.Addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		conn = turn.NewSTUNConn(nc)
	case "tls":
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: t.TLS}
		nc, err := d.Dial("tcp", t.Addr)
		if err != nil {
			return nil, err
		}
		conn = turn.NewSTUNConn(nc)
	default:
		return nil, fmt.Errorf("unknown transport %q", t.Transport)
	}
	*closers = append(*closers, func() { _ = conn.Close() })
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: t.Addr,
		TURNServerAddr: t.Addr,
		Conn:           conn,
		Username:       c.Username,
		Password:       c.Password,
		Realm:          c.Realm,
	})
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, client.Close)
	if err := client.Listen(); err != nil {
		return nil, err
	}
	relay, err := client.Allocate()
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, func() { _ = relay.Close() })
	return relay, nil
}
