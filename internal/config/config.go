// Package config composes the appliance's TOML configuration from the
// sections its packages own, decodes it strictly and validates it whole.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	streamsync "github.com/streamsync/streamsync"
	"github.com/streamsync/streamsync/cluster"
	"github.com/streamsync/streamsync/internal/certs"
	"github.com/streamsync/streamsync/internal/httpserver"
	"github.com/streamsync/streamsync/internal/logging"
	"github.com/streamsync/streamsync/internal/metrics"
	"github.com/streamsync/streamsync/internal/secretfile"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
)

// Config is the whole configuration file.
type Config struct {
	HTTP      httpserver.Config `toml:"http"`
	TURN      turnserver.Config `toml:"turn"`
	Signaling signaling.Config  `toml:"signaling"`
	Metrics   metrics.Config    `toml:"metrics"`
	Cluster   cluster.Config    `toml:"cluster"`
	TLS       certs.Config      `toml:"tls"`
	Log       logging.Config    `toml:"log"`
}

// Default returns every section's defaults.
func Default() Config {
	return Config{
		HTTP:      httpserver.DefaultConfig(),
		TURN:      turnserver.DefaultConfig(),
		Signaling: signaling.DefaultConfig(),
		Metrics:   metrics.DefaultConfig(),
		Cluster:   cluster.DefaultConfig(),
		TLS:       certs.DefaultConfig(),
		Log:       logging.DefaultConfig(),
	}
}

// Load reads, decodes and validates the file at path; an empty path means
// the embedded default (config.example.toml). Secrets named by *_file keys
// are read too. The error lists every problem found. Warnings are dropped:
// where an operator reads the output, use LoadChecked.
func Load(path string) (Config, error) {
	cfg, _, err := LoadChecked(path)
	return cfg, err
}

// LoadChecked is Load, also returning the warnings: settings that work but
// open the appliance up (Config.Warnings), and secret files (or this file,
// when it holds secrets) that every user of the machine can read.
func LoadChecked(path string) (Config, []string, error) {
	data, name := streamsync.ExampleConfig, "embedded default config"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return Config{}, nil, fmt.Errorf("read config: %w", err)
		}
		name = path
	}
	cfg, err := decode(data)
	if err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	warnings := append(fileWarnings(cfg, path), cfg.Warnings()...)
	// Every problem at once: those of the secret files too.
	if err := errors.Join(cfg.Validate(), cfg.LoadSecrets()); err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, warnings, nil
}

// Parse decodes data over the defaults, rejecting unknown keys, and
// validates the result.
func Parse(data []byte) (Config, error) {
	cfg, err := decode(data)
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// decode decodes data over the defaults, rejecting unknown keys.
func decode(data []byte) (Config, error) {
	cfg := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		return Config{}, describe(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for _, k := range und {
			errs = append(errs, fmt.Errorf("%s: unknown key", k.String()))
		}
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// describe turns a decoder error into one line naming line, column and key.
func describe(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := fmt.Sprintf("line %d, column %d", pe.Position.Line, pe.Position.Col)
		if pe.LastKey != "" {
			msg += fmt.Sprintf(", key %s", pe.LastKey)
		}
		return fmt.Errorf("%s: %s", msg, pe.Message)
	}
	return err
}

// Validate reports every problem of every section at once, each prefixed
// with its dotted key.
func (c Config) Validate() error {
	var errs []error
	add := func(section string, err error) { errs = append(errs, prefixed(section, err)...) }
	add("http", c.HTTP.Validate())
	add("turn", c.TURN.Validate())
	add("signaling", c.Signaling.Validate())
	add("metrics", c.Metrics.Validate())
	add("cluster", c.Cluster.Validate())
	add("tls", c.TLS.Validate())
	add("log", c.Log.Validate())
	for i, s := range c.TURN.Secrets {
		if secretfile.IsPlaceholder(s) {
			errs = append(errs, fmt.Errorf("turn.secrets[%d]: is the README's placeholder %q: use a random one (openssl rand -base64 32)", i, secretfile.Placeholder))
		}
	}
	if !c.hasTURNListener() {
		errs = append(errs, errors.New("turn.listen_udp: no TURN listener: set listen_udp or listen_tcp, or [tls] for TURN over TLS"))
	}
	return errors.Join(errs...)
}

// hasTURNListener reports whether the relay would listen anywhere: UDP,
// TCP, or TLS (its own ports or the HTTPS port) when [tls] is on.
func (c Config) hasTURNListener() bool {
	if len(c.TURN.ListenUDP) > 0 || len(c.TURN.ListenTCP) > 0 {
		return true
	}
	return c.TLS.Enabled() && (len(c.TURN.ListenTLS) > 0 || c.TLS.TURNOnHTTPSPort)
}

// LoadSecrets reads the secrets that *_file keys name. Each problem is
// prefixed with its section, like Validate's.
func (c *Config) LoadSecrets() error {
	var errs []error
	for _, s := range []struct {
		section string
		err     error
	}{
		{"turn", c.TURN.LoadSecrets()},
		{"signaling", c.Signaling.LoadSecrets()},
		{"cluster", c.Cluster.LoadSecrets()},
	} {
		errs = append(errs, prefixed(s.section, s.err)...)
	}
	return errors.Join(errs...)
}

// prefixed splits err into its problems, each prefixed with section.
func prefixed(section string, err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range unjoin(err) {
		out = append(out, fmt.Errorf("%s.%w", section, e))
	}
	return out
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// Problems splits an error from Load or Parse into one line per problem.
func Problems(err error) []string {
	var out []string
	for _, e := range unjoin(err) {
		out = append(out, strings.Split(e.Error(), "\n")...)
	}
	return out
}
