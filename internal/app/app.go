// Package app assembles the appliance from its parts (TURN relay, signaling,
// call page, HTTP server) and runs their lifecycle: bind everything first,
// serve, then shut down in order within a bound.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/streamsync/streamsync/cluster"
	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/connlimit"
	"github.com/streamsync/streamsync/internal/logging"
	"github.com/streamsync/streamsync/internal/metrics"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
	"github.com/streamsync/streamsync/web"
)

// App is the whole appliance, bound and ready to serve.
type App struct {
	// start is the config the parts were built with; it never changes, so
	// what cannot be reloaded is read from it without a lock.
	start config.Config
	mu    sync.Mutex    // serializes reloads and guards cfg
	cfg   config.Config // the config in force, after reloads
	log   *slog.Logger
	level *slog.LevelVar

	turn   *turnserver.Server
	sig    *signaling.Server
	clu    *cluster.Registry // nil unless cluster.enabled
	httpLn net.Listener      // capped by conns
	http   *http.Server
	conns  *httpConns // caps on the page's ports' connections
	health health

	metricsLn  net.Listener // nil when metrics.listen is ""
	metricsSrv *http.Server
	tls        *tlsParts // nil when [tls] is off
	handler    http.Handler

	keysFromSecrets bool // signaling's keys are derived from turn.secrets: a reload rotates them
}

// New binds every listener and builds every part; it fails, naming the
// address, if any listener cannot be bound. level is the logger's level,
// which Reload changes; it may be nil.
func New(cfg config.Config, log *slog.Logger, level *slog.LevelVar) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, level: level}
	a.health.interval = cfg.Metrics.SelfTestInterval
	defer func() {
		if err != nil {
			a.abandon()
		}
	}()
	a.conns = newHTTPConns(cfg.HTTP, cfg.Signaling.TrustedProxies, log.With("component", "http"))
	var turnOpts turnserver.Options
	if cfg.TLS.Enabled() {
		if a.tls, turnOpts, err = setupTLS(&a.cfg, a.conns, log); err != nil {
			return nil, err
		}
	}
	a.start = a.cfg // setupTLS may have chosen public_host
	turnOpts.Logger = log.With("component", "turn")
	a.turn, err = turnserver.New(a.cfg.TURN, turnOpts)
	if err != nil {
		return nil, err
	}
	sigOpts := signaling.Options{Logger: log.With("component", "signaling"), ICE: a.turn.ICE}
	keys, source, keyPath, err := signaling.LoadKeys(cfg.Signaling, cfg.TURN.Secrets)
	if err != nil {
		return nil, err
	}
	a.keysFromSecrets = source == signaling.KeysFromSecrets
	sigOpts.Keys = keys
	switch source {
	case signaling.KeysRandom:
		log.Warn("meetings end at a restart: set turn.secrets or signaling.state_dir to keep them (room ids and resume tokens are signed with a random key)")
	case signaling.KeysFromFile:
		log.Info("meetings survive a restart", "keys", string(source), "path", keyPath)
	default:
		log.Info("meetings survive a restart", "keys", string(source))
	}
	if cfg.Cluster.Enabled && source != signaling.KeysFromSecrets {
		log.Warn("cluster nodes sign room ids and resume tokens with keys of their own: give every node the same turn.secrets so that any node takes back places after a restart")
	}
	if cfg.Cluster.Enabled {
		a.clu, err = cluster.New(cfg.Cluster, cluster.OptionsFor(cfg.Signaling, log.With("component", "cluster")))
		if err != nil {
			return nil, err
		}
		sigOpts.Registry = a.clu
	}
	if a.sig, err = signaling.New(cfg.Signaling, sigOpts); err != nil {
		return nil, err
	}
	if cfg.Metrics.Listen != "" {
		if a.metricsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return nil, fmt.Errorf("listen metrics %s: %w", cfg.Metrics.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(metrics.Sources{
			TURN: a.turn, Signaling: a.sig, Cluster: a.clu, SelfTest: a.health.state,
			Certificates: a.certExpiries(),
			HTTPConns:    a.conns.lim.Stats,
			TLSPending: func() (connlimit.Stats, bool) {
				if a.tls == nil {
					return connlimit.Stats{}, false
				}
				return a.tls.mux.PendingStats(), true
			},
		}))
		a.mountHealth(mux, true)
		a.metricsSrv = a.newHTTPServer(mux)
		log.Info("listening", "service", "metrics", "addr", a.metricsLn.Addr().String())
	}
	// The page's listener is bound last: "listening service=http" says
	// everything is up.
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP.Listen, err)
	}
	a.httpLn = a.conns.listener(httpLn)
	mux := http.NewServeMux()
	mux.Handle("/ws", a.sig)
	a.mountHealth(mux, false)
	webOpts := web.Options{Logger: log.With("component", "web")}
	if a.clu != nil {
		webOpts.ConnectTo = a.clu.LiveNodeURLs // the page may fail over to them
	}
	mux.Handle("/", web.Handler(webOpts))
	a.handler = withHostGuard(a.start, mux)
	a.http = a.newHTTPServer(a.handler)
	a.http.ConnState = a.conns.connState
	log.Info("listening", "service", "http", "addr", a.httpLn.Addr().String(),
		"url", "http://"+a.httpLn.Addr().String()+"/")
	return a, nil
}

