package turnserver

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The client-facing sockets are wrapped so that each inbound request is
// inspected before pion reads it (rate limits, nonces, credentials, caps)
// and each challenge pion writes carries a nonce bound to its client.
// pion v4's AuthHandler returns one key for a username and never sees the
// message; the key that verified a request here is remembered for it.

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

// replier sends a response to the client a message came from, on the
// socket it came on.
type replier interface {
	reply(b []byte, to net.Addr)
}

// Methods pion authenticates (RFC 8656 §6-§11): a request of another
// method (Binding) is answered without credentials, whatever it carries.
func authenticatedMethod(method uint16) bool {
	switch method {
	case methodAllocate, methodRefresh, methodCreatePermission, methodChannelBind:
		return true
	}
	return false
}

// message inspects one complete datagram or framed STUN message from src
// before pion handles it, and reports whether pion should see it.
//
// A UDP request counts against the per-address rate of unauthenticated
// requests (a 401 or a Binding answer is larger than the request, so
// unlimited answers make a reflector: coturn's unauthorized-ratelimit)
// unless its MESSAGE-INTEGRITY has been verified here: carrying the
// attribute is not enough. Requests that cannot be verified are counted
// on their socket's loop, before they are queued for pion (see
// admitDatagram); those of an authenticated method that carry the
// attribute are counted here, once it failed. Authenticated requests are
// checked here, in RFC 8489 §9.2.4's order: a nonce that was not minted
// for src, or is too old, gets 438 Stale Nonce; credentials that are
// malformed, expired, of another realm or that no secret verifies get 401
// Unauthorized (pion v4 would say 400). The key that verified is left for
// the AuthHandler. The channel cap is enforced too.
//
// local is the UDP listener's address (nil for streams): an answer to the
// five-tuple of a live allocation takes no token, so that spoofed
// requests in its client's name cannot empty the bucket and starve the
// client of the 438 that renews its nonce.
func (in inspector) message(b []byte, src, local net.Addr, r replier, datagram bool) (keep bool) {
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
	if !countedOnLoop(method, integrity) {
		verified, answer := in.authenticated(b, src, st)
		if !verified && !(answer != nil && in.srv.fast.allocated(src, local)) && !in.unauthenticated(src, st, datagram) {
			return false
		}
		if answer != nil {
			r.reply(answer, src)
			return false
		}
	}
	if method == methodChannelBind && !in.srv.caps.admitChannel(src, channelNumber(b), st.cfg.MaxChannelsPerAllocation) {
		in.srv.stats.ChannelCapRejections.Add(1)
		return false
	}
	return true
}

// countedOnLoop reports whether a UDP request is counted against the
// unauthenticated rate on its socket's loop: every request but one of an
// authenticated method carrying MESSAGE-INTEGRITY, which may verify.
func countedOnLoop(method uint16, integrity bool) bool {
	return !integrity || !authenticatedMethod(method)
}

// admitDatagram runs on a UDP listener socket's loop for each datagram
// the fast path did not relay, before it is queued for pion: a request
// that cannot carry verified credentials takes a token of its source's
// unauthenticated-request bucket, and is dropped without one. So a flood
// of them past the rate never reaches the queue that pion's read loop
// shares with clients' authenticated requests and indications, nor costs
// pion's goroutine anything; the loops take tokens in parallel (see
// ipLimiter).
func (s *Server) admitDatagram(p []byte, src netip.Addr) bool {
	isRequest, method, integrity := stunRequest(p)
	if !isRequest || !countedOnLoop(method, integrity) {
		return true
	}
	st := s.state.Load()
	if s.unauth.allow(src, st.cfg.UnauthenticatedRate, st.cfg.UnauthenticatedBurst, time.Now()) {
		return true
	}
	s.stats.UnauthenticatedDropped.Add(1)
	return false
}

// unauthenticated takes a token of src's unauthenticated-request bucket
// for a datagram, and reports whether it may be answered. Streams cannot
// be spoofed, and are bounded per address by max_stream_conns_per_ip.
func (in inspector) unauthenticated(src net.Addr, st *runtimeState, datagram bool) bool {
	if !datagram {
		return true
	}
	if in.srv.unauth.allow(addrIP(src), st.cfg.UnauthenticatedRate, st.cfg.UnauthenticatedBurst, time.Now()) {
		return true
	}
	in.srv.stats.UnauthenticatedDropped.Add(1)
	return false
}

// inspectedPacketConn is a UDP listener socket whose inbound datagrams are
// inspected before pion handles them, and whose outbound challenges carry
// nonces bound to their client.
type inspectedPacketConn struct {
	net.PacketConn
	in      inspector
	started bool // the server's gate was passed; pion's read loop alone reads
}

func (c *inspectedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if !c.started {
		select {
		case <-c.in.srv.ready:
			c.started = true
		case <-c.in.srv.done:
			return 0, nil, net.ErrClosed
		}
	}
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.in.message(p[:n], addr, c.PacketConn.LocalAddr(), c, true) {
			return n, addr, err
		}
	}
}

// WriteTo binds the nonce of a challenge to its client (see bindNonce).
func (c *inspectedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.in.srv.nonces.bindNonce(p, addr)
	return c.PacketConn.WriteTo(p, addr)
}

func (c *inspectedPacketConn) reply(b []byte, to net.Addr) { _, _ = c.PacketConn.WriteTo(b, to) }
