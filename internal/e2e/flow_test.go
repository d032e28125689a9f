package e2e

import (
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	joinWait  = 20 * time.Second
	mediaWait = 30 * time.Second
)

// startMeeting opens the landing page, starts a new meeting and returns
// the invite link the page offers.
func (p *participant) startMeeting(base string, relayOnly bool) string {
	p.t.Helper()
	p.do("open landing",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#new-meeting")),
		chromedp.SetValue(chromedp.CSS("#name"), p.name),
		chromedp.Click(chromedp.CSS("#new-meeting")),
	)
	p.finishJoin(relayOnly)
	link := eval[string](p, `document.getElementById('copy-link').dataset.link`)
	if !strings.Contains(link, "#") {
		p.t.Fatalf("%s: invite link %q has no room", p.name, link)
	}
	return link
}

// joinByLink opens an invite link and joins.
func (p *participant) joinByLink(link string, relayOnly bool) {
	p.t.Helper()
	p.do("open invite link", chromedp.Navigate(link))
	p.finishJoin(relayOnly)
}

// finishJoin goes through the pre-join screen: name, relay switch, Join.
func (p *participant) finishJoin(relayOnly bool) {
	p.t.Helper()
	p.do("pre-join",
		chromedp.WaitVisible(chromedp.CSS("#join-button")),
		chromedp.SetValue(chromedp.CSS("#pre-name"), p.name),
	)
	// The preview must be up before joining, as a person would wait for it.
	p.waitFor("pre-join preview", `document.getElementById('preview').srcObject !== null`, joinWait)
	if relayOnly {
		p.do("relay only", chromedp.Click(chromedp.CSS("#pre-relay")))
		if !eval[bool](p, `document.getElementById('pre-relay').checked`) {
			p.t.Fatalf("%s: relay-only switch did not turn on", p.name)
		}
	}
	p.do("join", chromedp.Click(chromedp.CSS("#join-button")))
	p.waitFor("call screen", `!document.getElementById('call').hidden`, joinWait)
}

// waitMedia waits until n peer connections are connected and each brings
// video frames that keep being decoded and audio that keeps arriving.
func (p *participant) waitMedia(n int, video bool) {
	p.t.Helper()
	cond := fmt.Sprintf(`(async () => { const f = await __e2e.flowing(); return f.connected >= %d && f.audio >= %d && f.video >= %d; })()`, n, n, map[bool]int{true: n, false: 0}[video])
	p.waitFor(fmt.Sprintf("%d flowing connection(s)", n), cond, mediaWait)
}

// waitPaths waits until the participant list shows n peers connected, each
// with the path in words.
func (p *participant) waitPaths(n int, path string) {
	p.t.Helper()
	cond := fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('#people li')];
		return l.length === %d && l.every((li) => li.dataset.state === 'connected' && li.querySelector('.path').textContent === %q); })()`, n, path)
	p.waitFor(fmt.Sprintf("%d peer(s) shown as %q", n, path), cond, mediaWait)
}

// tiles returns the peer ids of the video tiles on the page.
func (p *participant) tiles() []string {
	return eval[[]string](p, `[...document.querySelectorAll('#grid .tile')].map((f) => f.dataset.peer)`)
}
