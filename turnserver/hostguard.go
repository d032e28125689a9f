package turnserver

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// The host guard. A TURN client chooses where the relay sends, so every
// address at which a datagram sent from here would reach this host itself
// — loopback, 0.0.0.0, any interface address, broadcast, multicast, and
// the advertised relay address (a NAT hairpins it back) — is refused,
// whatever allowed_peer_ranges says, with one exception: the relay
// addresses of this server's live allocations, IP and port, so that two
// clients of one server reach each other (browsers in one meeting do).
// Host services whose port lies in the relay range (the default range
// overlaps Linux's ephemeral ports: DNS resolvers' sockets) stay out of
// reach.

// ReasonHostAddress is why a peer on this host itself is refused.
const ReasonHostAddress = "host_address"

// hostRefreshInterval is how often the host's addresses are read again
// (DHCP, a new interface).
const hostRefreshInterval = 10 * time.Second

// alwaysHost are the ranges that reach this host (or its links) from any
// socket: "this network" and unspecified (Linux delivers 0.0.0.0 locally),
// loopback, limited broadcast and multicast (looped back to local
// listeners by default).
var alwaysHost = mustPrefixes(
	"0.0.0.0/8", "127.0.0.0/8", "255.255.255.255/32", "224.0.0.0/4",
	"::/128", "::1/128", "ff00::/8",
)

var loopbackRanges = mustPrefixes("127.0.0.0/8", "::1/128")

// hostGuard is the guard's view of the host under one runtime state;
// immutable.
type hostGuard struct {
	relay    netip.Addr          // the advertised relay address
	bind     netip.Addr          // the relay sockets' address, when not every address
	addrs    map[netip.Addr]bool // interface addresses and their directed broadcasts
	loopback bool                // allow_loopback_peers: loopback is judged as any peer
}

// hostKind is what the guard makes of a peer address.
type hostKind int

const (
	notHost   hostKind = iota // elsewhere: the peer policy decides
	relayHost                 // a relay address of ours: only live relay ports
	otherHost                 // this host: refused
)

// kind judges ip: a relay address of ours is one in its canonical
// spelling (where a datagram to it goes); a host address is refused in
// every spelling it carries, as the peer policy judges them.
func (h *hostGuard) kind(ip netip.Addr) hostKind {
	if !ip.IsValid() {
		return otherHost
	}
	ip = ip.WithZone("")
	if c := Canonical(ip); c == h.relay || h.bind.IsValid() && c == h.bind {
		return relayHost // where the datagram goes; other spellings are refused below
	}
	for _, f := range [...]netip.Addr{ip.Unmap(), Canonical(ip), embeddedIPv4(ip)} {
		if !f.IsValid() || h.loopback && containsAny(loopbackRanges, f) {
			continue
		}
		if h.addrs[f] || f == h.relay || f == h.bind && h.bind.IsValid() || containsAny(alwaysHost, f) {
			return otherHost
		}
	}
	return notHost
}

// admits judges a peer address under st: always admitted, or admitted
// only while its port is a live relay port of this server (ifLive), or
// refused with a reason. It is the one place where the host guard and the
// peer policy meet; the PermissionHandler, which sees no port, admits
// what either admits.
func (st *runtimeState) admits(ip netip.Addr) (always, ifLive bool, reason string) {
	kind := st.host.kind(ip)
	ok, reason := st.policy.Check(ip)
	switch {
	case kind == relayHost:
		// With loopback open (tests, benchmarks), a relay address on
		// loopback is also any loopback peer, e.g. another server's.
		always = ok && st.host.loopback && containsAny(loopbackRanges, Canonical(ip))
		return always, true, ""
	case !ok:
		return false, false, reason
	case kind == otherHost:
		return false, false, ReasonHostAddress
	}
	return true, false, ""
}

// admits is the send path's check of a cached verdict: the relay ports
// are looked up per datagram, so a port freed by its allocation (and
// perhaps taken by another program) is out of reach at once.
func (g *relayGenerator) admits(v *peerVerdict) bool {
	return v.ok || v.ifLive && g.ports.live(v.dst.Port())
}

// newHostGuard reads the host's addresses.
func newHostGuard(cfg Config, advertised netip.Addr) (*hostGuard, error) {
	addrs, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	h := &hostGuard{relay: Canonical(advertised), addrs: addrs, loopback: cfg.AllowLoopbackPeers}
	if bind := netip.MustParseAddr(cfg.RelayBind); !bind.IsUnspecified() {
		h.bind = Canonical(bind)
	}
	return h, nil
}

// withAddrs returns a copy of h with the host's addresses addrs.
func (h *hostGuard) withAddrs(addrs map[netip.Addr]bool) *hostGuard {
	n := *h
	n.addrs = addrs
	return &n
}

// hostAddrs returns every address of the host's interfaces and, for IPv4,
// each subnet's directed broadcast address.
func hostAddrs() (map[netip.Addr]bool, error) {
	out := make(map[netip.Addr]bool)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		out[ip] = true
		if ones, bits := ipn.Mask.Size(); ip.Is4() && bits == 32 && ones < 31 {
			b := ip.As4()
			for i := range 4 {
				b[i] |= ^ipn.Mask[len(ipn.Mask)-4+i]
			}
			out[netip.AddrFrom4(b)] = true
		}
	}
	return out, nil
}

// watchHostAddrs re-reads the host's addresses every hostRefreshInterval
// until done is closed, and publishes a new runtime state when they
// changed (the verdicts cached on relay sockets follow the state).
func (s *Server) watchHostAddrs(done <-chan struct{}) {
	t := time.NewTicker(hostRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		addrs, err := hostAddrs()
		if err != nil {
			s.log.Warn("host addresses not read again; the relay host guard keeps the last ones", "err", err)
			continue
		}
		s.stateMu.Lock()
		st := s.state.Load()
		if !maps.Equal(addrs, st.host.addrs) {
			n := *st
			n.host = st.host.withAddrs(addrs)
			s.state.Store(&n)
			s.log.Info("host addresses changed; relay host guard updated", "addresses", len(addrs))
		}
		s.stateMu.Unlock()
	}
}

// portSet is a set of UDP ports read without a lock.
type portSet struct {
	words [1 << 10]atomic.Uint64
}

func (p *portSet) add(port uint16) { p.words[port>>6].Or(1 << (port & 63)) }

func (p *portSet) remove(port uint16) { p.words[port>>6].And(^(uint64(1) << (port & 63))) }

func (p *portSet) live(port uint16) bool { return p.words[port>>6].Load()&(1<<(port&63)) != 0 }
