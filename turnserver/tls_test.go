package turnserver

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/internal/testcert"
)

func TestTURNOverTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testcert.Loopback(t)
	cfg := testConfig()
	cfg.ListenTLS = []string{"127.0.0.1:0"}
	cfg.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	srv, err := New(cfg, Options{Logger: testLogger(t), TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.TLSAddrs()[0].String()

	conn, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	u, p := validCreds(t, "tls-user")
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: turn.NewSTUNConn(conn),
		Username: u, Password: p, Realm: "streamsync", LoggerFactory: pionLoggerFactory{log: testLogger(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	defer relay.Close()
	if err := roundTrip(t, relay, echoPeer(t, "127.4.4.4:0"), []byte("over tls")); err != nil {
		t.Fatal(err)
	}

	_, turnURLs := srv.Endpoints().URLs()
	if last := turnURLs[len(turnURLs)-1]; !strings.HasPrefix(last, "turns:") || !strings.HasSuffix(last, "?transport=tcp") {
		t.Fatalf("TURN URLs %q lack turns: last", turnURLs)
	}
}

// TestStreamConnectionMustSpeakInTime: a TCP client that never sends a
// STUN message is cut after the first-message timeout, and so is one that
// trickles a message in a byte every 2 s: the timeout runs from the
// accept, not from the last byte.
func TestStreamConnectionMustSpeakInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the first-message timeout (10s)")
	}
	t.Parallel()
	srv := startServer(t, nil)
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", srv.TCPAddrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	silent, trickling := dial(), dial()
	began := time.Now()
	// A Binding request of 1596 bytes, a legal size: its header alone
	// takes 40 s at a byte every 2 s.
	header := binary.BigEndian.AppendUint16(nil, 0x0001)
	header = binary.BigEndian.AppendUint16(header, 1576)
	header = binary.BigEndian.AppendUint32(header, stunMagicCookie)
	header = append(header, make([]byte, 12)...)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for _, b := range header {
			if _, err := trickling.Write([]byte{b}); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	var wg sync.WaitGroup
	for name, conn := range map[string]net.Conn{"silent": silent, "trickling": trickling} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.SetReadDeadline(began.Add(firstMessageTimeout + 4*time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == nil {
				t.Errorf("the server sent data to the %s client", name)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("the %s connection was still open %v after it was accepted (first-message timeout %v)",
					name, time.Since(began).Round(time.Second), firstMessageTimeout)
			}
		}()
	}
	wg.Wait()
}
