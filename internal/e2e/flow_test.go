package e2e

import (
	"context"
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
	p.open("open landing", base+"/", "#new-meeting")
	p.do("start a meeting",
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
	p.open("open invite link", link, "#join-button")
	p.finishJoin(relayOnly)
}

// open loads url until the element ready shows. A browser just started in
// a network namespace may see its addresses settle while the page loads
// (net::ERR_NETWORK_CHANGED on a module): then it loads once more, as a
// person would press reload.
func (p *participant) open(what, url, ready string) {
	p.t.Helper()
	var err error
	for try := 0; try < 2; try++ {
		ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
		err = chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(ready)))
		cancel()
		if err == nil {
			return
		}
		p.t.Logf("%s: %s: %v (try %d)", p.name, what, err, try+1)
	}
	p.t.Fatalf("%s: %s: %v", p.name, what, err)
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
