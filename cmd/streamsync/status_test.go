package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
	"github.com/streamsync/streamsync/turnserver"
)

// statusConfig is a loopback appliance with TLS from certPath/keyPath, a
// self-test every 5 s, relay ports of t's own, and extra lines in [turn].
func statusConfig(t *testing.T, secret, certPath, keyPath, turnExtra string) string {
	return fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"
listen_https = "127.0.0.1:0"
listen_redirect = ""
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
listen_tls = ["127.0.0.1:0"]
public_host = "127.0.0.1"
relay_bind = "127.0.0.1"
%ssecrets = [%q]
allowed_peer_ranges = ["127.0.0.0/8"]
allow_loopback_peers = true
%s
[metrics]
listen = "127.0.0.1:0"
selftest_interval = "5s"
[tls]
cert_file = %q
key_file = %q
`, turntest.RelayPorts(t, 1000).TOML(), secret, turnExtra, certPath, keyPath)
}

// waitReadyz polls the metrics listener's /readyz until its body contains
// want (the self-test runs at start, then every 5 s).
func waitReadyz(t *testing.T, metricsAddr, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = string(body); strings.Contains(last, want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/readyz never said %q; last: %q", want, last)
}

// TestStatusOfRunningAppliance: status against the real binary with two
// people in a room, an allocation relaying traffic, TLS and the self-test
// passing prints each line with the right figures and exits 0.
func TestStatusOfRunningAppliance(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issueFiles(t, ca, 2001, certPath, keyPath)
	const secret = "status-test-secret-0123456789"
	app := apptest.Start(t, statusConfig(t, secret, certPath, keyPath, ""))
	waitReadyz(t, app.MetricsAddr, "ok")

	ada := sigtest.DialApp(t, app.HTTPURL)
	ada.Send(map[string]any{"type": "join", "name": "Ada"})
	room, _ := ada.NextOf("joined")["room"].(string)
	bob := sigtest.DialApp(t, app.HTTPURL)
	bob.Send(map[string]any{"type": "join", "room": room, "name": "Bob"})
	bob.NextOf("joined")

	// Relay traffic through one allocation while status samples.
	u, p, _, _ := turnserver.MintREST(secret, "status", time.Now(), time.Hour)
	relay := allocate(t, "udp", app.TURNUDPAddr, u, p)
	peer := turntest.EchoPeer(t, "127.0.0.6:0")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		payload := bytes.Repeat([]byte("s"), 1000)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = relay.WriteTo(payload, peer)
			}
		}
	}()
	var out, errOut bytes.Buffer
	code := run([]string{"status", "-addr", app.MetricsAddr, "-sample", "500ms"}, &out, &errOut)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	text := out.String()
	t.Logf("streamsync status:\n%s", text)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^streamsync at 127\.0\.0\.1:\d+: ready\n`),
		regexp.MustCompile(`\n  uptime +\d+s \(since `),
		regexp.MustCompile(`\n  signaling +1 room, 2 peers, 2 WebSockets\n`),
		regexp.MustCompile(`\n  self-test +ok, passed \d+s ago\n`),
		regexp.MustCompile(`\n  certificate +localhost EXPIRES in 2[34]h \d+m \(\d{4}-\d\d-\d\d\)\n`),
		regexp.MustCompile(`\n  cluster +off\n$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("status output does not match %s", want)
		}
	}
	m := regexp.MustCompile(`\n  relay +(\d+) allocations? \((\d+) since start\), ([0-9.]+) Mbit/s now`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no relay line")
	}
	live, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	rate, _ := strconv.ParseFloat(m[3], 64)
	// The self-test's own allocations may be live at the scrape too.
	if live < 1 || total < live || rate <= 0 {
		t.Errorf("relay: %d live, %d since start, %.1f Mbit/s; want at least our relaying allocation", live, total, rate)
	}
}

// TestStatusNotReady: with room for one allocation only, the self-test
// (two allocations) fails; status says why and exits 1.
func TestStatusNotReady(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issueFiles(t, ca, 2002, certPath, keyPath)
	app := apptest.Start(t, statusConfig(t, "status-test-secret-0123456789", certPath, keyPath, "max_allocations = 1"))
	waitReadyz(t, app.MetricsAddr, "self-test failed")
	var out, errOut bytes.Buffer
	if code := run([]string{"status", "-addr", app.MetricsAddr, "-sample", "10ms"}, &out, &errOut); code != 1 {
		t.Fatalf("status: exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	// It never passed: max_allocations held from the start.
	for _, want := range []string{": NOT READY: relay self-test failed", "\n  self-test    not passed yet\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestStatusUnreachable: nothing listening is exit 1 with a message that
// names the address.
func TestStatusUnreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"status", "-addr", "127.0.0.1:1", "-sample", "10ms"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "cannot read the metrics listener at 127.0.0.1:1") {
		t.Errorf("message: %s", errOut.String())
	}
}
