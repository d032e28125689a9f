// Package signaling is StreamSync's WebSocket signaling endpoint: rooms,
// targeted relay of SDP offers/answers and ICE candidates, a roster with
// public peer state, TURN credentials pushed to joined clients, and resume
// after network drops. docs/protocol.md is the wire contract.
package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/ice"
)

// Options carries the Server's collaborators.
type Options struct {
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// ICE mints ICE servers for a joined peer; nil hands out none.
	ICE ice.Minter
	// Registry holds the rooms; nil means an in-memory one sized by Config.
	Registry Registry
	// Keys sign room ids and resume tokens (HMAC-SHA256, at least 16
	// bytes each): the first signs, all verify. A server restarted with
	// the same keys takes its meetings back (docs/protocol.md §10). None
	// means a random key, so a restart ends every meeting. See LoadKeys.
	Keys [][]byte
}

// Server is the WebSocket signaling endpoint. It implements http.Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mint     ice.Minter
	reg      Registry
	adm      *admission  // connections and held places, per address and in total
	joins    *joinLimits // join rate per address
	roomsIP  *roomsPerIP // rooms each address takes part in
	pw       *passwordGuard
	budget   byteBudget // bytes queued for clients, connected or held
	origins  *originChecker
	upgrader websocket.Upgrader
	welcome  []byte // marshalled once
	limits   limits
	stats    counters
	roaming  bool      // reg is a Roaming registry: places outlive this node
	dir      Directory // reg names its nodes (nil on a single node)
	sign     *signer
	started  time.Time // when this process's server was made: tokens older come from an earlier run

	closeWaitForTest time.Duration // replaces closeHandshakeWait when set; set before serving

	mu sync.Mutex
	// guarded by mu:
	conns    map[*conn]struct{}
	sessions map[string]*session // by resume token
	closing  bool
	retaken  map[string]struct{} // places taken back after the restart by a signed token ("room/peer"): once each

	handlers sync.WaitGroup // running ServeHTTP calls that upgraded
}

// New validates cfg and returns a Server.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("signaling config: %w", err)
	}
	if cfg.CreatePasswordFile != "" {
		return nil, errors.New("signaling config: create_password_file not loaded (call LoadSecrets)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = NewMemoryRegistry(cfg.MaxRooms, cfg.MaxPeersPerRoom, cfg.EmptyRoomTTL)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		mint:     opts.ICE,
		reg:      reg,
		adm:      newAdmission(cfg.MaxConnsPerIP, cfg.MaxConnections),
		joins:    newJoinLimits(cfg),
		roomsIP:  newRoomsPerIP(cfg.MaxRoomsPerIP),
		pw:       newPasswordGuard(cfg),
		budget:   byteBudget{max: cfg.QueueBudget},
		origins:  newOriginChecker(cfg.AllowedOrigins, cfg.TrustedProxies),
		conns:    make(map[*conn]struct{}),
		sessions: make(map[string]*session),
		retaken:  make(map[string]struct{}),
		sign:     newSigner(opts.Keys),
		started:  time.Now(),
	}
	s.stats.init()
	if ro, ok := reg.(Roaming); ok {
		s.roaming = true
		ro.SetHandOff(s.handOff)
	}
	s.limits = limits{
		MaxPeersPerRoom: cfg.MaxPeersPerRoom,
		MaxMessageBytes: cfg.ReadLimit,
		MessageRate:     cfg.MessageRate,
		MessageBurst:    cfg.MessageBurst,
		JoinTimeoutMs:   cfg.JoinTimeout.Milliseconds(),
		ResumeGraceMs:   cfg.ResumeGrace.Milliseconds(),
		MaxNameLength:   maxNameLength,
	}
	if d, ok := reg.(Directory); ok {
		s.dir = d
		s.origins.members = s.memberOrigins
	}
	s.welcome = mustMarshal(s.welcomeMsg(typeWelcome))
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		// Idle connections hold no buffers of their own: reads reuse the
		// HTTP server's reader, writes take a buffer from the pool only
		// while writing.
		ReadBufferSize:  0,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.origins.check,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, http.StatusText(status), status)
		},
	}
	return s, nil
}

// ServeHTTP upgrades to a WebSocket and serves one client until it leaves.
// A plain GET (no upgrade) returns the welcome object as JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		s.serveInfo(w, r)
		return
	}
	if !s.origins.check(r) {
		s.stats.rejectedOrigin.Add(1)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ip := clientIP(r, s.cfg.TrustedProxies)
	t, admit := s.adm.admit(ipKey(ip))
	switch admit {
	case refusedPerIP:
		s.stats.rejectedIP.Add(1)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	case refusedTotal:
		s.stats.rejectedTotal.Add(1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "server full", http.StatusServiceUnavailable)
		return
	}

	// Register before upgrading so Shutdown either sees this call or it
	// sees closing and refuses.
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		t.release()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		t.release()
		s.handlers.Done()
		return // the upgrader has answered
	}
	c := newConn(s, ws, ip, t)
	if !s.track(c) {
		c.stop(closeGoingAway, "server shutting down")
	}
	// The connection is served on a goroutine of its own and this handler
	// returns: net/http then drops the request, its headers and buffers,
	// which an idle connection would otherwise hold for its whole life.
	go func() {
		defer s.handlers.Done()
		c.serve() // releases the ticket, or hands it to a held place
		s.untrack(c)
	}()
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	return !s.closing
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// isClosing reports whether Shutdown has begun.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown refuses new connections, closes every WebSocket with 1001
// "server shutting down", and waits for them to finish or ctx to end.
// Nothing is announced to the rooms (no peer-left: the others' pages keep
// their connections), sessions are dropped and the registry is closed.
// The clients take their places back with their signed tokens once the
// server is back (docs/protocol.md §6); with a Roaming registry the peers
// of this node keep their places in the cluster, to resume on another
// node within the grace period.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.stop(closeGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		// Cut the stragglers; their handlers then return promptly.
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		err = fmt.Errorf("signaling shutdown: %w", ctx.Err())
		<-done
	}

	s.mu.Lock()
	held := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		held = append(held, ss)
	}
	s.mu.Unlock()
	for _, ss := range held {
		ss.drop()
	}
	return errors.Join(err, s.reg.Close())
}

// SetKeys replaces the signing keys (a reload rotated the secrets they
// come from): ids and tokens signed by a key no longer listed stop working.
func (s *Server) SetKeys(keys [][]byte) { s.sign.set(keys) }

// writeDeadline is the deadline for one write starting now.
func (s *Server) writeDeadline() time.Time { return time.Now().Add(s.cfg.WriteTimeout) }

// closeHandshakeWait bounds how long a client may take to answer our close
// frame. Browsers answer at once; a client that does not must not hold a
// shutdown for the whole write timeout.
const closeHandshakeWait = 2 * time.Second

// closeDeadline is the deadline for the client's answer to a close frame.
func (s *Server) closeDeadline() time.Time {
	if s.closeWaitForTest > 0 {
		return time.Now().Add(s.closeWaitForTest)
	}
	return time.Now().Add(min(s.cfg.WriteTimeout, closeHandshakeWait))
}
