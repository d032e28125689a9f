package metrics

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the [metrics] section.
type Config struct {
	// Listen is the address of the Prometheus endpoint (/metrics, plus
	// /healthz and /readyz). Keep it on loopback or a private network.
	// Default "127.0.0.1:9479"; "" turns the listener off.
	Listen string `toml:"listen"`
	// SelfTestInterval is how often the relay checks itself (two
	// allocations on its own UDP and TCP listeners exchanging a datagram);
	// /readyz fails when the last check failed or is older than twice this.
	// Default "60s"; "0s" turns the periodic check off (/readyz then only
	// says the listeners are up).
	SelfTestInterval time.Duration `toml:"selftest_interval"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:9479", SelfTestInterval: time.Minute}
}

// Validate reports every problem of c, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("listen: must be host:port or \"\" (got %q)", c.Listen))
		}
	}
	if c.SelfTestInterval != 0 && c.SelfTestInterval < 5*time.Second {
		errs = append(errs, fmt.Errorf("selftest_interval: must be 0 (off) or at least 5s (got %s)", c.SelfTestInterval))
	}
	return errors.Join(errs...)
}
