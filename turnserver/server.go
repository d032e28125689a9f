// Package turnserver runs the appliance's STUN/TURN relay on pion/turn v4:
// the sockets it listens on, TURN REST API credentials with secret
// rotation, a deny-by-default peer policy, quotas and relay port guards.
package turnserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"
	"github.com/streamsync/streamsync/internal/udpio"
)

// Server is a running STUN/TURN relay.
type Server struct {
	log     *slog.Logger
	stateMu sync.Mutex // serializes the writers of state (Reload, watchHostAddrs)
	state   atomic.Pointer[runtimeState]
	done    chan struct{} // closed by Close
	ready   chan struct{} // closed once pion may read requests (see takeOverNonces)
	nonces  *nonces
	wg      sync.WaitGroup // the server's own goroutines
	allocs  *allocations
	keys    *keyCache
	unauth  *ipLimiter
	caps    *allocationCaps
	conns   *connLimiter // stream connections per client address
	stats   counters
	pion    *turn.Server
	fast    *fastPath    // the ChannelData fast path of UDP clients
	loops   *udpio.Group // read every UDP socket: listeners and relays

	udpSockets int // sockets per listen_udp address, and event loops

	udp        []net.PacketConn // udp_sockets per listen_udp address
	udpAddrs   []net.Addr       // one per listen_udp address
	tcp        []*inspectedListener
	tls        []*inspectedListener // own turns: listeners (Config.ListenTLS)
	shared     *inspectedListener   // STUN found on the HTTPS port, or nil
	sharedPort int                  // public port of shared
	advertised netip.Addr           // relay IP told to clients
	host       string               // host in the turn: URLs handed out
	skew       atomic.Int64         // nanoseconds added to the clock; tests move time with it
}

// runtimeState is what a reload may replace while allocations live on.
type runtimeState struct {
	cfg     Config
	secrets []string
	policy  *PeerPolicy
	host    *hostGuard
}

// Options are what the relay takes from the rest of the appliance.
type Options struct {
	// Logger receives the relay's log lines; nil discards them.
	Logger *slog.Logger
	// TLS, when set, turns on TURN over TLS on Config.ListenTLS.
	TLS *tls.Config
	// SharedTLS, when set, is a listener of TLS connections already
	// handshaken and found to carry STUN (the HTTPS port shared with TURN,
	// e.g. 443); SharedTLSPort is the public port advertised for it.
	SharedTLS     net.Listener
	SharedTLSPort int

	// wrapStreamForTest, when set, wraps each TCP, TLS and shared
	// listener before the server serves it (to inject accept errors).
	wrapStreamForTest func(net.Listener) net.Listener
}

// New validates cfg, binds every configured listener, failing on the first
// that cannot be bound, and starts serving STUN and TURN on them.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("turn config: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:    logger,
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
		allocs: newAllocations(),
		keys:   newKeyCache(),
		unauth: newIPLimiter(),
		caps:   newAllocationCaps(),
		conns:  newConnLimiter(),
		fast:   newFastPath(),
	}
	advertised, err := advertisedIP(cfg)
	if err != nil {
		return nil, err
	}
	s.advertised = advertised
	s.host = cfg.PublicHost
	if s.host == "" {
		s.host = advertised.String()
	}
	st, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	if s.nonces, err = newNonces(s.now); err != nil {
		return nil, err
	}

	s.udpSockets = udpSocketCount(cfg) // before the loops raise GOMAXPROCS
	if s.loops, err = udpio.NewGroup(s.udpSockets, logger); err != nil {
		return nil, fmt.Errorf("start udp event loops: %w", err)
	}
	if err := s.listen(cfg, opts); err != nil {
		s.closeSockets()
		return nil, err
	}
	gen := &relayGenerator{
		loops:      s.loops,
		fast:       s.fast,
		bind:       netip.MustParseAddr(cfg.RelayBind),
		advertised: net.IP(advertised.AsSlice()),
		minPort:    cfg.RelayPortMin,
		maxPort:    cfg.RelayPortMax,
		state:      &s.state,
		stats:      &s.stats,
	}
	sc := turn.ServerConfig{
		LoggerFactory: pionLoggerFactory{log: logger},
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		EventHandler:  s.fast.events(s.events()),
	}
	for _, pc := range s.udp {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	for _, l := range s.streamListeners() {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener: l, RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	s.pion, err = turn.NewServer(sc)
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("start turn server: %w", err)
	}
	if err := takeOverNonces(s.pion, s.nonces); err != nil {
		close(s.done)
		_ = s.pion.Close()
		_ = s.loops.Close()
		return nil, fmt.Errorf("start turn server: %w", err)
	}
	close(s.ready) // pion reads requests from here on
	for _, a := range s.udpAddrs {
		logger.Info("listening", "service", "turn-udp", "addr", a.String(), "sockets", s.udpSockets)
	}
	warnBufferCaps(logger, cfg)
	if perIP, per24 := quotaCaps(&cfg, netip.IPv4Unspecified()); perIP < cfg.MaxAllocationsPerIP || per24 < cfg.MaxAllocationsPer24 {
		logger.Info("allocation caps lowered to shares of the relay port range, so that a few addresses cannot take it all",
			"relay_ports", cfg.RelayPortMax-cfg.RelayPortMin+1, "per_ip", perIP, "per_ipv4_24", per24)
	}
	if cfg.AllowLoopbackPeers {
		logger.Warn("turn.allow_loopback_peers is on: clients may relay to services on this host's loopback; for tests and benchmarks, never in production")
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watchHostAddrs(s.done)
	}()
	for _, l := range s.tcp {
		logger.Info("listening", "service", "turn-tcp", "addr", l.Addr().String())
	}
	for _, l := range s.tls {
		logger.Info("listening", "service", "turn-tls", "addr", l.Addr().String())
	}
	logger.Info("turn relay ready", "realm", cfg.Realm, "relay_ip", advertised.String(), "public_host", s.host,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	return s, nil
}

func (s *Server) newState(cfg Config) (*runtimeState, error) {
	secrets := append([]string(nil), cfg.Secrets...)
	if len(secrets) == 0 {
		secret, err := RandomSecret()
		if err != nil {
			return nil, err
		}
		secrets = []string{secret}
		s.log.Warn("no turn secret configured; generated a random one for this run (credentials die with the process)")
	}
	host, err := newHostGuard(cfg, s.advertised)
	if err != nil {
		return nil, err
	}
	return &runtimeState{
		cfg:     cfg,
		secrets: secrets,
		policy:  NewPeerPolicy(cfg.AllowedPeerRanges, cfg.DeniedPeerRanges),
		host:    host,
	}, nil
}

func (s *Server) listen(cfg Config, opts Options) error {
	in := inspector{srv: s}
	wrap := func(l net.Listener) *inspectedListener {
		if opts.wrapStreamForTest != nil {
			l = opts.wrapStreamForTest(l)
		}
		return newInspectedListener(l, in, s.conns)
	}
	for _, addr := range cfg.ListenUDP {
		group, err := listenUDPGroup(addr, s.udpSockets, cfg, s.loops,
			func() *clientConn {
				c := newClientConn(s.fast, &s.stats)
				c.admit = s.admitDatagram
				return c
			})
		if err != nil {
			return err
		}
		for _, pc := range group {
			s.udp = append(s.udp, &inspectedPacketConn{PacketConn: pc, in: in})
		}
		if ap, ok := udpAddrPort(group[0].LocalAddr()); ok {
			s.fast.listeners[ap] = group[0].sock
		}
		s.udpAddrs = append(s.udpAddrs, group[0].LocalAddr())
	}
	for _, addr := range cfg.ListenTCP {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		s.tcp = append(s.tcp, wrap(l))
	}
	if opts.TLS != nil {
		for _, addr := range cfg.ListenTLS {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen tls %s: %w", addr, err)
			}
			s.tls = append(s.tls, wrap(tls.NewListener(l, opts.TLS)))
		}
	}
	if opts.SharedTLS != nil {
		s.shared, s.sharedPort = wrap(opts.SharedTLS), opts.SharedTLSPort
	}
	return nil
}

