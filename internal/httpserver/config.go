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
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris). Default "10s".
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default "120s".
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ShutdownTimeout bounds a graceful shutdown: WebSocket clients get a
	// close frame, requests in flight finish. Default "10s".
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   10 * time.Second,
	}
}

// Validate reports every problem of c, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen: must be host:port (got %q)", c.Listen))
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
	return errors.Join(errs...)
}
