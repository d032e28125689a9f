package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/internal/turntest"
)

// applianceConfig is a loopback appliance with relay ports of t's own and
// the metrics listener on a port of its own; its last section is [turn].
func applianceConfig(t *testing.T) string {
	return `
[http]
listen = "127.0.0.1:0"
[metrics]
listen = "127.0.0.1:0"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
relay_bind = "127.0.0.1"
` + turntest.RelayPorts(t, 1000).TOML() + `secrets = ["appliance-test-secret-0123"]
allowed_peer_ranges = ["127.0.0.0/8"]
allow_loopback_peers = true
`
}

// TestApplianceSignalingAndTURN runs the real binary: two clients meet in a
// room through the WebSocket, the iceServers each receives allocate on the
// appliance's TURN relay over UDP and TCP, the two relays exchange data,
// and SIGTERM closes the WebSockets with a close frame and exits 0.
func TestApplianceSignalingAndTURN(t *testing.T) {
	app := apptest.Start(t, applianceConfig(t))

	ada := sigtest.DialApp(t, app.HTTPURL)
	ada.Send(map[string]any{"type": "join", "name": "Ada"})
	joined := ada.NextOf("joined")
	room, _ := joined["room"].(string)

	bob := sigtest.DialApp(t, app.HTTPURL)
	bob.Send(map[string]any{"type": "join", "room": room, "name": "Bob"})
	bobJoined := bob.NextOf("joined")
	adaID, bobID := joined["id"].(string), bobJoined["id"].(string)
	if pj := ada.NextOf("peer-joined"); pj["peer"].(map[string]any)["id"] != bobID {
		t.Fatalf("peer-joined %v", pj)
	}
	bob.Send(map[string]any{"type": "offer", "to": adaID, "from": "spoofed", "sdp": "v=0 fake"})
	if off := ada.NextOf("offer"); off["from"] != bobID || off["sdp"] != "v=0 fake" {
		t.Fatalf("offer as received: %v", off)
	}

	relays := map[string]net.PacketConn{}
	for who, j := range map[string]map[string]any{"ada": joined, "bob": bobJoined} {
		var servers []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		}
		raw, _ := json.Marshal(j["iceServers"])
		if err := json.Unmarshal(raw, &servers); err != nil {
			t.Fatal(err)
		}
		var user, pass string
		var urls []string
		for _, s := range servers {
			if s.Username != "" {
				user, pass, urls = s.Username, s.Credential, s.URLs
			}
		}
		if len(urls) != 2 || !strings.HasSuffix(urls[0], "?transport=udp") || !strings.HasSuffix(urls[1], "?transport=tcp") {
			t.Fatalf("%s got TURN URLs %q, want UDP then TCP", who, urls)
		}
		if strings.Contains(user, room) {
			t.Fatalf("TURN username %q carries the whole room id", user)
		}
		network := map[string]string{"ada": "udp", "bob": "tcp"}[who]
		relays[who] = allocate(t, network, turnAddr(urls, network), user, pass)
	}

	// Ada's relay sends to Bob's relay through the appliance, and back.
	if _, err := relays["bob"].WriteTo([]byte("hi"), relays["ada"].LocalAddr()); err != nil {
		t.Fatal(err) // opens Bob's permission for Ada's relay
	}
	if _, err := relays["ada"].WriteTo([]byte("hello bob"), relays["bob"].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = relays["bob"].SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := relays["bob"].ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello bob" {
		t.Fatalf("relay to relay: %q, %v", buf[:n], err)
	}

	if err := app.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = ada.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ada.WS.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !asClose(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text == "" {
				t.Fatalf("WebSocket ended with %v, want close 1001 with a reason", err)
			}
			break
		}
	}
	if code := app.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	*ce = c
	return ok
}

func turnAddr(urls []string, network string) string {
	for _, u := range urls {
		if strings.HasSuffix(u, "?transport="+network) {
			return strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), "?transport="+network)
		}
	}
	return ""
}

// TestSlowHeadersCut: a client that never finishes its request headers is
// cut after http.read_header_timeout, while others are served.
func TestSlowHeadersCut(t *testing.T) {
	app := apptest.Start(t, `
[http]
listen = "127.0.0.1:0"
read_header_timeout = "1s"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = []
relay_bind = "127.0.0.1"
secrets = ["slow-headers-secret-0123456"]
[metrics]
listen = ""
selftest_interval = "0s"
`)
	conn, err := net.Dial("tcp", strings.TrimPrefix(app.HTTPURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a request with unfinished headers was still open after 15s")
			}
			break // closed by the server
		}
	}
	resp, err := http.Get(app.HTTPURL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal request after the slow one: %v %v", resp, err)
	}
	resp.Body.Close()
}

// allocate allocates over network at addr, failing the test if it cannot.
func allocate(t *testing.T, network, addr, user, pass string) net.PacketConn {
	t.Helper()
	return turntest.Allocate(t, network, addr, user, pass, nil)
}

// allocateExpectFailure asserts that an Allocate with these credentials is refused.
func allocateExpectFailure(t *testing.T, addr, user, pass string) {
	t.Helper()
	c := turntest.NewClient(t, turntest.Dial(t, "udp", addr, nil), addr, user, pass)
	if relay, err := c.Allocate(); err == nil {
		_ = relay.Close()
		t.Fatalf("allocation with %s succeeded, want a refusal", user)
	}
}
