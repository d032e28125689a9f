package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/internal/apptest"
)

// endedExpr is true once a page that left its call holds nothing of it:
// every local track ended (the camera's light is out), every peer
// connection and the signaling socket closed, no interval left running.
const endedExpr = `(async () => { const e = JSON.parse(await __e2e.ended());
	return e.liveTracks.length === 0 && e.openPCs === 0 && e.openSockets === 0 && e.intervals === 0; })()`

// assertEnded waits for p to show the ended screen with reason and to have
// released everything.
func assertEnded(t *testing.T, p *participant, reason string) {
	t.Helper()
	p.waitFor("the ended screen", `!document.getElementById('ended').hidden && document.getElementById('ended-reason').textContent === `+jsq(reason), mediaWait)
	p.waitFor("tracks, connections, socket and timers released", endedExpr, mediaWait)
}

// assertStopsReceiving waits until p's inbound RTP bytes stop growing: the
// other side sends nothing any more.
func assertStopsReceiving(t *testing.T, p *participant) {
	t.Helper()
	p.waitFor("inbound bytes stop growing", `(async () => { const a = await __e2e.inboundBytes(); await new Promise((r) => setTimeout(r, 1500)); return (await __e2e.inboundBytes()) === a; })()`, mediaWait)
}

// testEnded: whatever ends a call (leave, opened elsewhere, the page
// closed for good), the page stops every track, closes every connection,
// saves a recording in progress and clears its timers; the other side's
// inbound bytes stop growing. Recording twice leaves no listener behind.
func testEnded(t *testing.T, b *browserProc, app *apptest.Appliance) {
	alice := b.newParticipant(t, "Alice")
	link := alice.startMeeting(app.HTTPURL, false)

	run(t, "LeaveWhileRecording", func(t *testing.T) {
		bob := b.newParticipant(t, "Bob")
		bob.joinByLink(link, false)
		bob.waitMedia(1, true)
		alice.waitMedia(1, true)
		before := eval[int](bob, `__e2e.listenerCount.tracks || 0`)
		for range 2 { // a recording's listener goes with it
			bob.do("record", chromedp.Click(chromedp.CSS("#btn-record")))
			bob.waitFor("recording", `document.getElementById('btn-record').getAttribute('aria-pressed') === 'true' && (window.__had = __e2e.recorded()) >= 0`, joinWait)
			bob.waitFor("something recorded", `__e2e.recorded() > window.__had`, mediaWait)
			bob.do("stop recording", chromedp.Click(chromedp.CSS("#btn-record")))
			bob.waitFor("recording saved", `document.getElementById('btn-record').getAttribute('aria-pressed') === 'false'`, joinWait)
		}
		bob.waitFor("two recordings saved", `__e2e.downloads.length === 2`, joinWait)
		if after := eval[int](bob, `__e2e.listenerCount.tracks || 0`); after != before {
			t.Errorf("'tracks' listeners: %d before two recordings, %d after: each recording leaks one", before, after)
		}
		bob.do("record", chromedp.Click(chromedp.CSS("#btn-record")))
		bob.waitFor("recording", `document.getElementById('recording-indicator').hidden === false && (window.__had = __e2e.recorded()) >= 0`, joinWait)
		bob.waitFor("something recorded", `__e2e.recorded() > window.__had`, mediaWait)
		bob.do("leave", chromedp.Click(chromedp.CSS("#btn-leave")))
		assertEnded(t, bob, "You left the call.")
		bob.waitFor("the recording in progress saved", `__e2e.downloads.length === 3 && /\.webm$/.test(__e2e.downloads[2].name)`, joinWait)
		assertStopsReceiving(t, alice)
	}, alice)

	// The same place taken over by another connection (a kick of sorts:
	// the server closes this one with 4000 "replaced").
	run(t, "OpenedElsewhere", func(t *testing.T) {
		bob := b.newParticipant(t, "Bob")
		bob.joinByLink(link, false)
		bob.waitMedia(1, true)
		alice.waitMedia(1, true)
		token := eval[string](bob, `__e2e.joined.resumeToken`)
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(app.HTTPURL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if err := ws.WriteJSON(map[string]string{"type": "join", "resume": token}); err != nil {
			t.Fatal(err)
		}
		assertEnded(t, bob, "This call was opened again elsewhere.")
		assertStopsReceiving(t, alice)
		_ = ws.WriteJSON(map[string]string{"type": "leave"})
	}, alice)

	// The tab closed or navigated away for good: pagehide, not persisted.
	run(t, "PageHidden", func(t *testing.T) {
		bob := b.newParticipant(t, "Bob")
		bob.joinByLink(link, false)
		bob.waitMedia(1, true)
		alice.waitMedia(1, true)
		bob.js(`dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }))`)
		assertEnded(t, bob, "You left the call.")
		assertStopsReceiving(t, alice)
		alice.waitFor("Bob's tile gone", `document.querySelectorAll('#grid .tile').length === 1`, mediaWait)
	}, alice)
}

// testEndedAfterDrop: the ways a call ends while the page is reconnecting.
// Resume places last 1 s and empty rooms are forgotten at once.
func testEndedAfterDrop(t *testing.T, b *browserProc) {
	cfg := strings.Replace(applianceConfig(applianceOpts{udp: true}), `resume_grace = "30s"`, `resume_grace = "1s"
empty_room_ttl = "0s"
max_peers_per_room = 2`, 1)
	app := startApplianceConfig(t, cfg)
	proxy := startCutProxy(t, strings.TrimPrefix(app.HTTPURL, "http://"))
	viaProxy := func(link string) string { return proxy.URL() + link[len(app.HTTPURL):] }

	// The server refuses the way back: while Bob was away his place went
	// and Carol filled the room.
	t.Run("Refused", func(t *testing.T) {
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		link := alice.startMeeting(app.HTTPURL, false)
		bob.joinByLink(viaProxy(link), false)
		bob.waitMedia(1, true)
		proxy.cut()
		bob.waitFor("reconnecting", `document.getElementById('conn-status').dataset.status === 'reconnecting'`, mediaWait)
		alice.waitFor("Bob's place given up", `document.querySelectorAll('#grid .tile').length === 1`, mediaWait)
		carol := b.newParticipant(t, "Carol")
		carol.joinByLink(link, false)
		proxy.restore()
		assertEnded(t, bob, "The meeting filled up while you were disconnected.")
		carol.waitMedia(1, true)
	})

	// The meeting is gone: both were cut off, their places went and the
	// empty room was forgotten. Their peer-to-peer media kept flowing
	// while they reconnected; once told, both stop sending.
	t.Run("MeetingGone", func(t *testing.T) {
		bob := b.newParticipant(t, "Bob")
		dave := b.newParticipant(t, "Dave")
		link := bob.startMeeting(proxy.URL(), false)
		dave.joinByLink(link, false)
		bob.waitMedia(1, true)
		dave.waitMedia(1, true)
		room := link[strings.Index(link, "#")+1:]
		proxy.cut()
		for _, p := range []*participant{bob, dave} {
			p.waitFor("reconnecting", `document.getElementById('conn-status').dataset.status === 'reconnecting'`, mediaWait)
			p.waitMedia(1, true) // media does not ride on signaling
		}
		waitRoomGone(t, app.HTTPURL, room)
		proxy.restore()
		for _, p := range []*participant{bob, dave} {
			assertEnded(t, p, "The meeting ended while you were disconnected.")
		}
	})
}

// waitRoomGone polls the pre-flight until the server no longer knows room.
func waitRoomGone(t *testing.T, base, room string) {
	t.Helper()
	deadline := time.Now().Add(mediaWait)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/ws?room=" + url.QueryEscape(room))
		if err == nil {
			var w struct {
				Room *struct{ Exists bool } `json:"room"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&w)
			resp.Body.Close()
			if w.Room != nil && !w.Room.Exists {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("room %s still known to the server", room)
}
