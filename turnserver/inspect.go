package turnserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// pion v4's AuthHandler returns one key for a username and never sees the
// message, so it cannot try several secrets. To support rotation, the
// client-facing sockets are wrapped: each authenticated TURN request is
// checked here against every configured secret before pion reads it, and
// the key that verifies is remembered for the AuthHandler to return.

const (
	keyCacheMax = 1 << 16
	keyCacheTTL = time.Minute
)

// keyCache remembers, per client address and username, which long-term
// key verified the latest request.
type keyCache struct {
	mu      sync.Mutex // guards entries
	entries map[string]cachedKey
}

type cachedKey struct {
	key []byte
	at  time.Time
}

func newKeyCache() *keyCache { return &keyCache{entries: make(map[string]cachedKey)} }

func (c *keyCache) put(k string, key []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= keyCacheMax {
		for k, e := range c.entries {
			if now.Sub(e.at) > keyCacheTTL {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= keyCacheMax {
			clear(c.entries)
		}
	}
	c.entries[k] = cachedKey{key: key, at: now}
}

// get returns the key that verified k's latest request, if that was
// within keyCacheTTL (the AuthHandler runs right after the inspection).
func (c *keyCache) get(k string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || now.Sub(e.at) > keyCacheTTL {
		return nil, false
	}
	return e.key, true
}

// forget drops what is known of k: its latest request matched no secret.
func (c *keyCache) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}

// reset forgets every key, so that a secret removed by a reload stops
// verifying at once.
func (c *keyCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// inspector looks at inbound STUN messages on the client-facing sockets.
type inspector struct {
	srv *Server
}

// message inspects one complete datagram or framed STUN message from src
// before pion handles it, and reports whether pion should see it. It
// rate-limits unauthenticated UDP requests per source IP (a 401 or a
// Binding answer is larger than the request, so unlimited answers make a
// reflector: coturn's unauthorized-ratelimit), enforces the channel cap,
// and finds which secret verifies an authenticated request.
func (in inspector) message(b []byte, src net.Addr, datagram bool) (keep bool) {
	isRequest, method, integrity := stunRequest(b)
	if !isRequest {
		return true
	}
	defer func() {
		// This runs on pion's read loop: a panic here would end the
		// process. Contain it to the one request, which is dropped.
		if r := recover(); r != nil {
			in.srv.stats.Panics.Add(1)
			in.srv.log.Error("panic while inspecting a request", "remote", src.String(), "panic", fmt.Sprint(r))
			keep = false
		}
	}()
	st := in.srv.state.Load()
	if datagram && !integrity {
		if !in.srv.unauth.allow(addrIP(src), st.cfg.UnauthenticatedRate, st.cfg.UnauthenticatedBurst, time.Now()) {
			in.srv.stats.UnauthenticatedDropped.Add(1)
			return false
		}
	}
	if method == methodChannelBind && !in.srv.caps.admitChannel(src, channelNumber(b), st.cfg.MaxChannelsPerAllocation) {
		in.srv.stats.ChannelCapRejections.Add(1)
		return false
	}
	if integrity && len(st.secrets) > 1 {
		in.matchSecret(b, src, st.secrets)
	}
	return true
}

// matchSecret finds the secret whose key verifies b's MESSAGE-INTEGRITY
// and remembers the key for the AuthHandler.
func (in inspector) matchSecret(b []byte, src net.Addr, secrets []string) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return
	}
	k := srcUserKey(src, user.String())
	for _, s := range secrets {
		key := longTermKey(s, user.String(), realm.String())
		if stun.MessageIntegrity(key).Check(m) == nil {
			in.srv.keys.put(k, key, time.Now())
			return
		}
	}
	in.srv.keys.forget(k)
}

// inspectedPacketConn is a UDP listener socket whose inbound datagrams are
// inspected before pion handles them.
type inspectedPacketConn struct {
	net.PacketConn
	in inspector
}

func (c *inspectedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.in.message(p[:n], addr, true) {
			return n, addr, err
		}
	}
}

// inspectedConn is one TCP client connection. It follows the stream's
// framing (RFC 6062 / RFC 8656 §12.5: STUN messages and 4-byte aligned
// ChannelData) to find whole STUN messages, passing every byte through.
type inspectedConn struct {
	net.Conn
	in     inspector
	buf    []byte // a partial frame header or STUN message
	skip   int    // bytes of ChannelData still to pass
	spoken bool   // a whole STUN message has arrived
}

// Deadlines on stream connections: a client must send its first STUN
// message (after any TLS handshake) promptly, and a connection that then
// stays silent longer than any refresh interval is dropped, so idle or
// half-open connections cannot pile up.
const (
	firstMessageTimeout = 10 * time.Second
	streamIdleTimeout   = 15 * time.Minute // refreshes come every few minutes
)

// maxFramedSTUN bounds a buffered STUN message; larger ones are not inspected.
const maxFramedSTUN = 4096

// stunHeaderSize is the fixed STUN header length (RFC 8489 §5).
const stunHeaderSize = 20

func (c *inspectedConn) Read(p []byte) (int, error) {
	wait := streamIdleTimeout
	if !c.spoken {
		wait = firstMessageTimeout
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Conn.Read(p)
	c.feed(p[:n])
	return n, err
}

func (c *inspectedConn) feed(b []byte) {
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		if len(c.buf) < 4 {
			k := min(4-len(c.buf), len(b))
			c.buf = append(c.buf, b[:k]...)
			b = b[k:]
			if len(c.buf) < 4 {
				return
			}
		}
		length := int(binary.BigEndian.Uint16(c.buf[2:4]))
		if c.buf[0]&0xC0 != 0 { // ChannelData: 4-byte header, data padded to 4
			c.skip = (length + 3) &^ 3
			c.buf = c.buf[:0]
			continue
		}
		total := stunHeaderSize + length
		if total > maxFramedSTUN {
			c.skip = total - len(c.buf)
			c.buf = c.buf[:0]
			continue
		}
		k := min(total-len(c.buf), len(b))
		c.buf = append(c.buf, b[:k]...)
		b = b[k:]
		if len(c.buf) == total {
			c.spoken = true
			if !c.in.message(c.buf, c.Conn.RemoteAddr(), false) {
				// A stream cannot drop one message: an abusive client
				// loses its connection (and so its allocation).
				_ = c.Conn.Close()
			}
			c.buf = c.buf[:0]
		}
	}
}

// inspectedListener wraps accepted TCP connections in inspectedConn and
// keeps them so that Close ends them all.
type inspectedListener struct {
	net.Listener
	in    inspector
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func (l *inspectedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ic := &inspectedConn{Conn: c, in: l.in}
	l.mu.Lock()
	l.conns[ic] = struct{}{}
	l.mu.Unlock()
	return &trackedConn{inspectedConn: ic, l: l}, nil
}

// Close stops accepting and closes every connection still open.
func (l *inspectedListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
	}
	return err
}

type trackedConn struct {
	*inspectedConn
	l    *inspectedListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c.inspectedConn)
		c.l.mu.Unlock()
	})
	return c.inspectedConn.Close()
}
