package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/internal/turntest"
	"github.com/streamsync/streamsync/turnserver"
)

// serviceConfig is a loopback appliance with relay ports of t's own, the
// given secrets and extra lines.
func serviceConfig(t *testing.T, secrets string, extra string) string {
	return fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
relay_bind = "127.0.0.1"
%ssecrets = [%s]
allowed_peer_ranges = ["127.0.0.0/8"]
allow_loopback_peers = true
[metrics]
listen = "127.0.0.1:0"
%s
`, turntest.RelayPorts(t, 1000).TOML(), secrets, extra)
}

func TestNotifyReadyAndWatchdog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := serviceConfig(t, `"notify-test-secret-0123456"`, "")
	apptest.StartWith(t, cfg, apptest.Options{Env: []string{
		"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000", "WATCHDOG_PID=",
	}})
	var got []string
	buf := make([]byte, 512)
	for len(got) < 3 {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if got[0] != "READY=1" || got[1] != "WATCHDOG=1" || got[2] != "WATCHDOG=1" {
		t.Fatalf("notifications %q, want READY=1 then WATCHDOG=1 pings", got)
	}
}

func runCmd(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(args, &out, &out)
	return code, out.String()
}

func TestSelfTestCommand(t *testing.T) {
	cfg := serviceConfig(t, `"selftest-cmd-secret-0123456"`, "")
	app := apptest.Start(t, cfg)
	code, out := runCmd("selftest", "-config", boundConfig(t, app))
	if code != 0 || !strings.Contains(out, "ok    TURN over udp") || !strings.Contains(out, "ok    TURN over tcp") {
		t.Fatalf("selftest against a running server: exit %d\n%s", code, out)
	}
	app.Stop(t)

	// A server whose TURN over TCP is turned off, checked with a file that
	// still names a TCP listener (one that accepts and never answers): the
	// check fails and names TCP.
	noTCP := regexp.MustCompile(`listen_tcp = \[[^\]]*\]`).ReplaceAllString(cfg, "listen_tcp = []")
	app2 := apptest.Start(t, noTCP)
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	checked := filepath.Join(t.TempDir(), "checked.toml")
	text := strings.Replace(cfg, `listen_udp = ["127.0.0.1:0"]`, `listen_udp = ["`+app2.TURNUDPAddr+`"]`, 1)
	text = strings.Replace(text, `listen_tcp = ["127.0.0.1:0"]`, `listen_tcp = ["`+mute.Addr().String()+`"]`, 1)
	if err := os.WriteFile(checked, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runCmd("selftest", "-config", checked, "-timeout", "5s")
	if code != 1 || !strings.Contains(out, "FAIL  TURN over tcp") || !strings.Contains(out, "ok    TURN over udp") {
		t.Fatalf("selftest with TCP off: exit %d, want 1 naming tcp\n%s", code, out)
	}
}

// scrape returns the value of one series of the metrics endpoint.
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("series %s not found", series)
	return 0
}

func metricsURL(t *testing.T, app *apptest.Appliance) string {
	t.Helper()
	for _, line := range strings.Split(app.Logs(), "\n") {
		if strings.Contains(line, `"service":"metrics"`) {
			i := strings.Index(line, `"addr":"`)
			rest := line[i+len(`"addr":"`):]
			return "http://" + rest[:strings.IndexByte(rest, '"')]
		}
	}
	t.Fatal("metrics listener not reported")
	return ""
}

