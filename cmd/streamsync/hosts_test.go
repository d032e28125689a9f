package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
)

// TestHostNamesChecked: with turn.public_host naming the service, a
// request whose Host is another name (DNS rebinding: the attacker's name
// pointed at this server) is refused, page and WebSocket alike, while
// the service's name, IP literals and localhost are served. Health checks
// answer whatever the Host.
func TestHostNamesChecked(t *testing.T) {
	a := apptest.Start(t, applianceConfig(t)+"public_host = \"call.example.test\"\n")
	get := func(path, host string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.HTTPURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := a.HTTPURL[strings.LastIndexByte(a.HTTPURL, ':'):]
	for host, want := range map[string]int{
		"call.example.test" + port:    http.StatusOK,
		"CALL.example.test.":          http.StatusOK,
		"127.0.0.1" + port:            http.StatusOK,
		"[::1]" + port:                http.StatusOK,
		"localhost" + port:            http.StatusOK,
		"rebind.attacker.test" + port: http.StatusMisdirectedRequest,
		"call.example.test.evil":      http.StatusMisdirectedRequest,
	} {
		if got := get("/", host); got != want {
			t.Errorf("GET / with Host %q: %d, want %d", host, got, want)
		}
	}
	if got := get("/healthz", "lb-probe.internal"); got != http.StatusOK {
		t.Errorf("/healthz with another Host: %d", got)
	}
	// The WebSocket too: a rebound page would be same-origin with its Host.
	u := "ws" + strings.TrimPrefix(a.HTTPURL, "http") + "/ws"
	h := http.Header{"Host": {"rebind.attacker.test" + port}, "Origin": {"http://rebind.attacker.test" + port}}
	d := websocket.Dialer{}
	if ws, resp, err := d.DialContext(t.Context(), u, h); err == nil || resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		if ws != nil {
			ws.Close()
		}
		t.Fatalf("WebSocket with a rebound Host: %v %v, want 421", err, resp)
	}
	sigtest.DialApp(t, a.HTTPURL) // by address: served
	// serve warned at start about the config's loopback relay range.
	a.WaitLog(t, "turn.allowed_peer_ranges[0]: 127.0.0.0/8 lets relayed traffic reach", 1, 10*time.Second)
}
