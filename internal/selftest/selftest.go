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

	"github.com/pion/stun/v3"
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
	// Refused is set when the check failed on a TURN error response (486
	// quota reached, 508 no relay port...): the relay is up and answering,
	// but full or refusing, which a restart would not mend.
	Refused bool
}

// Check allocates twice on t and relays a datagram from one relay address
// to the other and back. It gives up when ctx ends.
func Check(ctx context.Context, t Target, c Credentials) Result {
	type outcome struct {
		rtt     time.Duration
		err     error
		closers []func()
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.rtt, o.err = roundTrip(t, c, &o.closers)
		done <- o
	}()
	select {
	case o := <-done:
		closeAll(o.closers)
		var answer *stun.TurnError
		return Result{Target: t, RTT: o.rtt, Err: o.err, Refused: errors.As(o.err, &answer)}
	case <-ctx.Done():
		// The round trip gives up by itself (pion's retransmission limit,
		// read deadlines); its sockets are closed once it has.
		go func() { closeAll((<-done).closers) }()
		return Result{Target: t, Err: fmt.Errorf("%s %s: %w", t.Transport, t.Addr, ctx.Err())}
	}
}

// closeAll runs closers last first: the allocations say goodbye (Refresh
// with lifetime 0) before their client and socket go.
func closeAll(closers []func()) {
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
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
	// B admits A (CreatePermission), then A and B exchange the ping. A
	// client may drop the first datagrams that arrive on a channel whose
	// binding it is still confirming, so each leg is tried a few times.
	if _, err := b.WriteTo([]byte("open"), a.LocalAddr()); err != nil {
		return 0, fmt.Errorf("permission: %w", err)
	}
	if err := relayLeg(a, b, ping); err != nil {
		return 0, fmt.Errorf("relay %s -> %s: %w", a.LocalAddr(), b.LocalAddr(), err)
	}
	if err := relayLeg(b, a, ping); err != nil {
		return 0, fmt.Errorf("relay %s -> %s: %w", b.LocalAddr(), a.LocalAddr(), err)
	}
	return time.Since(start), nil
}

// relayLeg sends ping from one relay address to the other until it
// arrives intact, at most legTries times.
func relayLeg(from, to net.PacketConn, ping []byte) error {
	const legTries = 5
	var err error
	for range legTries {
		if _, err = from.WriteTo(ping, to.LocalAddr()); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		var got []byte
		var src net.Addr
		for {
			got, src, err = readOne(to)
			if err != nil || bytes.Equal(got, ping) {
				break // a timeout retries; anything else ("open") is skipped
			}
		}
		if err == nil {
			if src.String() != from.LocalAddr().String() {
				return fmt.Errorf("datagram arrived from %s, want %s", src, from.LocalAddr())
			}
			return nil
		}
	}
	return err
}

func readOne(pc net.PacketConn) ([]byte, net.Addr, error) {
	buf := make([]byte, 1500)
	_ = pc.SetReadDeadline(time.Now().Add(time.Second))
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

// Dialable turns a listen address into one to dial from the same host:
// a wildcard address (0.0.0.0, ::) becomes 127.0.0.1 on the same port.
func Dialable(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return hostport
}
