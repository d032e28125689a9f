package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamsync/streamsync/internal/firefoxtest"
)

// tab is what the browser-neutral scenarios need of a person's page, in
// Chromium (participant, over CDP) or Firefox (ffParticipant, over
// WebDriver BiDi). Clicks are the element's click(): the page listens to
// click events, which both browsers fire alike.
type tab interface {
	label() string
	tb() testing.TB
	// bind makes the tab report to t from now on and returns the test it
	// reported to before (see run).
	bind(t testing.TB) testing.TB
	// js evaluates an expression (a promise is awaited) and returns its
	// value as JSON; the test fails on an exception.
	js(expr string) string
	waitFor(what, expr string, timeout time.Duration)
	setViewport(w, h int)
	screenshot() []byte
	setFiles(selector string, paths []string)
	navigate(url string)
}

func (p *participant) label() string  { return p.name + " (Chromium)" }
func (p *participant) tb() testing.TB { return p.t }
func (p *participant) bind(t testing.TB) (old testing.TB) {
	old, p.t = p.t, t
	return old
}
func (p *participant) js(expr string) string {
	p.t.Helper()
	return eval[string](p, `(async () => JSON.stringify(await (`+expr+"\n)) ?? 'null')()")
}
func (p *participant) setViewport(w, h int) {
	p.t.Helper()
	p.do("viewport", chromedp.EmulateViewport(int64(w), int64(h)))
}
func (p *participant) screenshot() []byte {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	return shot
}
func (p *participant) setFiles(selector string, paths []string) {
	p.t.Helper()
	p.do("choose file", chromedp.SetUploadFiles(chromedp.CSS(selector), paths))
}
func (p *participant) navigate(url string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url))
}

// ffParticipant is one person in Firefox: a window in a user context of
// its own.
type ffParticipant struct {
	t    testing.TB
	name string
	tab  *firefoxtest.Tab
}

func newFirefoxParticipant(t testing.TB, b *firefoxtest.Browser, name string) *ffParticipant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := b.NewTab(ctx, 1280, 800)
	if err != nil {
		t.Fatalf("%s: open Firefox window: %v", name, err)
	}
	if err := tb.AddPreloadScript(ctx, hookScript); err != nil {
		t.Fatalf("%s: add hook: %v", name, err)
	}
	p := &ffParticipant{t: t, name: name, tab: tb}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s: console\n%s", p.label(), strings.Join(tb.Console(), "\n"))
			t.Logf("--- %s: page state\n%s", p.label(), p.tryJS(pageStateExpr))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tb.Close(ctx)
	})
	return p
}

func (p *ffParticipant) label() string  { return p.name + " (Firefox)" }
func (p *ffParticipant) tb() testing.TB { return p.t }
func (p *ffParticipant) bind(t testing.TB) (old testing.TB) {
	old, p.t = p.t, t
	return old
}

// run runs f as the subtest name with tabs, which the parent opened,
// reporting to the subtest while it runs. A tab that kept the parent's t
// would call FailNow on the parent from the subtest's goroutine: Go then
// aborts the whole parent ("subtest may have called FailNow on a parent
// test") instead of failing the one subtest, and every later subtest is
// lost with it.
func run(t *testing.T, name string, f func(t *testing.T), tabs ...tab) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		for _, p := range tabs {
			old := p.bind(t)
			defer p.bind(old)
		}
		f(t)
	})
}

func (p *ffParticipant) tryJS(expr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := p.tab.Eval(ctx, expr)
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return string(v)
}

func (p *ffParticipant) js(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := p.tab.Eval(ctx, expr)
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.label(), short(expr), err)
	}
	return string(v)
}

func (p *ffParticipant) waitFor(what, expr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := p.tab.Eval(ctx, "(async () => !!(await ("+expr+"\n)))()")
		cancel()
		if err == nil && string(v) == "true" {
			return
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	if last != nil && !errors.Is(last, context.DeadlineExceeded) {
		p.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)", p.label(), timeout, what, last)
	}
	p.t.Fatalf("%s: timed out after %v waiting for %s", p.label(), timeout, what)
}

func (p *ffParticipant) setViewport(w, h int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.tab.SetViewport(ctx, w, h); err != nil {
		p.t.Fatalf("%s: viewport: %v", p.label(), err)
	}
}

func (p *ffParticipant) screenshot() []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shot, err := p.tab.Screenshot(ctx)
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.label(), err)
	}
	return shot
}

