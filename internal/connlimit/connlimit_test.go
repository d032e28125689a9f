package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::",
		"2001:db8:1:2:ffff::1%eth0": "2001:db8:1:2::",
	} {
		if got := Key(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
	if got := AddrKey(&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9}); got.String() != "2001:db8::" {
		t.Errorf("AddrKey = %s", got)
	}
}

// serve accepts on the wrapped listener and answers each connection with
// one byte, holding it open until the client closes it.
func serve(t *testing.T, lim *Limiter) (addr string, refusals func() []error) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refused []error
	ln := lim.Listener(raw, func(_ net.Addr, err error) { mu.Lock(); refused = append(refused, err); mu.Unlock() })
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = c.Write([]byte{'!'})
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return raw.Addr().String(), func() []error { mu.Lock(); defer mu.Unlock(); return append([]error(nil), refused...) }
}

// dial connects from the loopback address src and reports whether the
// server answered (true) or closed at once (false).
func dial(t *testing.T, src, addr string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	if err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read from %s: %v", src, err)
	}
	return c, n == 1
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestPerAddressCapLeavesOthersServed(t *testing.T) {
	lim := New(3, 100)
	addr, refusals := serve(t, lim)
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, ok := dial(t, "127.0.0.1", addr)
		if !ok {
			t.Fatalf("connection %d under the cap refused", i)
		}
		held = append(held, c)
	}
	for i := 0; i < 5; i++ {
		if _, ok := dial(t, "127.0.0.1", addr); ok {
			t.Fatal("a connection over the per-address cap was served")
		}
	}
	if _, ok := dial(t, "127.0.0.2", addr); !ok {
		t.Fatal("another address was refused while the first held its cap")
	}
	if got := refusals(); len(got) != 5 || !errors.Is(got[0], ErrPerAddress) {
		t.Fatalf("refusals %v, want 5 × ErrPerAddress", got)
	}
	// Closing one gives its place back.
	_ = held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for lim.Stats().Open > 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := dial(t, "127.0.0.1", addr); !ok {
		t.Fatal("a place given back was not reused")
	}
}

func TestTotalCap(t *testing.T) {
	lim := New(10, 4)
	addr, refusals := serve(t, lim)
	for i := 0; i < 4; i++ {
		if _, ok := dial(t, "127.0.0."+string(rune('1'+i)), addr); !ok {
			t.Fatalf("connection %d under the total cap refused", i)
		}
	}
	if _, ok := dial(t, "127.0.0.9", addr); ok {
		t.Fatal("a connection over the total cap was served")
	}
	if got := refusals(); len(got) != 1 || !errors.Is(got[0], ErrTotal) {
		t.Fatalf("refusals %v, want ErrTotal", got)
	}
	if s := lim.Stats(); s.Open != 4 || s.Addresses != 4 || s.RefusedTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A reverse proxy's connections carry many clients: they count only toward
// the total, never toward the proxy address's own cap.
func TestProxiesCountOnlyTowardTotal(t *testing.T) {
	l := New(2, 5)
	l.ExemptPerAddress([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/30"), netip.MustParsePrefix("2001:db8::1/128")})
	proxy := &net.TCPAddr{IP: net.ParseIP("198.51.100.2"), Port: 4000}
	proxy6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 4000}
	client := &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 4000}
	var releases []func()
	for i := range 4 {
		r, err := l.Acquire(proxy)
		if err != nil {
			t.Fatalf("proxy connection %d: %v (the per-address cap of 2 must not apply to it)", i+1, err)
		}
		releases = append(releases, r)
	}
	if _, err := l.Acquire(client); err != nil {
		t.Fatalf("client under its cap: %v", err)
	}
	if _, err := l.Acquire(proxy6); !errors.Is(err, ErrTotal) {
		t.Fatalf("sixth connection: %v, want ErrTotal (the total holds for proxies too)", err)
	}
	releases[0]()
	if _, err := l.Acquire(proxy6); err != nil {
		t.Fatalf("IPv6 proxy after a release: %v", err)
	}
	// A neighbour of a /128 proxy in its /64 is an ordinary client.
	other := &net.TCPAddr{IP: net.ParseIP("2001:db8::2"), Port: 4000}
	l2 := New(1, 5)
	l2.ExemptPerAddress([]netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")})
	if _, err := l2.Acquire(other); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Acquire(other); !errors.Is(err, ErrPerAddress) {
		t.Fatalf("second connection of a non-proxy: %v, want ErrPerAddress", err)
	}
}