func (a *App) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: a.start.HTTP.ReadHeaderTimeout,
		IdleTimeout:       a.start.HTTP.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
}

// mountHealth serves /healthz and /readyz; with detail (the metrics
// listener) /readyz says why, on the public listener only whether.
func (a *App) mountHealth(mux *http.ServeMux, detail bool) {
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { a.readyz(w, r, detail) })
}

// abandon undoes a New that failed part way: whatever was built is
// closed, in the reverse order of its making.
func (a *App) abandon() {
	if a.httpLn != nil {
		_ = a.httpLn.Close()
	}
	if a.metricsLn != nil {
		_ = a.metricsLn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	switch {
	case a.sig != nil:
		_ = a.sig.Shutdown(ctx) // closes its registry, the cluster's too
	case a.clu != nil:
		_ = a.clu.Close()
	}
	if a.turn != nil {
		_ = a.turn.Close()
	}
	if a.tls != nil {
		_ = a.tls.shutdown(ctx)
	}
}

// Run serves until ctx is done or a server fails, then shuts down in order
// (HTTP and WebSockets, then the relay) within http.shutdown_timeout.
// It returns nil after a shutdown asked for by ctx.
func (a *App) Run(ctx context.Context) error {
	served := make(chan error, 8) // every server reports at most one failure
	go func() {
		if err := a.http.Serve(a.httpLn); !errors.Is(err, http.ErrServerClosed) {
			served <- fmt.Errorf("http: %w", err)
		}
	}()
	if a.metricsSrv != nil {
		go func() {
			if err := a.metricsSrv.Serve(a.metricsLn); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	var tlsErr error
	if a.tls != nil {
		tlsErr = a.serveTLS(ctx, a.handler, served)
	}
	testCtx, stopTests := context.WithCancel(ctx)
	defer stopTests()
	if tlsErr == nil {
		go a.selfTestLoop(testCtx)
	}

	var runErr error
	if tlsErr != nil {
		runErr = tlsErr
	} else {
		select {
		case <-ctx.Done():
			a.log.Info("shutting down", "grace", a.start.HTTP.ShutdownTimeout.String())
		case err := <-served:
			runErr = err
		}
	}
	stopTests()
	shutdownErr := a.shutdown(a.start.HTTP.ShutdownTimeout)
	return errors.Join(runErr, shutdownErr)
}

// shutdown stops taking requests, closes WebSockets with a close frame
// (hijacked connections are not closed by http.Server.Shutdown), then stops
// the relay.
func (a *App) shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var errs []error
	sigDone := make(chan error, 1)
	go func() { sigDone <- a.sig.Shutdown(ctx) }()
	if err := a.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = a.http.Close()
	}
	if a.metricsSrv != nil {
		_ = a.metricsSrv.Shutdown(ctx)
	}
	if a.tls != nil {
		if err := a.tls.shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := <-sigDone; err != nil {
		errs = append(errs, fmt.Errorf("signaling shutdown: %w", err))
	}
	if err := a.turn.Close(); err != nil {
		errs = append(errs, fmt.Errorf("turn shutdown: %w", err))
	}
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// Reload applies cfg to the running parts where that needs no restart:
// log level and the relay's secrets, peer policy and limits, and re-reads
// the certificate files. A change that needs a restart is refused, naming
// the key, and nothing is applied.
func (a *App) Reload(cfg config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case cfg.HTTP != a.cfg.HTTP:
		return errors.New("http: changing it needs a restart")
	case cfg.Metrics != a.cfg.Metrics:
		return errors.New("metrics: changing it needs a restart")
	case !reflect.DeepEqual(cfg.Signaling, a.cfg.Signaling):
		return errors.New("signaling: changing it needs a restart")
	case !reflect.DeepEqual(cfg.Cluster, a.cfg.Cluster):
		return errors.New("cluster: changing it needs a restart")
	case !reflect.DeepEqual(cfg.TLS, a.cfg.TLS):
		return errors.New("tls: changing it needs a restart (replaced certificate files are picked up without one)")
	case cfg.Log.Format != a.cfg.Log.Format:
		return errors.New("log.format: changing it needs a restart")
	}
	if a.tls != nil && cfg.TURN.PublicHost == "" {
		cfg.TURN.PublicHost = a.tls.host // as setupTLS chose at start
	}
	// The relay refuses a change that needs a restart before it applies
	// anything, so a refusal here leaves everything as it was.
	if err := a.turn.Reload(cfg.TURN); err != nil {
		return fmt.Errorf("turn.%w", err)
	}
	if a.keysFromSecrets && len(cfg.TURN.Secrets) > 0 {
		a.sig.SetKeys(signaling.DeriveKeys(cfg.TURN.Secrets)) // rotated with the secrets
	}
	if a.level != nil {
		_ = logging.SetLevel(a.level, cfg.Log)
	}
	a.cfg = cfg
	if a.tls != nil {
		if err := a.tls.certs.Reload(); err != nil {
			return fmt.Errorf("tls: certificate files not reloaded, the previous certificate stays (the rest was applied): %w", err)
		}
	}
	return nil
}
