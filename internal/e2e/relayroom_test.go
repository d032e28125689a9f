package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
)

// relayRoomWait bounds the waits of the four-person relayed room.
const relayRoomWait = 90 * time.Second

// relayApplianceConfig offers TURN over UDP, TCP and TLS (on the HTTPS
// port, with the test certificate) and serves metrics, without the
// self-test's own allocations. It logs at info: a debug line per relayed
// packet would cost the two cores more than the relaying.
func relayApplianceConfig(certPath, keyPath string) string {
	cfg := withTLS(strings.Replace(applianceConfig(applianceOpts{udp: true, tcp: true}), `level = "debug"`, `level = "info"`, 1), certPath, keyPath)
	return strings.Replace(cfg, "[metrics]\nlisten = \"\"", "[metrics]\nlisten = \"127.0.0.1:0\"\nselftest_interval = \"0s\"", 1)
}

// metric reads one sample of the appliance's /metrics.
func metric(t *testing.T, a *apptest.Appliance, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// relayCounts returns, for each media connection of a page, its bundle
// policy with its TURN URLs, the most relay candidates (TURN allocations)
// one ICE generation of it gathered, and whether it ever failed (then its
// ICE restart was given every TURN URL: the network may have changed).
func relayCounts(p tab) (policies []string, counts []int, failed []bool) {
	p.tb().Helper()
	var got []struct {
		Policy string
		Relay  int
		Failed bool
	}
	raw := p.js(`__e2e.pcs.filter((pc) => pc.signalingState !== 'closed' && pc.getTransceivers().length > 0).map((pc) => {
		const c = pc.getConfiguration();
		const turn = c.iceServers.flatMap((s) => [].concat(s.urls)).filter((u) => /^turns?:/.test(u));
		return { Policy: c.bundlePolicy + '/' + c.rtcpMuxPolicy + ' ' + turn.join(','), Relay: Math.max(0, ...Object.values(pc.__relay)), Failed: pc.__failed };
	})`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		p.tb().Fatalf("%s: relay counts: %v", p.label(), err)
	}
	for _, g := range got {
		policies = append(policies, g.Policy)
		counts = append(counts, g.Relay)
		failed = append(failed, g.Failed)
	}
	return policies, counts, failed
}

// turnURLCount is how many TURN URLs a page was given.
func turnURLCount(p tab) int {
	p.tb().Helper()
	n, _ := strconv.Atoi(p.js(`__e2e.joined.iceServers.flatMap((s) => [].concat(s.urls)).filter((u) => /^turns?:/.test(u)).length`))
	return n
}

// testRelayRoom: four people with the relay forced, TURN over UDP, TCP and
// TLS offered. Everyone gets everyone's video and audio through the
// relay. Each connection bundles everything on one transport (max-bundle,
// rtcp-mux) and uses the one TURN URL the network check found best, so it
// makes one allocation per network of the machine (Chromium here gathers
// on two: loopback, which the suite lets it use, and eth0), and a peer of
// a full room of the default size stays under half the per-user quota.
func testRelayRoom(t *testing.T, b *browserProc, app *apptest.Appliance) {
	names := []string{"Alice", "Bob", "Carol", "Dan"}
	var ps []*participant
	for _, n := range names {
		// 320x180 camera frames: twelve encoders and twelve decoders share two cores.
		ps = append(ps, b.newParticipant(t, n, `window.__e2eVideoMax = [320, 180];`))
	}
	link := ps[0].startMeeting(app.HTTPURL, true)
	for _, p := range ps[1:] {
		p.joinByLink(link, true)
	}
	for _, p := range ps {
		// Twelve connections through the relay on two cores shared with
		// other test runs: this room takes longer to settle than a call
		// of two.
		p.waitFor("3 flowing connections", `(async () => { const f = await __e2e.flowing(); return f.connected >= 3 && f.audio >= 3 && f.video >= 3; })()`, relayRoomWait)
		p.waitFor("3 peers relayed", `(() => { const l = [...document.querySelectorAll('#people li')];
			return l.length === 3 && l.every((li) => li.dataset.state === 'connected' && /^relayed via TURN \((UDP|TCP|TLS)\)$/.test(li.querySelector('.path').textContent)); })()`, relayRoomWait)
		p.assertSelectedPair("relay", "")
	}
	urls := turnURLCount(ps[0])
	if urls != 3 {
		t.Fatalf("the page was given %d TURN URLs, want 3 (UDP, TCP, TLS)", urls)
	}
	maxPC, total := 0, 0
	for _, p := range ps {
		// The network check's own allocations are released when it is done.
		p.waitFor("network check done", `!/Checking/.test(document.getElementById('net-verdict').textContent)`, mediaWait)
		policies, counts, failed := relayCounts(p)
		t.Logf("%s: relay allocations per connection %v (%v), failed once %v", p.name, counts, policies, failed)
		udp := eval[string](p, `__e2e.joined.iceServers.flatMap((s) => [].concat(s.urls)).find((u) => /^turn:.*transport=udp/.test(u))`)
		for i, c := range counts {
			// On a loaded machine a connection may fail and restart ICE
			// with every URL (call.js); it still bundles.
			want := "max-bundle/require " + udp
			if failed[i] && strings.HasPrefix(policies[i], "max-bundle/require ") {
				want = policies[i]
			}
			if policies[i] != want {
				t.Errorf("%s: connection %d has policies and TURN URLs %q, want %q", p.name, i, policies[i], want)
			}
			if c < 1 {
				t.Errorf("%s: connection %d made no relay allocation", p.name, i)
			}
			maxPC = max(maxPC, c)
			total += c
		}
	}
	room := signaling.DefaultConfig().MaxPeersPerRoom
	quota := turnserver.DefaultConfig().MaxAllocationsPerUser
	full := maxPC * (room - 1)
	t.Logf("at most %d allocations per connection: a peer in a full room of %d holds %d of its %d-allocation quota", maxPC, room, full, quota)
	if full*2 >= quota {
		t.Errorf("a peer in a full room of %d would hold %d allocations, not under half the per-user quota of %d", room, full, quota)
	}
	// The server's own count. It may hold a few more than the pages'
	// current generations: the network check's and an earlier ICE
	// generation's allocations go when the browser's deallocation arrives
	// (or when they expire). No peer ever hit its quota.
	live := metric(t, app, "streamsync_turn_allocations")
	t.Logf("server: %v live allocations for %d people (%d in the pages' current ICE generations)", live, len(ps), total)
	if live < float64(len(ps)*(len(ps)-1)) {
		t.Errorf("server holds %v live allocations; every connection should hold one", live)
	}
	if strings.Contains(app.Logs(), "allocation quota reached") {
		t.Errorf("a peer hit its TURN allocation quota:\n%s", grepLines(app.Logs(), "allocation quota reached", 5))
	}
}

// grepLines returns up to n lines of s that contain sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
