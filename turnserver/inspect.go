package turnserver

import (
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
