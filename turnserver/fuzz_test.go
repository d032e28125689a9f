package turnserver

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
)

func FuzzParseRESTUsername(f *testing.F) {
	for _, s := range []string{"1700000000:alice", "alice:1700000000", "1700000000", ":", "", "1:2:3", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseRESTUsername(s)
		if err != nil {
			return
		}
		if u.Expiry.Unix() <= 0 {
			t.Fatalf("accepted %q with expiry %v", s, u.Expiry)
		}
		if len(u.User) >= len(s) {
			t.Fatalf("user %q not shorter than username %q", u.User, s)
		}
	})
}

// FuzzStreamFramer feeds arbitrary bytes, cut at arbitrary points, to the
// TCP/TLS stream framer: it never panics, never buffers more than a frame
// and a read, and pion's own framer, reading what ours passes on (cut at
// other points), finds exactly the same frames and never one of 0 bytes
// (pion v4.1.4's spin).
func FuzzStreamFramer(f *testing.F) {
	bind := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	f.Add(bind.Raw, uint8(3))
	f.Add(append([]byte{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0}, bind.Raw...), uint8(7))
	f.Add([]byte{0x00, 0x01, 0xff, 0xff}, uint8(1))
	f.Add(append([]byte{0x40, 0x00, 0x00, 0x00}, bind.Raw...), uint8(2))
	for _, frame := range impossibleFrames {
		f.Add(append(append([]byte(nil), bind.Raw...), frame...), uint8(5))
	}
	srv := fuzzServer()
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		c := &inspectedConn{Conn: &chunkConn{}, in: inspector{srv: srv}}
		step := int(cut)%64 + 1
		var lengths []int
		for rest := data; len(rest) > 0; {
			k := min(step, len(rest))
			before := len(c.ready)
			err := c.frame(rest[:k])
			for off := before; off < len(c.ready); {
				n, _ := frameLength(c.ready[off:])
				lengths = append(lengths, n)
				off += n
			}
			if err != nil {
				break
			}
			rest = rest[k:]
			if len(c.pending) > maxStreamFrame+step {
				t.Fatalf("buffered %d bytes", len(c.pending))
			}
		}
		pc := turn.NewSTUNConn(&chunkConn{data: c.ready, step: step%7 + 1})
		buf := make([]byte, pionMTU)
		left := len(c.ready)
		for i, want := range lengths {
			n, _, err := pc.ReadFrom(buf)
			if errors.Is(err, io.EOF) && left < 9 {
				break // pion needs 9 bytes to judge a frame: a short last one waits for more
			}
			if err != nil || n != want {
				t.Fatalf("frame %d: pion read %d bytes (%v), ours was %d", i, n, err, want)
			}
			left -= n
		}
	})
}

// chunkConn is a net.Conn that reads data step bytes at a time and
// discards what is written.
type chunkConn struct {
	net.Conn
	data []byte
	step int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(c.step, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error) { return len(p), nil }

func (c *chunkConn) Close() error { return nil }

func (c *chunkConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// fuzzServer is the part of a Server the inspector uses.
func fuzzServer() *Server {
	srv := &Server{log: slog.New(slog.DiscardHandler), keys: newKeyCache(), unauth: newIPLimiter(), caps: newAllocationCaps(), allocs: newAllocations()}
	st, _ := srv.newState(testConfigForFuzz())
	srv.state.Store(st)
	srv.nonces, _ = newNonces(srv.now)
	return srv
}

func FuzzSTUNRequest(f *testing.F) {
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.NewUsername("1:u"), stun.NewShortTermIntegrity("p")).Raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		isReq, _, mi := stunRequest(b)
		if mi && !isReq {
			t.Fatal("integrity reported on a non-request")
		}
	})
}

func testConfigForFuzz() Config {
	cfg := DefaultConfig()
	cfg.Secrets = []string{testSecret, "second-secret-0123456789"}
	cfg.CredentialTTL = time.Hour
	return cfg
}