func (p *ffParticipant) setFiles(selector string, paths []string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.tab.SetFiles(ctx, selector, paths); err != nil {
		p.t.Fatalf("%s: choose file: %v", p.label(), err)
	}
}

func (p *ffParticipant) navigate(url string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.tab.Navigate(ctx, url); err != nil {
		p.t.Fatalf("%s: open %s: %v", p.label(), url, err)
	}
}

// pageStateExpr describes a page for failure reports.
const pageStateExpr = `(async () => ({
	url: location.href,
	screen: [...document.querySelectorAll('.screen')].filter((e) => !e.hidden).map((e) => e.id),
	status: document.getElementById('conn-status')?.textContent,
	people: [...document.querySelectorAll('#people li')].map((li) => li.textContent),
	tiles: [...document.querySelectorAll('#grid .tile')].map((f) => f.dataset.peer),
	errors: [...document.querySelectorAll('.error, .warning, #call-notice')].map((e) => e.textContent).filter(Boolean),
	transfers: [...document.querySelectorAll('#transfers li')].map((li) => li.className + ': ' + li.querySelector('.status')?.textContent + ' (' + li.querySelector('progress')?.value + ' of ' + li.querySelector('progress')?.max + ')'),
	media: window.__e2e ? await window.__e2e.media() : null,
	pairs: window.__e2e ? await window.__e2e.pairs() : null,
}))()`

// jsq quotes s as a JavaScript string literal.
func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// click clicks the element selector finds.
func click(p tab, selector string) {
	p.tb().Helper()
	if got := p.js(`(() => { const e = document.querySelector(` + jsq(selector) + `); if (!e) return false; e.click(); return true; })()`); got != "true" {
		p.tb().Fatalf("%s: no %s to click", p.label(), selector)
	}
}

// setValue sets an input's value as typing would (an input event fires).
func setValue(p tab, selector, value string) {
	p.tb().Helper()
	if got := p.js(`(() => { const e = document.querySelector(` + jsq(selector) + `); if (!e) return false; e.value = ` + jsq(value) + `; e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true })); return true; })()`); got != "true" {
		p.tb().Fatalf("%s: no %s to type into", p.label(), selector)
	}
}

// joinIn opens an invite link and joins.
func joinIn(p tab, link string, relayOnly bool) {
	p.tb().Helper()
	p.navigate(link)
	finishJoinIn(p, relayOnly)
}

// finishJoinIn goes through the pre-join screen: name, relay switch, Join.
func finishJoinIn(p tab, relayOnly bool) {
	p.tb().Helper()
	p.waitFor("pre-join screen", `!document.getElementById('prejoin').hidden`, joinWait)
	setValue(p, "#pre-name", strings.SplitN(p.label(), " ", 2)[0])
	p.waitFor("pre-join preview", `document.getElementById('preview').srcObject !== null`, joinWait)
	if relayOnly {
		click(p, "#pre-relay")
		if p.js(`document.getElementById('pre-relay').checked`) != "true" {
			p.tb().Fatalf("%s: relay-only switch did not turn on", p.label())
		}
	}
	click(p, "#join-button")
	p.waitFor("call screen", `!document.getElementById('call').hidden`, joinWait)
}

// waitMediaIn waits until n connections are connected and each brings
// video (when video) and audio that keep arriving.
func waitMediaIn(p tab, n int, video bool) {
	p.tb().Helper()
	v := 0
	if video {
		v = n
	}
	p.waitFor(fmt.Sprintf("%d flowing connection(s)", n),
		fmt.Sprintf(`(async () => { const f = await __e2e.flowing(); return f.connected >= %d && f.audio >= %d && f.video >= %d; })()`, n, n, v), mediaWait)
}

// waitPathsIn waits until the People list shows n peers connected, each
// with the path in words.
func waitPathsIn(p tab, n int, path string) {
	p.tb().Helper()
	p.waitFor(fmt.Sprintf("%d peer(s) shown as %q", n, path), fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('#people li')];
		return l.length === %d && l.every((li) => li.dataset.state === 'connected' && li.querySelector('.path').textContent === %q); })()`, n, path), mediaWait)
}

// shotDir is where -shots writes the layout screenshots ("" = a temp dir).
var shotDir = os.Getenv("STREAMSYNC_SHOTS")

// saveShot writes a screenshot for a person to look at: under
// $STREAMSYNC_SHOTS when set, else in the test's temp dir.
func saveShot(t testing.TB, p tab, name string) string {
	t.Helper()
	dir := shotDir
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, p.screenshot(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
