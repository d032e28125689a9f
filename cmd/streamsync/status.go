package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/selftest"
	"github.com/streamsync/streamsync/internal/status"
)

// packagedConfig is where the Debian package puts the config; status reads
// its metrics.listen when no -config or -addr is given.
const packagedConfig = "/etc/streamsync/config.toml"

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file of the running server, for metrics.listen (default "+packagedConfig+" if present, else the embedded default)")
	addr := fs.String("addr", "", "metrics listener host:port (instead of the config's metrics.listen)")
	sample := fs.Duration("sample", time.Second, "time over which the relayed bit rate is measured")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" {
		listen, err := metricsListen(*path)
		if err != nil {
			fmt.Fprintln(stderr, "status:", err)
			return 2
		}
		*addr = selftest.Dialable(listen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second+*sample)
	defer cancel()
	r, err := status.Check(ctx, *addr, status.Options{Sample: *sample})
	if err != nil {
		fmt.Fprintf(stderr, "status: cannot read the metrics listener at %s (is streamsync running? is metrics.listen this address?): %v\n", *addr, err)
		return 1
	}
	if err := r.Write(stdout); err != nil {
		return 1
	}
	if !r.Ready {
		return 1
	}
	return 0
}

// metricsListen is the metrics.listen of the config at path, or of the
// packaged config when path is "" and it exists, else of the embedded
// default. Only the file itself is read, not the secrets it names.
func metricsListen(path string) (string, error) {
	var data []byte
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		data = b
	default:
		b, err := os.ReadFile(packagedConfig)
		switch {
		case err == nil:
			data, path = b, packagedConfig
		case errors.Is(err, fs.ErrPermission):
			return "", fmt.Errorf("%w (run as root, or give -addr)", err)
		}
	}
	cfg := config.Default()
	if data != nil {
		var err error
		if cfg, err = config.Parse(data); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
	if cfg.Metrics.Listen == "" {
		return "", errors.New("metrics.listen is \"\" (off): status reads the metrics listener; turn it on, or give -addr")
	}
	return cfg.Metrics.Listen, nil
}
