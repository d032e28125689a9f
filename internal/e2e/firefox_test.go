package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamsync/streamsync/internal/firefoxtest"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
)

// TestFirefox: a Chromium <-> Firefox call through our TURN with the relay
// forced on the Firefox side: video both ways, chat both ways, a file with
// its SHA-256; one path vocabulary in both browsers; the phone layout in
// Firefox. Firefox is Debian's firefox-esr, driven over WebDriver BiDi.
func TestFirefox(t *testing.T) {
	ff := firefoxtest.Launch(t, nil)
	b := launchBrowser(t, true)
	app := startAppliance(t, applianceOpts{udp: true, tcp: true})

	alice := b.newParticipant(t, "Alice")
	fred := newFirefoxParticipant(t, ff, "Fred")
	link := alice.startMeeting(app.HTTPURL, false)
	joinIn(fred, link, true)
	waitMediaIn(fred, 1, true)
	alice.waitMedia(1, true)
	waitPathsIn(fred, 1, "relayed via TURN (UDP)")
	alice.waitFor("Fred relayed on his side", `(() => { const l = [...document.querySelectorAll('#people li')];
		return l.length === 1 && /^relayed via TURN \((UDP|their side)\)$/.test(l[0].querySelector('.path').textContent); })()`, mediaWait)

	run(t, "Allocations", func(t *testing.T) {
		fred.waitFor("network check done", `!/Checking/.test(document.getElementById('net-verdict').textContent)`, mediaWait)
		policies, counts, failed := relayCounts(fred)
		t.Logf("Firefox: relay allocations per connection %v (%v), failed once %v", counts, policies, failed)
		room := signaling.DefaultConfig().MaxPeersPerRoom
		quota := turnserver.DefaultConfig().MaxAllocationsPerUser
		for i, c := range counts {
			// A connection that failed restarts ICE with every TURN URL (call.js).
			if !strings.HasPrefix(policies[i], "max-bundle/require ") || !failed[i] && strings.Count(policies[i], "turn") != 1 {
				t.Errorf("connection %d: policies and TURN URLs %q, want max-bundle/require and one TURN URL", i, policies[i])
			}
			if c < 1 || c*(room-1)*2 >= quota {
				t.Errorf("connection %d made %d relay allocations: a full room of %d would not stay under half the quota of %d", i, c, room, quota)
			}
		}
	}, alice, fred)

	run(t, "Chat", func(t *testing.T) {
		click(fred, "#btn-chat")
		setValue(fred, "#chat-input", "hello from Firefox")
		click(fred, "#chat-form button")
		alice.waitFor("Fred's message", `[...document.querySelectorAll('#chat-log li')].some((l) => l.querySelector('.text').textContent === 'hello from Firefox' && l.querySelector('.meta').textContent.startsWith('Fred'))`, mediaWait)
		alice.do("answer", chromedp.Click(chromedp.CSS("#btn-chat")),
			chromedp.SetValue(chromedp.CSS("#chat-input"), "hello from Chromium"),
			chromedp.Click(chromedp.CSS("#chat-form button")))
		fred.waitFor("Alice's message", `[...document.querySelectorAll('#chat-log li .text')].some((e) => e.textContent === 'hello from Chromium')`, mediaWait)
	}, alice, fred)

	run(t, "File", func(t *testing.T) {
		data := make([]byte, 1<<20+12345)
		rand.Read(data)
		sum := sha256.Sum256(data)
		path := filepath.Join(t.TempDir(), "from-firefox.bin")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		click(fred, "#btn-files")
		fred.setFiles("#file-input", []string{path})
		click(fred, "#file-form button")
		waitReceived(alice, 30*time.Second)
		if got, want := receivedFile(alice), fmt.Sprintf("%s %d from-firefox.bin", hex.EncodeToString(sum[:]), len(data)); got != want {
			t.Errorf("Chromium received %q, want %q", got, want)
		}
		fred.waitFor("sender sees delivery", `document.querySelector('#transfers li.out .status.ok') !== null`, mediaWait)
	}, alice, fred)

	// ICE restarts both ways, Firefox's first and Chromium's right after
	// (as when the relay is switched off on one side and the other then
	// finds the direct path): every answer is applied and the call
	// carries on. Firefox, which offered first, answered Chromium's
	// "actpass" restart offer by taking the DTLS client role anew, which
	// Chromium, the client already, refused ("Failed to set SSL role").
	run(t, "RestartBothWays", func(t *testing.T) {
		const live = `__e2e.pcs.find((pc) => pc.signalingState !== 'closed')`
		const ufrag = `((` + live + `?.currentRemoteDescription?.sdp || '').match(/^a=ice-ufrag:(\S+)/m) || [])[1] || ''`
		for _, turn := range [][2]tab{{fred, alice}, {alice, fred}, {fred, alice}, {alice, fred}} {
			side, other := turn[0], turn[1]
			before, otherBefore := side.js(ufrag), other.js(ufrag)
			side.js(`(` + live + `.restartIce(), true)`)
			// The side that offered applies the answer: the other side's
			// new ufrag arrives in it; the other side has ours.
			side.waitFor("the restart's answer applied", `(() => { const pc = `+live+`;
				return pc.signalingState === 'stable' && JSON.stringify(`+ufrag+`) !== `+jsq(before)+`; })()`, mediaWait)
			other.waitFor("the restart's offer applied", `(() => { const pc = `+live+`;
				return pc.signalingState === 'stable' && JSON.stringify(`+ufrag+`) !== `+jsq(otherBefore)+`; })()`, mediaWait)
		}
		alice.waitMedia(1, true)
		waitMediaIn(fred, 1, true)
	}, alice, fred)

	// Relay off: the same connection, direct, is "direct" in both browsers.
	run(t, "PathWords", func(t *testing.T) {
		click(fred, "#btn-settings")
		click(fred, "#set-relay")
		fred.js(`document.getElementById('settings').close()`)
		waitPathsIn(fred, 1, "direct")
		alice.waitPaths(1, "direct")
		waitMediaIn(fred, 1, true)
	}, alice, fred)

	run(t, "PhoneLayout", func(t *testing.T) {
		click(fred, "#panel-close")
		for _, sz := range phoneSizes {
			checkPhoneLayout(t, fred, sz[0], sz[1], fmt.Sprintf("phone-firefox-%dx%d", sz[0], sz[1]))
		}
	}, alice, fred)
}