// streamListeners are the TCP, TLS and shared listeners pion serves.
func (s *Server) streamListeners() []*inspectedListener {
	out := append(append([]*inspectedListener(nil), s.tcp...), s.tls...)
	if s.shared != nil {
		out = append(out, s.shared)
	}
	return out
}

func (s *Server) closeSockets() {
	for _, pc := range s.udp {
		_ = pc.Close()
	}
	for _, l := range s.streamListeners() {
		_ = l.Close()
	}
	_ = s.loops.Close()
}

// Reload applies a new configuration to the running relay: secrets, peer
// policy, quotas, credential TTL and bandwidth cap take effect for new
// requests while live allocations stay. Changes that need new sockets are
// refused with an error naming the key.
func (s *Server) Reload(cfg Config) error {
	old := s.state.Load().cfg
	var errs []error
	need := func(key string, same bool) {
		if !same {
			errs = append(errs, fmt.Errorf("%s: changing it needs a restart", key))
		}
	}
	need("listen_udp", slices.Equal(old.ListenUDP, cfg.ListenUDP))
	need("listen_tcp", slices.Equal(old.ListenTCP, cfg.ListenTCP))
	need("listen_tls", slices.Equal(old.ListenTLS, cfg.ListenTLS))
	need("udp_sockets", old.UDPSockets == cfg.UDPSockets)
	need("udp_receive_buffer", old.UDPReceiveBuffer == cfg.UDPReceiveBuffer)
	need("udp_send_buffer", old.UDPSendBuffer == cfg.UDPSendBuffer)
	need("relay_bind", old.RelayBind == cfg.RelayBind)
	need("relay_port_min", old.RelayPortMin == cfg.RelayPortMin)
	need("relay_port_max", old.RelayPortMax == cfg.RelayPortMax)
	need("public_ip", old.PublicIP == cfg.PublicIP)
	need("public_host", old.PublicHost == cfg.PublicHost)
	need("realm", old.Realm == cfg.Realm)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(cfg.Secrets) == 0 { // keep the secret generated at start
		cfg.Secrets = s.state.Load().secrets
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st, err := s.newState(cfg)
	if err != nil {
		return err
	}
	s.state.Store(st)
	s.keys.reset()
	return nil
}

func (s *Server) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// Close stops the relay and ends every allocation.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.pion.Close()
	err = errors.Join(err, s.loops.Close())
	s.wg.Wait()
	return err
}

// UDPAddrs returns the bound UDP listener addresses.
func (s *Server) UDPAddrs() []net.Addr {
	return append([]net.Addr(nil), s.udpAddrs...)
}

// TCPAddrs returns the bound TCP listener addresses.
func (s *Server) TCPAddrs() []net.Addr {
	out := make([]net.Addr, len(s.tcp))
	for i, l := range s.tcp {
		out[i] = l.Addr()
	}
	return out
}

// TLSAddrs returns the bound TURN-over-TLS listener addresses of
// Config.ListenTLS (not the shared port).
func (s *Server) TLSAddrs() []net.Addr {
	out := make([]net.Addr, len(s.tls))
	for i, l := range s.tls {
		out[i] = l.Addr()
	}
	return out
}

// Allocations returns the number of live allocations.
func (s *Server) Allocations() int { return s.allocs.count() }

// Stats returns a copy of the relay's counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }
