package turnserver

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/demux"
	"github.com/streamsync/streamsync/internal/procstat"
	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
)

// streamServer is a relay with TURN over TCP, over TLS and on a TLS port
// shared with HTTPS (internal/demux), and how to dial each.
type streamServer struct {
	srv       *Server
	clientTLS *tls.Config
	addrs     map[string]string // "tcp", "tls", "shared" -> address
}

func startStreamServer(t *testing.T, mutate func(*Config)) *streamServer {
	t.Helper()
	serverTLS, clientTLS := testcert.Loopback(t)
	serverTLS.NextProtos = []string{"h2", "http/1.1", "stun.turn"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := demux.New(ln, serverTLS, demux.DefaultConfig(), testLogger(t))
	served := make(chan error, 1)
	go func() { served <- mux.Serve() }()
	t.Cleanup(func() {
		_ = mux.Close()
		if err := <-served; err != nil {
			t.Errorf("demux: %v", err)
		}
	})
	cfg := testConfig()
	cfg.ListenTLS = []string{"127.0.0.1:0"}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: testLogger(t), TLS: serverTLS, SharedTLS: mux.TURN(), SharedTLSPort: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &streamServer{srv: srv, clientTLS: clientTLS, addrs: map[string]string{
		"tcp": srv.TCPAddrs()[0].String(), "tls": srv.TLSAddrs()[0].String(), "shared": ln.Addr().String(),
	}}
}

// dialStream opens a raw stream to one of ss's TURN listeners, TLS
// connections with the stun.turn ALPN (RFC 7443), so that the shared port
// sorts them to TURN whatever they send first.
func (ss *streamServer) dialStream(t *testing.T, transport string) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if transport == "tcp" {
		c, err := d.Dial("tcp", ss.addrs["tcp"])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	conf := ss.clientTLS.Clone()
	conf.NextProtos = []string{"stun.turn"}
	c, err := tls.DialWithDialer(d, "tcp", ss.addrs[transport], conf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// impossibleFrames are stream frame headers no honest client sends, each
// with what follows it on the wire.
var impossibleFrames = map[string][]byte{
	// 0xFFEC + 20 wraps to 0 in pion v4's 16-bit frame arithmetic.
	"stun length wrapping": stunHeader(0x0001, 0xFFEC, 12),
	// 0xFFFC + 4 wraps to 0 the same way.
	"channeldata length wrapping": append([]byte{0x40, 0x00, 0xFF, 0xFC}, make([]byte, 16)...),
	"stun length too large":       stunHeader(0x0003, 0x4000, 12),
	"channeldata too large":       append([]byte{0x40, 0x01, 0x08, 0x00}, make([]byte, 16)...),
	"stun length not aligned":     stunHeader(0x0001, 0x0005, 12),
	"no magic cookie":             {0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	"neither stun nor channel":    {0x80, 0x00, 0x00, 0x04, 1, 2, 3, 4, 5, 6, 7, 8},
	// pion would frame this ChannelData as a STUN message (it checks the
	// cookie first): the two framings would disagree.
	"channeldata posing as stun": {0x40, 0x00, 0x00, 0x10, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
}

func stunHeader(typ, length uint16, extra int) []byte {
	b := make([]byte, 20+extra)
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], length)
	binary.BigEndian.PutUint32(b[4:8], 0x2112A442)
	return b
}

// expectClosedByServer fails unless the server ends c (EOF or reset) soon.
func expectClosedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // a 401 or the like may come first
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the server kept the connection open", what)
		}
		return
	}
}

// TestImpossibleStreamFramesCloseTheConnection: a stream frame whose
// length cannot be (wrapping pion's 16-bit arithmetic, over what a STUN or
// ChannelData message can be, misaligned, or neither STUN nor ChannelData)
// closes its connection at once, over TCP, TLS and the shared HTTPS port;
// after 200 such connections the goroutines are back to where they were
// and honest allocations relay over UDP, TCP and TLS.
//
// It is not parallel: it counts the process's goroutines.
func TestImpossibleStreamFramesCloseTheConnection(t *testing.T) {
	ss := startStreamServer(t, func(c *Config) { c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8") })
	// Warm every transport up once, so that lazily started goroutines
	// (TLS, the demux) are in the baseline.
	for _, tr := range []string{"tcp", "tls", "shared"} {
		c := ss.dialStream(t, tr)
		_, _ = c.Write(impossibleFrames["stun length wrapping"])
		expectClosedByServer(t, c, tr+" warm-up")
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	cpu0, _ := procstat.Read(os.Getpid())

	names := make([]string, 0, len(impossibleFrames))
	for name := range impossibleFrames {
		names = append(names, name)
	}
	transports := []string{"tcp", "tls", "shared"}
	const attacks = 200
	for i := range attacks {
		tr, name := transports[i%len(transports)], names[i%len(names)]
		c := ss.dialStream(t, tr)
		if _, err := c.Write(impossibleFrames[name]); err != nil {
			t.Fatalf("%s over %s: write: %v", name, tr, err)
		}
		expectClosedByServer(t, c, fmt.Sprintf("%s over %s", name, tr))
		c.Close()
	}
	if got := ss.srv.Stats().StreamFramingErrors; got < attacks {
		t.Fatalf("framing errors counted %d, want >= %d", got, attacks)
	}

	var after int
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = runtime.NumGoroutine()
		if after <= before+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > before+2 {
		t.Fatalf("goroutines: %d before the attack, %d after its %d connections were closed", before, after, attacks)
	}
	time.Sleep(500 * time.Millisecond)
	cpu1, _ := procstat.Read(os.Getpid())
	t.Logf("goroutines %d before, %d after %d impossible frames; process CPU %.2fs during attack and idle check",
		before, after, attacks, cpu1.CPUSeconds-cpu0.CPUSeconds)

	peer := echoPeer(t, "127.5.5.5:0")
	for _, tr := range []string{"udp", "tcp", "tls", "shared"} {
		addr := ss.addrs[tr]
		network := tr
		switch tr {
		case "udp":
			addr = ss.srv.UDPAddrs()[0].String()
		case "shared":
			network = "tls"
		}
		u, p := validCreds(t, "honest-"+tr)
		relay := turntest.Allocate(t, network, addr, u, p, ss.clientTLS)
		if err := roundTrip(t, relay, peer, []byte("honest over "+tr)); err != nil {
			t.Fatalf("honest relay over %s after the attack: %v", tr, err)
		}
	}
}
