package e2e

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

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

// clusterNode runs one appliance of a cluster. Both nodes relay on
// 127.0.0.1: a node lets its clients reach only its own live relay ports
// on this host, so the other node's relay addresses are opened as
// loopback peers (allow_loopback_peers), as two nodes on one loopback
// address need and two machines do not.
func clusterNode(t *testing.T, natsURL, id string) *apptest.Appliance {
	t.Helper()
	cfg := applianceConfig(applianceOpts{udp: true}) + fmt.Sprintf(`
[cluster]
enabled = true
nats_urls = [%q]
node_id = %q
heartbeat = "200ms"
node_timeout = "2s"
`, natsURL, id)
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
// video flows both ways through the nodes' TURN relays.
func TestBrowserTwoNodes(t *testing.T) {
	b := launchBrowser(t, true)
	natsURL := startNATS(t)
	one := clusterNode(t, natsURL, "one")
	two := clusterNode(t, natsURL, "two")

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
}
