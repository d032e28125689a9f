package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/streamsync/streamsync/internal/apptest"
)

// startNATS runs a JetStream-enabled NATS server on loopback for the test.
func startNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "e2e", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(joinWait) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return fmt.Sprintf("nats://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// clusterNode runs one appliance of a cluster, its page on a port of its
// own that is also its public_url (for the others' node lists). Both nodes relay on
// 127.0.0.1: a node lets its clients reach only its own live relay ports
// on this host, so the other node's relay addresses are opened as
// loopback peers (allow_loopback_peers), as two nodes on one loopback
// address need and two machines do not.
func clusterNode(t *testing.T, natsURL, id string) *apptest.Appliance {
	t.Helper()
	port := unusedPort(t)
	cfg := applianceConfig(applianceOpts{udp: true}) + fmt.Sprintf(`
[cluster]
enabled = true
nats_urls = [%q]
node_id = %q
public_url = "http://127.0.0.1:%d"
heartbeat = "200ms"
node_timeout = "2s"
`, natsURL, id, port)
	cfg = strings.Replace(cfg, "[http]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[http]\nlisten = \"127.0.0.1:%d\"", port), 1)
	cfg = strings.Replace(cfg, "[metrics]\nlisten = \"\"", "[metrics]\nlisten = \"127.0.0.1:0\"\nselftest_interval = \"0s\"", 1)
	cfg = strings.Replace(cfg, "[turn]\n", "[turn]\nallowed_peer_ranges = [\"127.0.0.1/32\"]\nallow_loopback_peers = true\n", 1)
	a := apptest.Start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- node %s log (tail)\n%s", id, tail(a.Logs(), 200))
		}
	})
	return a
}

// unusedPort is a loopback TCP port free a moment ago: the node's
// public_url must be known before it starts.
func unusedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitNodes waits until a node's pre-flight lists n nodes.
func waitNodes(t *testing.T, a *apptest.Appliance, n int) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(joinWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(a.HTTPURL + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		var info struct{ Nodes []string }
		err = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got = info.Nodes; len(got) == n {
			return
		}
	}
	t.Fatalf("%s lists nodes %q, want %d", a.HTTPURL, got, n)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// relayedBytes reads a node's relayed byte counter (to peers).
func relayedBytes(t *testing.T, a *apptest.Appliance) float64 {
	t.Helper()
	return metric(t, a, `streamsync_turn_relayed_bytes_total{direction="to_peer"}`)
}

// TestBrowserTwoNodes: Alice joins on node one, Bob opens the same link on
// node two (the rooms are shared through NATS). With the relay forced,
// video flows both ways through the nodes' TURN relays. Then node one is
// killed (SIGKILL): Alice's page fails over to node two by itself (its
// welcome listed it), resumes under her id, restarts ICE on node two's
// relay, and video flows both ways again (the seconds are printed).
func TestBrowserTwoNodes(t *testing.T) {
	b := launchBrowser(t, true)
	natsURL := startNATS(t)
	one := clusterNode(t, natsURL, "one")
	two := clusterNode(t, natsURL, "two")
	waitNodes(t, one, 2) // Alice's page and welcome name node two

	alice := b.newParticipant(t, "Alice")
	link := alice.startMeeting(one.HTTPURL, true)
	// The same meeting through node two: same fragment, other host.
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = strings.TrimPrefix(two.HTTPURL, "http://")
	bob := b.newParticipant(t, "Bob")
	bob.joinByLink(u.String(), true)

	for _, p := range []*participant{alice, bob} {
		p.waitMedia(1, true)
		p.waitPaths(1, "relayed via TURN (UDP)")
		p.assertSelectedPair("relay", "udp")
	}
	if relayedBytes(t, one) == 0 || relayedBytes(t, two) == 0 {
		t.Fatalf("relayed bytes: node one %v, node two %v; want media through both relays",
			relayedBytes(t, one), relayedBytes(t, two))
	}

	// Node one dies. Alice's page resumes on node two without a click.
	aliceID := eval[string](alice, `__e2e.joined.id`)
	if err := one.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case <-one.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("node one survived SIGKILL")
	}
	onTwo := fmt.Sprintf(`__e2e.sockets.some((s) => s.readyState === WebSocket.OPEN && s.url.startsWith(%q))`, "ws"+strings.TrimPrefix(two.HTTPURL, "http")+"/ws")
	alice.waitFor("resumed on node two", `document.getElementById('conn-status').dataset.status === 'connected' && __e2e.joined.resumed && `+onTwo, mediaWait)
	resumed := time.Since(killed).Seconds()
	j := eval[string](alice, `JSON.stringify({id: __e2e.joined.id, call: !document.getElementById('call').hidden, ended: !document.getElementById('ended').hidden})`)
	if want := fmt.Sprintf(`{"id":%q,"call":true,"ended":false}`, aliceID); j != want {
		t.Fatalf("Alice after the failover: %s, want %s", j, want)
	}
	secs := secondsToNewFrames(t, killed, alice, bob)
	t.Logf("node one SIGKILLed, relay forced: Alice's page resumed on node two %.1f s later; first new video frame: Alice %.1f s, Bob %.1f s", resumed, secs[0], secs[1])
	for _, p := range []*participant{alice, bob} {
		p.waitFor("two tiles", `document.querySelectorAll('#grid .tile').length === 2`, mediaWait)
		p.waitPaths(1, "relayed via TURN (UDP)")
	}
}
