package turnserver

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
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
// TCP/TLS stream inspector: it must never panic nor hold more than one
// bounded frame.
func FuzzStreamFramer(f *testing.F) {
	bind := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	f.Add(bind.Raw, uint8(3))
	f.Add(append([]byte{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0}, bind.Raw...), uint8(7))
	f.Add([]byte{0x00, 0x01, 0xff, 0xff}, uint8(1))
	srv := &Server{log: slog.New(slog.DiscardHandler), keys: newKeyCache(), unauth: newIPLimiter(), caps: newAllocationCaps()}
	st, _ := srv.newState(testConfigForFuzz())
	srv.state.Store(st)
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := &inspectedConn{Conn: a, in: inspector{srv: srv}}
		step := int(cut)%64 + 1
		for len(data) > 0 {
			k := min(step, len(data))
			c.feed(data[:k])
			data = data[k:]
			if len(c.buf) > maxFramedSTUN {
				t.Fatalf("buffered %d bytes", len(c.buf))
			}
		}
	})
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
