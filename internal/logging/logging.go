// Package logging builds the process logger from the [log] section.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Config is the [log] section.
type Config struct {
	// Level is the least severe level written: "debug", "info", "warn" or
	// "error". Default "info".
	Level string `toml:"level"`
	// Format is "text" (logfmt) or "json". Default "text".
	Format string `toml:"format"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config { return Config{Level: "info", Format: "text"} }

// Validate reports every problem of c, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("level: %w", err))
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("format: must be \"text\" or \"json\" (got %q)", c.Format))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error (got %q)", s)
}

// New returns a logger writing to w as c says, and the level variable that
// a reload may change. Under systemd (JOURNAL_STREAM set) the text format
// leaves out the timestamp, which journald adds itself.
func New(c Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	level, err := parseLevel(c.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}

// SetLevel applies c's level to lv (for reloads).
func SetLevel(lv *slog.LevelVar, c Config) error {
	level, err := parseLevel(c.Level)
	if err != nil {
		return err
	}
	lv.Set(level)
	return nil
}
