package cluster

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
)

// applianceConfig is a loopback appliance in a cluster on natsURL. Both
// nodes share the TURN secret, so each accepts the other's credentials.
func applianceConfig(natsURL, nodeID string) string {
	return fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"

[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = []
public_host = "127.0.0.1"
public_ip = "127.0.0.1"
relay_bind = "127.0.0.1"
relay_port_min = 41000
relay_port_max = 41999
secrets = ["cluster-test-secret-0123456789"]

[signaling]
join_rate = 100.0
join_burst = 100
resume_grace = "30s"

[metrics]
listen = "127.0.0.1:0"

[cluster]
enabled = true
nats_urls = [%q]
node_id = %q
public_url = "http://%s.example.test"
heartbeat = "200ms"
node_timeout = "1s"

[log]
level = "debug"
`, natsURL, nodeID, nodeID)
}

func applianceNode(t *testing.T, a *apptest.Appliance, name string) *node {
	return &node{name: name, url: "ws" + strings.TrimPrefix(a.HTTPURL, "http") + "/ws", down: true}
}

// TestTwoAppliances runs two real streamsync binaries on one NATS: a call
// across them, each client's ICE list naming its own node's TURN first,
// then one process is killed and its client resumes on the other.
func TestTwoAppliances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ns := startNATS(t)
	app1 := apptest.Start(t, applianceConfig(ns.url(), "one"))
	app2 := apptest.Start(t, applianceConfig(ns.url(), "two"))
	n1, n2 := applianceNode(t, app1, "one"), applianceNode(t, app2, "two")
	// The metrics listener's /readyz tells how the cluster is; the
	// public one only whether the node is ready.
	if body := readyBody(t, "http://"+app1.MetricsAddr); !strings.Contains(body, "cluster: connected") {
		t.Fatalf("/readyz does not report the cluster: %q", body)
	}
	if body := readyBody(t, app1.HTTPURL); body != "ready\n" {
		t.Fatalf("public /readyz says %q, want only \"ready\"", body)
	}

	a := n1.dial(t)
	ja := a.join("", "Ada")
	b := n2.dial(t)
	jb := b.join(a.room, "Bob")
	if ids := peerIDs(jb); !slices.Equal(ids, []string{a.id}) {
		t.Fatalf("Bob's roster = %v", ids)
	}
	a.expect("peer-joined")
	for _, c := range []struct {
		j    msg
		turn string
	}{{ja, app1.TURNUDPAddr}, {jb, app2.TURNUDPAddr}} {
		servers, _ := c.j["iceServers"].([]any)
		if len(servers) == 0 {
			t.Fatalf("no ICE servers in %v", c.j)
		}
		urls := fmt.Sprint(servers[0].(map[string]any)["urls"])
		if _, port, _ := strings.Cut(c.turn, ":"); !strings.Contains(urls, ":"+port) {
			t.Fatalf("first ICE server %s does not name the node's own TURN %s", urls, c.turn)
		}
	}

	b.send(msg{"type": "offer", "to": a.id, "sdp": "v=0 b"})
	if m := a.expect("offer"); m.str("from") != b.id {
		t.Fatalf("offer = %v", m)
	}
	a.send(msg{"type": "answer", "to": b.id, "sdp": "v=0 a"})
	if m := b.expect("answer"); m.str("from") != a.id {
		t.Fatalf("answer = %v", m)
	}
	a.send(msg{"type": "candidate", "to": b.id, "candidate": msg{"candidate": "c"}})
	if m := b.expect("candidate"); m.str("from") != a.id {
		t.Fatalf("candidate = %v", m)
	}

	// Node two crashes; Bob comes back through node one.
	if err := app2.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	app2.Wait(waitLimit)
	b.expectClosed()
	b2 := n1.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	if j := b2.expect("joined"); j.str("id") != b.id || j["resumed"] != true {
		t.Fatalf("resume = %v", j)
	}
	b2.send(msg{"type": "candidate", "to": a.id, "candidate": msg{"candidate": "back"}})
	if m := a.expect("candidate"); m.str("from") != b.id {
		t.Fatalf("Ada saw %v, want Bob's candidate (and no peer-left)", m)
	}
}

// readyBody polls /readyz until it answers 200 and returns its body.
func readyBody(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready within %s", waitLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
