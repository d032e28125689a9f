package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// phoneSizes are the viewports the phone layout is held to: a small
// Android phone and a current iPhone, in CSS pixels.
var phoneSizes = [][2]int{{360, 640}, {390, 844}}

// moreMenu are the controls a phone keeps behind More.
var moreMenu = []string{"btn-files", "btn-record", "btn-settings"}

type layoutReport struct {
	VW, VH    float64
	ScrollW   float64
	Outside   []string // controls shown but (partly) outside the viewport
	NotShown  []string // controls present but not displayed
	TileShare float64  // share of the viewport the remote tiles cover
	Layout    string
}

// layoutExpr measures the call screen: every button of the top bar and
// the control row, and the visible area of the other people's tiles.
const layoutExpr = `(() => {
	const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
	const inside = (r) => r.left >= -0.5 && r.top >= -0.5 && r.right <= vw + 0.5 && r.bottom <= vh + 0.5;
	const shown = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
	const out = { VW: vw, VH: vh, ScrollW: document.documentElement.scrollWidth, Outside: [], NotShown: [], TileShare: 0, Layout: document.getElementById('grid').dataset.layout };
	for (const b of document.querySelectorAll('#call .topbar button, #call .controls button')) {
		if (b.hidden || b.closest('[hidden]')) continue;
		if (!shown(b)) { out.NotShown.push(b.id); continue; }
		const r = b.getBoundingClientRect();
		if (!inside(r)) out.Outside.push(b.id + ' ' + JSON.stringify([r.left, r.top, r.right, r.bottom].map(Math.round)));
	}
	// Visible area: inside the viewport and not under what covers the
	// stage (the panel, our own small tile, an open menu).
	const covers = ['panel', 'more-menu'].map((id) => document.getElementById(id)).concat([...document.querySelectorAll('#grid .tile.pip')])
		.filter((e) => !e.hidden && shown(e)).map((e) => e.getBoundingClientRect());
	const clip = (r, c) => ({ left: Math.max(r.left, c.left), top: Math.max(r.top, c.top), right: Math.min(r.right, c.right), bottom: Math.min(r.bottom, c.bottom) });
	const area = (r) => Math.max(0, r.right - r.left) * Math.max(0, r.bottom - r.top);
	let total = 0;
	for (const f of document.querySelectorAll('#grid .tile')) {
		if (f.dataset.peer.startsWith('self')) continue;
		const r = clip(f.getBoundingClientRect(), { left: 0, top: 0, right: vw, bottom: vh });
		total += area(r);
		for (const c of covers) total -= area(clip(r, c)); // covers do not overlap each other much; a lower bound is fine
	}
	out.TileShare = total / (vw * vh);
	return out;
})()`

func measureLayout(p tab) layoutReport {
	p.tb().Helper()
	var r layoutReport
	if err := json.Unmarshal([]byte(p.js(layoutExpr)), &r); err != nil {
		p.tb().Fatalf("%s: layout report: %v", p.label(), err)
	}
	return r
}

