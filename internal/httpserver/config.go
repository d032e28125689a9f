// Package httpserver owns the [http] section: where the call page and the
// signaling WebSocket are served, and the timeouts of that server.
package httpserver

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the [http] section.
type Config struct {
	// Listen is the TCP address of the page and the WebSocket.
	// Default "127.0.0.1:8080" (http://localhost:8080).
	Listen string `toml:"listen"`
	// ListenHTTPS is the TCP address of HTTPS, used only when [tls]
	// provides a certificate; TURN over TLS shares it unless
	// tls.turn_on_https_port is false. Default ":443".
	ListenHTTPS string `toml:"listen_https"`
	// ListenRedirect answers plain HTTP with a redirect to HTTPS (and ACME
	// HTTP-01 challenges), only when [tls] is on. Default ":80"; "" = off.
	ListenRedirect string `toml:"listen_redirect"`
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris). Default "10s".
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default "120s".
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ShutdownTimeout bounds a graceful shutdown: WebSocket clients get a
	// close frame, requests in flight finish. Default "10s".
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`

	// MaxConns caps the connections of the page's ports (http.listen,
	// listen_https after the TLS handshake, listen_redirect) open at once,
	// WebSockets included; past it a new connection is closed at once. At
	// start it is lowered to half the process's file-descriptor limit
	// (RLIMIT_NOFILE), so that HTTP can never take the descriptors TURN
	// needs. Default 16384.
	MaxConns int `toml:"max_conns"`
	// MaxConnsPerAddress caps those of one client address (IPv4, or IPv6
	// /64). Default 64.
	MaxConnsPerAddress int `toml:"max_conns_per_address"`

	// TLSHelloTimeout is how long, from connecting, a client of the HTTPS
	// port has to send its TLS ClientHello; a silent one is dropped then.
	// Default "3s".
	TLSHelloTimeout time.Duration `toml:"tls_hello_timeout"`
	// TLSMaxPending caps the connections of the HTTPS port still in their
	// TLS handshake, from all clients; past it a new one is closed at once.
	// Default 1024.
	TLSMaxPending int `toml:"tls_max_pending"`
	// TLSMaxPendingPerAddress caps those of one client address (IPv4, or
	// IPv6 /64), so that one address cannot take every place. Default 16.
	TLSMaxPendingPerAddress int `toml:"tls_max_pending_per_address"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		ListenHTTPS:       ":443",
		ListenRedirect:    ":80",
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   10 * time.Second,

		MaxConns:           16384,
		MaxConnsPerAddress: 64,

		TLSHelloTimeout:         3 * time.Second,
		TLSMaxPending:           1024,
		TLSMaxPendingPerAddress: 16,
	}
}

// Validate reports every problem of c, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen: must be host:port (got %q)", c.Listen))
	}
	if _, port, err := net.SplitHostPort(c.ListenHTTPS); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen_https: must be host:port (got %q)", c.ListenHTTPS))
	}
	if c.ListenRedirect != "" {
		if _, port, err := net.SplitHostPort(c.ListenRedirect); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("listen_redirect: must be host:port or \"\" (got %q)", c.ListenRedirect))
		}
	}
	if c.ReadHeaderTimeout < time.Second || c.ReadHeaderTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("read_header_timeout: must be between 1s and 1m (got %s)", c.ReadHeaderTimeout))
	}
	if c.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("idle_timeout: must be at least 1s (got %s)", c.IdleTimeout))
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("shutdown_timeout: must be between 1s and 5m (got %s)", c.ShutdownTimeout))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max_conns: must be at least 1 (got %d)", c.MaxConns))
	}
	if c.MaxConnsPerAddress < 1 || c.MaxConnsPerAddress > c.MaxConns {
		errs = append(errs, fmt.Errorf("max_conns_per_address: must be between 1 and max_conns (got %d)", c.MaxConnsPerAddress))
	}
	if c.TLSHelloTimeout < 500*time.Millisecond || c.TLSHelloTimeout > 30*time.Second {
		errs = append(errs, fmt.Errorf("tls_hello_timeout: must be between 500ms and 30s (got %s)", c.TLSHelloTimeout))
	}
	if c.TLSMaxPending < 1 {
		errs = append(errs, fmt.Errorf("tls_max_pending: must be at least 1 (got %d)", c.TLSMaxPending))
	}
	if c.TLSMaxPendingPerAddress < 1 || c.TLSMaxPendingPerAddress > c.TLSMaxPending {
		errs = append(errs, fmt.Errorf("tls_max_pending_per_address: must be between 1 and tls_max_pending (got %d)", c.TLSMaxPendingPerAddress))
	}
	return errors.Join(errs...)
}
