package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/internal/sdnotify"
	"github.com/streamsync/streamsync/internal/turntest"
)

// startApp runs the appliance in process on loopback with a self-test
// every 200 ms. With onePort the relay has a single port, so the
// self-test, which needs two allocations, is refused every time (486).
// tcpOnly leaves TURN over UDP off.
func startApp(t *testing.T, onePort, tcpOnly bool) *App {
	t.Helper()
	return startAppWith(t, onePort, tcpOnly, func(*config.Config) {})
}

// startAppWith is startApp with the config changed by edit first.
func startAppWith(t *testing.T, onePort, tcpOnly bool, edit func(*config.Config)) *App {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Metrics.SelfTestInterval = 200 * time.Millisecond
	cfg.TURN.ListenUDP = []string{"127.0.0.1:0"}
	if tcpOnly {
		cfg.TURN.ListenUDP = nil
	}
	cfg.TURN.ListenTCP = []string{"127.0.0.1:0"}
	cfg.TURN.ListenTLS = nil
	cfg.TURN.RelayBind = "127.0.0.1"
	ports := turntest.RelayPorts(t, 500)
	if onePort {
		ports = turntest.RelayPorts(t, 1)
	}
	cfg.TURN.RelayPortMin, cfg.TURN.RelayPortMax = ports.Min, ports.Max
	cfg.TURN.Secrets = []string{"app-health-test-secret-0123"}
	cfg.TURN.UDPSockets = 1
	edit(&cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a
}

// get returns the status and body of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublicReadyzSaysOnlyWhether: the public listener's /readyz says
// "ready" or "not ready" and nothing else; the metrics listener's says
// why, addresses and errors included.
func TestPublicReadyzSaysOnlyWhether(t *testing.T) {
	t.Parallel()
	broken := startApp(t, true, false)
	public, private := "http://"+broken.httpLn.Addr().String()+"/readyz", "http://"+broken.metricsLn.Addr().String()+"/readyz"
	eventually(t, "the failing self-test reported on the metrics listener", func() bool {
		code, body := get(t, private)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "relay self-test failed")
	})
	_, detail := get(t, private)
	if !strings.Contains(detail, "127.0.0.1:") {
		t.Errorf("the metrics listener's /readyz names no address: %q", detail)
	}
	if code, body := get(t, public); code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Fatalf("public /readyz of a failing relay: %d %q, want 503 \"not ready\"", code, body)
	}

	healthy := startApp(t, false, false)
	eventually(t, "a working relay ready", func() bool {
		code, body := get(t, "http://"+healthy.httpLn.Addr().String()+"/readyz")
		return code == http.StatusOK && body == "ready\n"
	})
}

// TestWatchdogStarvedWhileSelfTestFails: keep-alives go to systemd while
// the relay works, and while it is full (its self-test refused with 486:
// a restart would only drop its calls), and stop once it has not answered
// its self-test three times in a row, so that systemd restarts the wedged
// service.
func TestWatchdogStarvedWhileSelfTestFails(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	n := sdnotify.FromEnv()
	const interval = 100 * time.Millisecond
	pings := func(within time.Duration) int {
		count := 0
		buf := make([]byte, 64)
		end := time.Now().Add(within)
		for {
			_ = conn.SetReadDeadline(end)
			k, err := conn.Read(buf)
			if err != nil {
				return count
			}
			if string(buf[:k]) == "WATCHDOG=1" {
				count++
			}
		}
	}

	full := startApp(t, true, true)
	eventually(t, "the full relay's self-tests refused", func() bool {
		full.health.mu.Lock()
		defer full.health.mu.Unlock()
		return full.health.ran && !full.health.ok
	})
	ctx, cancel := context.WithCancel(context.Background())
	go full.FeedWatchdog(ctx, n, interval)
	if got := pings(time.Second); got < 3 || !full.Alive() {
		t.Fatalf("%d keep-alives in a second from a full relay (one every %s expected), alive %v", got, interval/2, full.Alive())
	}
	cancel()

	wedged := startApp(t, false, true)
	eventually(t, "the working relay's self-test", func() bool {
		code, _ := get(t, "http://"+wedged.httpLn.Addr().String()+"/readyz")
		return code == http.StatusOK
	})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go wedged.FeedWatchdog(ctx, n, interval)
	if got := pings(time.Second); got < 3 {
		t.Fatalf("%d keep-alives in a second from a working relay (one every %s expected)", got, interval/2)
	}
	if err := wedged.turn.Close(); err != nil { // the relay stops answering
		t.Fatal(err)
	}
	eventually(t, "three unanswered self-tests", func() bool { return !wedged.Alive() })
	pings(interval) // what was sent before the verdict
	if got := pings(10 * interval); got != 0 {
		t.Fatalf("%d keep-alives while the relay does not answer, want none", got)
	}
}
