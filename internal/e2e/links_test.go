package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/streamsync/streamsync/internal/apptest"
)

// testBadLinks: a link that is not a meeting link, or names a meeting
// that does not exist, is said on the page's own design before any camera
// is asked for; the server's 404 is a page in that design too.
func testBadLinks(t *testing.T, b *browserProc, app *apptest.Appliance) {
	p := b.newParticipant(t, "Eve")
	open := func(url string) {
		t.Helper()
		p.do("open "+url, chromedp.Navigate("about:blank"), chromedp.Navigate(url))
	}
	for _, tc := range []struct{ name, path, problem, title string }{
		{"garbage fragment", "/#garbage", "bad", "This link does not work"},
		{"id too long", "/#" + strings.Repeat("A", 33), "bad", "This link does not work"},
		{"id cut short", "/#" + strings.Repeat("A", 31), "bad", "This link does not work"},
		{"garbage path", "/r/garbage", "bad", "This link does not work"},
		{"unknown meeting", "/#" + strings.Repeat("A", 32), "gone", "This meeting does not exist"},
		{"unknown meeting by path", "/r/" + strings.Repeat("B", 32), "gone", "This meeting does not exist"},
	} {
		run(t, tc.name, func(t *testing.T) {
			open(app.HTTPURL + tc.path)
			p.waitFor("the problem said", `!document.getElementById('problem').hidden && document.getElementById('problem').dataset.problem === `+jsq(tc.problem), joinWait)
			if got := eval[string](p, `document.getElementById('problem-title').textContent`); got != tc.title {
				t.Errorf("title %q, want %q", got, tc.title)
			}
			if n := eval[int](p, `__e2e.asked.getUserMedia`); n != 0 {
				t.Errorf("the camera was asked for %d times before the problem was said", n)
			}
			// On the page's design: its style sheet applies.
			if r := eval[string](p, `getComputedStyle(document.querySelector('#problem .card')).borderRadius`); r != "12px" {
				t.Errorf("problem card not styled (border-radius %q)", r)
			}
		}, p)
	}
	run(t, "start a new meeting instead", func(t *testing.T) {
		open(app.HTTPURL + "/#garbage")
		p.waitFor("problem", `!document.getElementById('problem').hidden`, joinWait)
		p.do("new meeting", chromedp.Click(chromedp.CSS("#problem-new")))
		p.waitFor("pre-join for a new meeting", `!document.getElementById('prejoin').hidden && document.getElementById('prejoin-title').textContent === 'Start a new meeting'`, joinWait)
		p.waitFor("camera preview", `document.getElementById('preview').srcObject !== null`, joinWait)
	}, p)
	run(t, "landing join field", func(t *testing.T) {
		open(app.HTTPURL + "/")
		p.do("join garbage", chromedp.WaitVisible(chromedp.CSS("#join-code")),
			chromedp.SetValue(chromedp.CSS("#join-code"), app.HTTPURL+"/#garbage"), chromedp.Click(chromedp.CSS("#join-form button")))
		p.waitFor("said on the landing page", `/not a meeting link or code/.test(document.getElementById('landing-error').textContent)`, joinWait)
	}, p)
	run(t, "404 page", func(t *testing.T) {
		for _, path := range []string{"/nope", "/r/garbage"} {
			resp, err := http.Get(app.HTTPURL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "/assets/style.css") {
				t.Errorf("GET %s: %d %s, want a 404 page in the page's design", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		open(app.HTTPURL + "/nope")
		p.waitFor("404 page", `document.querySelector('#notfound h1')?.textContent.trim() === 'Nothing here'`, joinWait)
		if r := eval[string](p, `getComputedStyle(document.querySelector('#notfound .card')).borderRadius`); r != "12px" {
			t.Errorf("404 page not styled (border-radius %q)", r)
		}
	}, p)
}

// testScreenShareErrors: a failed screen share is said in words, never
// with the browser's own message; a cancelled one says nothing.
func testScreenShareErrors(t *testing.T, p *participant) {
	for _, tc := range []struct{ name, words string }{
		{"NotFoundError", "There is nothing to share: no screen or window was offered. Try again and pick one."},
		{"NotReadableError", "The screen could not be captured: the system refused. Check its screen-recording permission, then try again."},
		{"NotAllowedError", ""},
	} {
		p.js(`(() => { document.getElementById('call-notice').hidden = true; document.getElementById('call-notice').textContent = '';
			navigator.mediaDevices.getDisplayMedia = () => Promise.reject(new DOMException('The object can not be found here.', ` + jsq(tc.name) + `)); })()`)
		p.do("share", chromedp.Click(chromedp.CSS("#btn-share")))
		if tc.words == "" {
			p.waitFor("nothing said", `new Promise((r) => setTimeout(() => r(document.getElementById('call-notice').hidden), 500))`, joinWait)
			continue
		}
		p.waitFor(tc.name+" said in words", `document.getElementById('call-notice').textContent === `+jsq(tc.words), joinWait)
	}
}