// TestMetricsCountRelayedTraffic: one allocation and one relayed round
// trip move the counters by exactly that much.
func TestMetricsCountRelayedTraffic(t *testing.T) {
	cfg := serviceConfig(t, `"metrics-test-secret-0123456"`, `selftest_interval = "0s"`)
	app := apptest.Start(t, cfg)
	url := metricsURL(t, app)
	series := []string{
		"streamsync_turn_allocations",
		"streamsync_turn_allocations_total",
		`streamsync_turn_relayed_bytes_total{direction="to_peer"}`,
		`streamsync_turn_relayed_bytes_total{direction="from_peer"}`,
		`streamsync_turn_relayed_packets_total{direction="to_peer"}`,
		`streamsync_turn_relayed_packets_total{direction="from_peer"}`,
		`streamsync_turn_auth_failures_total{reason="expired"}`,
	}
	before := map[string]float64{}
	for _, s := range series {
		before[s] = scrape(t, url, s)
	}

	u, p, _, _ := turnserver.MintREST("metrics-test-secret-0123456", "m", time.Now(), time.Hour)
	relay := allocate(t, "udp", app.TURNUDPAddr, u, p)
	peer := turntest.EchoPeer(t, "127.0.0.5:0")
	payload := bytes.Repeat([]byte("x"), 321)
	if _, err := relay.WriteTo(payload, peer); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := relay.ReadFrom(buf); err != nil || n != len(payload) {
		t.Fatalf("echo: %d bytes, %v", n, err)
	}
	eu, ep, _, _ := turnserver.MintREST("metrics-test-secret-0123456", "late", time.Now().Add(-2*time.Hour), time.Hour)
	allocateExpectFailure(t, app.TURNUDPAddr, eu, ep)

	want := map[string]float64{
		"streamsync_turn_allocations":                                  1,
		"streamsync_turn_allocations_total":                            1,
		`streamsync_turn_relayed_bytes_total{direction="to_peer"}`:     321,
		`streamsync_turn_relayed_bytes_total{direction="from_peer"}`:   321,
		`streamsync_turn_relayed_packets_total{direction="to_peer"}`:   1,
		`streamsync_turn_relayed_packets_total{direction="from_peer"}`: 1,
		`streamsync_turn_auth_failures_total{reason="expired"}`:        1,
	}
	for s, delta := range want {
		if got := scrape(t, url, s) - before[s]; got != delta {
			t.Errorf("%s moved by %v, want %v", s, got, delta)
		}
	}
}

// TestReloadOnSIGHUP: a rotated secret takes effect while a live
// allocation and a joined WebSocket client survive; a broken config or
// one that needs a restart is refused and the process keeps serving.
func TestReloadOnSIGHUP(t *testing.T) {
	const oldSecret, newSecret = "old-secret-0123456789abc", "new-secret-0123456789abc"
	cfg := serviceConfig(t, `"`+oldSecret+`"`, "")
	app := apptest.Start(t, cfg)
	turnAddr := app.TURNUDPAddr

	ou, op, _, _ := turnserver.MintREST(oldSecret, "old", time.Now(), time.Hour)
	liveRelay := allocate(t, "udp", turnAddr, ou, op)
	ws := sigtest.DialApp(t, app.HTTPURL)
	ws.Send(map[string]any{"type": "join", "name": "Stays"})
	ws.NextOf("joined")

	nu, np, _, _ := turnserver.MintREST(newSecret, "new", time.Now(), time.Hour)
	allocateExpectFailure(t, turnAddr, nu, np)

	app.WriteConfig(t, strings.Replace(cfg, `"`+oldSecret+`"`, `"`+newSecret+`", "`+oldSecret+`"`, 1))
	if err := app.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	app.WaitLog(t, "config reloaded", 1, 10*time.Second)
	allocate(t, "udp", turnAddr, nu, np) // the new secret works

	peer := turntest.EchoPeer(t, "127.0.0.5:0")
	if _, err := liveRelay.WriteTo([]byte("still here"), peer); err != nil {
		t.Fatalf("live allocation after reload: %v", err)
	}
	buf := make([]byte, 64)
	_ = liveRelay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := liveRelay.ReadFrom(buf); err != nil {
		t.Fatalf("live allocation after reload: %v", err)
	}
	ws.Send(map[string]any{"type": "ping", "id": 1})
	ws.NextOf("pong")

	app.WriteConfig(t, "[turn\nbroken")
	_ = app.Signal(syscall.SIGHUP)
	app.WaitLog(t, "reload refused: bad config", 1, 10*time.Second)
	before, after, _ := strings.Cut(cfg, "relay_port_min = ")
	portMin, rest, _ := strings.Cut(after, "\n")
	n, _ := strconv.Atoi(portMin)
	restart := before + "relay_port_min = " + strconv.Itoa(n+1) + "\n" + rest // within the reserved range
	app.WriteConfig(t, restart)
	_ = app.Signal(syscall.SIGHUP)
	app.WaitLog(t, "relay_port_min: changing it needs a restart", 1, 10*time.Second)

	app.WriteConfig(t, cfg+"\n[signaling]\nmax_peers_per_room = 3\n")
	_ = app.Signal(syscall.SIGHUP)
	app.WaitLog(t, "signaling: changing it needs a restart", 1, 10*time.Second)

	allocate(t, "udp", turnAddr, nu, np) // still serving with the reloaded config
	ws.Send(map[string]any{"type": "ping", "id": 2})
	ws.NextOf("pong")
}
