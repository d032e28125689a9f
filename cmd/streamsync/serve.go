package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/streamsync/streamsync/internal/app"
	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/logging"
	"github.com/streamsync/streamsync/internal/sdnotify"
)

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, warnings, err := config.LoadChecked(*path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	log, level := logging.New(cfg.Log, stderr)
	log.Info("starting streamsync", "version", version(), "config", configName(*path))
	logWarnings(log, warnings)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(cfg, log, level)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	notifier := sdnotify.FromEnv()
	if err := notifier.Ready(); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	interval, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("watchdog off", "err", err)
	}
	go a.FeedWatchdog(ctx, notifier, interval)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = notifier.Reloading()
				reload(a, *path, log)
				_ = notifier.Ready()
			}
		}
	}()

	go func() {
		<-ctx.Done()
		_ = notifier.Stopping()
	}()
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}

func reload(a *app.App, path string, log *slog.Logger) {
	cfg, warnings, err := config.LoadChecked(path)
	if err != nil {
		log.Error("reload refused: bad config, keeping the old one", "err", err)
		return
	}
	logWarnings(log, warnings)
	if err := a.Reload(cfg); err != nil {
		log.Error("reload refused, keeping the old config", "err", err)
		return
	}
	log.Info("config reloaded", "config", configName(path))
}

func configName(path string) string {
	if path == "" {
		return "embedded default"
	}
	return path
}

// logWarnings logs each config warning at WARN, naming its key.
func logWarnings(log *slog.Logger, warnings []string) {
	for _, w := range warnings {
		log.Warn("risky configuration", "warning", w)
	}
}

func printProblems(w io.Writer, err error) {
	for _, line := range config.Problems(err) {
		fmt.Fprintln(w, "config:", line)
	}
}