// checkPhoneLayout holds the call screen to a phone's size: every control
// inside the viewport without sideways scrolling (those behind More once
// it is open), and the other people's tiles covering at least half of it.
func checkPhoneLayout(t *testing.T, p tab, w, h int, shot string) {
	t.Helper()
	p.setViewport(w, h)
	p.waitFor("layout at the new size", fmt.Sprintf(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(document.documentElement.clientWidth === %d))))`, w), joinWait)
	r := measureLayout(p)
	t.Logf("%s at %dx%d: layout %s, remote tiles cover %.0f%%, hidden behind More %v", p.label(), w, h, r.Layout, r.TileShare*100, r.NotShown)
	if len(r.Outside) > 0 {
		t.Errorf("%s at %dx%d: controls outside the screen: %v", p.label(), w, h, r.Outside)
	}
	if r.ScrollW > r.VW+0.5 {
		t.Errorf("%s at %dx%d: the page scrolls sideways (%v px wide)", p.label(), w, h, r.ScrollW)
	}
	if r.TileShare < 0.5 {
		t.Errorf("%s at %dx%d: the others' tiles cover %.0f%% of the screen, want at least half", p.label(), w, h, r.TileShare*100)
	}
	slices.Sort(r.NotShown)
	if !slices.Equal(r.NotShown, moreMenu) {
		t.Errorf("%s at %dx%d: controls not shown %v, want only %v (behind More)", p.label(), w, h, r.NotShown, moreMenu)
	}
	click(p, "#btn-more")
	p.waitFor("More menu open", `document.getElementById('btn-more').getAttribute('aria-expanded') === 'true'`, joinWait)
	open := measureLayout(p)
	if len(open.Outside) > 0 || len(open.NotShown) > 0 {
		t.Errorf("%s at %dx%d with More open: outside %v, not shown %v", p.label(), w, h, open.Outside, open.NotShown)
	}
	if shot != "" {
		t.Logf("screenshot: %s", saveShot(t, p, shot+"-more"))
	}
	click(p, "#btn-more")
	if shot != "" {
		t.Logf("screenshot: %s", saveShot(t, p, shot))
	}
}

// testPresence: pre-join shows how many are in and lets the microphone and
// camera be turned off before joining; join and leave notices; the count;
// the duo layout; the active speaker.
func testPresence(t *testing.T, alice, bob, carol *participant, base string) {
	link := alice.startMeeting(base, false)

	// Bob opens the link: one person is in, and he joins with his camera
	// and microphone turned off on the preview.
	bob.do("open invite link", chromedp.Navigate(link))
	bob.waitFor("count on the pre-join screen", `document.getElementById('prejoin-count').textContent === '1 person is in this meeting.'`, joinWait)
	bob.waitFor("preview", `document.getElementById('preview').srcObject?.getVideoTracks().length === 1`, joinWait)
	click(bob, "#pre-cam-toggle")
	click(bob, "#pre-mic-toggle")
	bob.waitFor("camera off on the preview", `(() => { const s = document.getElementById('preview').srcObject;
		return s.getVideoTracks().length === 0 && !document.getElementById('preview-off').hidden &&
			document.getElementById('pre-cam-toggle').getAttribute('aria-pressed') === 'true' &&
			__e2e.tracks.filter((t) => t.kind === 'video').every((t) => t.readyState === 'ended'); })()`, joinWait)
	if got := eval[string](bob, `document.getElementById('pre-mic-toggle').getAttribute('aria-pressed') + ' ' + document.getElementById('preview').srcObject.getAudioTracks()[0].enabled`); got != "true false" {
		t.Errorf("Bob's microphone toggle: pressed/enabled %s, want true false", got)
	}
	bob.finishJoin(false)
	alice.waitFor("Bob joined notice", `[...document.querySelectorAll('#toasts li')].some((l) => l.textContent === 'Bob joined')`, mediaWait)
	alice.waitFor("count 2", `document.getElementById('count').dataset.count === '2' && document.getElementById('count').textContent === '2 people'`, mediaWait)
	alice.waitFor("Bob shown muted, camera off", `(() => { const f = document.querySelector('#grid .tile:not(.self)');
		return f && f.classList.contains('nocam') && f.querySelector('.flags').textContent.includes('muted'); })()`, mediaWait)
	alice.waitMedia(1, false)

	// Two people: the other one large, ourselves small in a corner.
	for _, p := range []*participant{alice, bob} {
		p.waitFor("duo layout", `(() => { const g = document.getElementById('grid'); const self = g.querySelector('.tile.self'), other = g.querySelector('.tile:not(.self)');
			if (g.dataset.layout !== 'duo' || !self || !other) return false;
			const a = (e) => { const r = e.getBoundingClientRect(); return r.width * r.height; };
			const gr = g.getBoundingClientRect();
			return self.classList.contains('pip') && a(other) > 0.6 * gr.width * gr.height && a(self) < 0.12 * gr.width * gr.height; })()`, mediaWait)
	}

	// The active speaker: Bob is muted, so on his page Alice (whose fake
	// microphone beeps) is the one outlined; on hers, Bob's tile never is.
	bob.waitFor("Alice shown speaking", `(() => { const f = [...document.querySelectorAll('#grid .tile')].find((f) => f.querySelector('.name').textContent === 'Alice'); return f && f.classList.contains('speaking'); })()`, mediaWait)
	if eval[bool](alice, `document.querySelector('#grid .tile:not(.self)').classList.contains('speaking')`) {
		t.Errorf("Alice's page shows muted Bob speaking")
	}
	// Bob unmutes (his camera stays off) and Alice mutes: Bob is the speaker now.
	bob.do("unmute", chromedp.Click(chromedp.CSS("#btn-mic")))
	alice.do("mute", chromedp.Click(chromedp.CSS("#btn-mic")))
	alice.waitFor("Bob shown speaking", `document.querySelector('#grid .tile:not(.self)').classList.contains('speaking')`, mediaWait)

	// Carol, on her phone: two people in; she joins, then leaves; the
	// others are told.
	carol.setViewport(phoneSizes[0][0], phoneSizes[0][1])
	carol.do("open invite link", chromedp.Navigate(link))
	carol.waitFor("count on the pre-join screen", `document.getElementById('prejoin-count').textContent === '2 people are in this meeting.'`, joinWait)
	carol.finishJoin(false)
	for _, p := range []*participant{alice, bob} {
		p.waitFor("Carol joined notice", `[...document.querySelectorAll('#toasts li')].some((l) => l.textContent === 'Carol joined')`, mediaWait)
		p.waitFor("count 3", `document.getElementById('count').textContent === '3 people' && document.getElementById('people-count').textContent === '3'`, mediaWait)
		p.waitFor("grid layout", `document.getElementById('grid').dataset.layout === 'grid'`, mediaWait)
	}
	carol.waitFor("count 3", `document.getElementById('count').textContent === '3 people'`, mediaWait)
	carol.waitMedia(1, true) // Alice's camera; Bob's is off
	for _, sz := range phoneSizes {
		checkPhoneLayout(t, carol, sz[0], sz[1], fmt.Sprintf("phone-chromium-%dx%d", sz[0], sz[1]))
	}
	alice.waitPaths(2, "direct")
	readmeShot(t, alice, "screenshot-call.png")
	readmeShot(t, carol, "screenshot-phone.png")
	carol.do("leave", chromedp.Click(chromedp.CSS("#btn-leave")))
	for _, p := range []*participant{alice, bob} {
		p.waitFor("Carol left notice", `[...document.querySelectorAll('#toasts li')].some((l) => l.textContent === 'Carol left')`, mediaWait)
		p.waitFor("count 2", `document.getElementById('count').textContent === '2 people'`, mediaWait)
	}
	if n := eval[int](alice, `[...document.querySelectorAll('#toasts li')].filter((l) => l.textContent === 'Bob joined').length + [...document.querySelectorAll('#toasts li')].filter((l) => l.textContent === 'Alice joined').length`); n > 1 {
		t.Errorf("Alice got %d notices about herself or Bob twice", n)
	}
	if eval[bool](carol, `[...document.querySelectorAll('#toasts li')].some((l) => /joined/.test(l.textContent))`) {
		t.Errorf("Carol was told that people already there joined")
	}
}

// testScreenShare: sharing adds the screen as an extra track (the camera
// keeps going); the screen takes the stage with the cameras in a strip;
// any tile can be pinned over it; a tile goes full screen.
func testScreenShare(t *testing.T, alice, bob *participant, base string) {
	link := alice.startMeeting(base, false)
	bob.joinByLink(link, false)
	alice.waitMedia(1, true)
	bob.waitMedia(1, true)
	aliceID := eval[string](bob, `document.querySelector('#grid .tile:not(.self)').dataset.peer`)

	alice.js(`__e2e.fakeScreen()`)
	alice.do("share", chromedp.Click(chromedp.CSS("#btn-share")))
	alice.waitFor("sharing", `document.getElementById('btn-share').getAttribute('aria-pressed') === 'true'`, joinWait)
	screenSel := fmt.Sprintf(`document.querySelector('#grid .tile[data-peer="%s:screen"]')`, aliceID)
	bob.waitFor("Alice's screen on the stage", `(() => { const s = `+screenSel+`; const v = s && s.querySelector('video');
		return s && s.classList.contains('featured') && document.getElementById('grid').dataset.layout === 'spotlight' && v.videoWidth === 1280; })()`, mediaWait)
	bob.waitFor("Alice's camera in the strip, still playing", fmt.Sprintf(`(() => { const c = document.querySelector('#strip .tile[data-peer="%s"] video'); return c && c.videoWidth > 0 && c.videoWidth !== 1280 && !c.paused; })()`, aliceID), mediaWait)
	// Both of Alice's video tracks keep arriving: two inbound video streams whose frames go up.
	bob.waitFor("two video streams decoding", `(async () => {
		const count = async () => { const out = []; for (const pc of __e2e.pcs) { if (pc.signalingState === 'closed') continue;
			for (const s of (await pc.getStats()).values()) if (s.type === 'inbound-rtp' && s.kind === 'video') out.push(s.framesDecoded || 0); } return out; };
		const a = await count(); await new Promise((r) => setTimeout(r, 1000)); const b = await count();
		return a.length === 2 && b.length === 2 && b[0] > a[0] && b[1] > a[1]; })()`, mediaWait)
	alice.waitFor("her own screen on her stage", `document.querySelector('#grid .tile[data-peer="self:screen"]')?.classList.contains('featured')`, mediaWait)
	if n := eval[int](alice, `__e2e.tracks.filter((t) => t.kind === 'video' && t.readyState === 'live').length`); n != 2 {
		t.Errorf("Alice has %d live video tracks while sharing, want 2 (camera and screen)", n)
	}

	// Pin Alice's camera: it takes the stage; unpin: the screen is back.
	bob.do("pin the camera", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#grid .tile[data-peer="%s"] .pin`, aliceID))))
	bob.waitFor("camera pinned", fmt.Sprintf(`document.querySelector('#grid .tile[data-peer="%s"]').classList.contains('featured') && !`+screenSel+`.classList.contains('featured')`, aliceID), joinWait)
	bob.do("unpin", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#grid .tile[data-peer="%s"] .pin`, aliceID))))
	bob.waitFor("screen back on the stage", screenSel+`.classList.contains('featured')`, joinWait)

	// Full screen for one tile.
	bob.do("full screen", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#grid .tile[data-peer="%s:screen"] .fullscreen`, aliceID))))
	bob.waitFor("tile full screen", `document.fullscreenElement === `+screenSel, joinWait)
	bob.js(`document.exitFullscreen()`)

	// Stop sharing: the stage goes back to the two of them; the camera never stopped.
	alice.do("stop sharing", chromedp.Click(chromedp.CSS("#btn-share")))
	bob.waitFor("screen tile gone", `!`+screenSel+` && document.getElementById('grid').dataset.layout === 'duo'`, mediaWait)
	bob.waitMedia(1, true)
	if eval[string](alice, `__e2e.tracks.filter((t) => t.kind === 'video' && t.readyState === 'live').length + ''`) != "1" {
		t.Errorf("Alice's screen track still live after she stopped sharing")
	}

	run(t, "Recording", func(t *testing.T) { testRecording(t, alice) }, alice)
}
