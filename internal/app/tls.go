package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/streamsync/streamsync/internal/certs"
	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/demux"
	"github.com/streamsync/streamsync/turnserver"
)

// tlsParts are the HTTPS side of the appliance, present when [tls] gives a
// certificate: the certificate manager, the HTTPS port (shared with TURN
// over TLS through a demultiplexer) and the port-80 redirect.
type tlsParts struct {
	certs      *certs.Manager
	mux        *demux.Mux
	https      *http.Server
	redirectLn net.Listener // nil when http.listen_redirect is ""
	redirect   *http.Server
	host       string // the name in turns: URLs, covered by the certificate
}

// setupTLS loads the certificates and binds the HTTPS and redirect ports.
// It returns the relay options for TURN over TLS, and adjusts cfg's
// public_host to the certificate's name when unset.
func setupTLS(cfg *config.Config, conns *httpConns, log *slog.Logger) (*tlsParts, turnserver.Options, error) {
	cm, err := certs.New(cfg.TLS, certs.Options{Logger: log.With("component", "certs")})
	if err != nil {
		return nil, turnserver.Options{}, err
	}
	t := &tlsParts{certs: cm, host: cfg.TURN.PublicHost}
	if t.host == "" {
		t.host = cm.DefaultHost()
		cfg.TURN.PublicHost = t.host
	}
	if err := cm.CheckHost(t.host); err != nil {
		_ = cm.Close()
		return nil, turnserver.Options{}, fmt.Errorf("turn.public_host: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.ListenHTTPS)
	if err != nil {
		_ = cm.Close()
		return nil, turnserver.Options{}, fmt.Errorf("listen https %s: %w", cfg.HTTP.ListenHTTPS, err)
	}
	muxCfg := demux.DefaultConfig()
	muxCfg.HelloTimeout = cfg.HTTP.TLSHelloTimeout
	muxCfg.MaxPending = cfg.HTTP.TLSMaxPending
	muxCfg.MaxPendingPerAddress = cfg.HTTP.TLSMaxPendingPerAddress
	muxCfg.AdmitHTTP = conns.admit
	t.mux = demux.New(ln, cm.TLSConfig(), muxCfg, log.With("component", "tls-port"))
	if cfg.HTTP.ListenRedirect != "" {
		rln, err := net.Listen("tcp", cfg.HTTP.ListenRedirect)
		if err != nil {
			_ = t.mux.Close()
			_ = cm.Close()
			return nil, turnserver.Options{}, fmt.Errorf("listen redirect %s: %w", cfg.HTTP.ListenRedirect, err)
		}
		t.redirectLn = conns.listener(rln)
	}
	log.Info("listening", "service", "https", "addr", ln.Addr().String(), "host", t.host)
	if t.redirectLn != nil {
		log.Info("listening", "service", "redirect", "addr", t.redirectLn.Addr().String())
	}
	opts := turnserver.Options{TLS: cm.TLSConfig()}
	if cfg.TLS.TURNOnHTTPSPort {
		opts.SharedTLS = t.mux.TURN()
		opts.SharedTLSPort = publicPort(cfg.HTTP.ListenHTTPS, ln.Addr())
	} else {
		_ = t.mux.TURN().Close()
	}
	return t, opts, nil
}

// certExpiries is what /metrics reads the certificates' expiry from; nil
// without [tls].
func (a *App) certExpiries() func() []certs.Expiry {
	if a.tls == nil {
		return nil
	}
	return a.tls.certs.Expiries
}

// publicPort is the configured port, or the bound one when 0 was asked.
func publicPort(configured string, bound net.Addr) int {
	if ap, err := netip.ParseAddrPort(bound.String()); err == nil {
		return int(ap.Port())
	}
	_, p, _ := net.SplitHostPort(configured)
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

// serveTLS starts the HTTPS and redirect servers with handler, then, with
// ACME, obtains the certificates (the CA validates through the ports just
// opened). It reports serve failures on served.
func (a *App) serveTLS(ctx context.Context, handler http.Handler, served chan<- error) error {
	t := a.tls
	t.https = a.newHTTPServer(t.certs.HSTS(handler))
	t.https.ConnState = a.conns.connState
	go func() {
		if err := t.mux.Serve(); err != nil {
			served <- fmt.Errorf("tls port: %w", err)
		}
	}()
	go func() {
		if err := t.https.Serve(t.mux.HTTP()); !errors.Is(err, http.ErrServerClosed) {
			served <- fmt.Errorf("https: %w", err)
		}
	}()
	if t.redirectLn != nil {
		t.redirect = a.newHTTPServer(t.certs.HTTPHandler(t.certs.RedirectHandler(publicPort(a.start.HTTP.ListenHTTPS, t.mux.Addr()))))
		t.redirect.ConnState = a.conns.connState
		go func() {
			if err := t.redirect.Serve(t.redirectLn); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("redirect: %w", err)
			}
		}()
	}
	if err := t.certs.Obtain(ctx); err != nil {
		return err
	}
	return nil
}

// shutdown stops the HTTPS side; the relay closes the shared TURN side.
// It is safe before serveTLS ran (a start that failed part way).
func (t *tlsParts) shutdown(ctx context.Context) error {
	var errs []error
	if t.https != nil {
		if err := t.https.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("https shutdown: %w", err))
		}
	}
	switch {
	case t.redirect != nil:
		_ = t.redirect.Shutdown(ctx)
	case t.redirectLn != nil:
		_ = t.redirectLn.Close()
	}
	_ = t.mux.Close()
	_ = t.certs.Close()
	return errors.Join(errs...)
}

// selfTestTLSTarget is the relay's TURN-over-TLS listener for the
// self-test, "" without one: the certificate is checked against its name,
// not its chain (the check is about the relay; certs verifies the pair when
// loading it).
func (a *App) selfTestTLSTarget() (addr string, cfg *tls.Config) {
	if a.tls == nil {
		return "", nil
	}
	addrs := a.turn.TLSAddrs()
	if len(addrs) == 0 {
		return "", nil
	}
	return addrs[0].String(), &tls.Config{ServerName: a.tls.host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // see doc comment
}
