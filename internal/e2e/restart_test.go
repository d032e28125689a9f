package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/streamsync/streamsync/internal/apptest"
)

// framesExpr is the video frames a page has decoded over its open media
// connections.
const framesExpr = `(async () => (await __e2e.media()).reduce((n, m) => n + m.video, 0))()`

// framesNow reads framesExpr without failing the test (for a sampler
// running beside the test's own steps).
func framesNow(p *participant) (int, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[int](framesExpr, chromedp.EvalAwaitPromise))
}

// frameSampler reads the decoded frames of some pages every interval until
// stopped: proof that media never stopped.
type frameSampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples map[*participant][]int // guarded by mu
	errs    []error                // guarded by mu
}

func sampleFrames(ps []*participant, every time.Duration) *frameSampler {
	s := &frameSampler{stop: make(chan struct{}), done: make(chan struct{}), samples: map[*participant][]int{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			for _, p := range ps {
				n, err := framesNow(p)
				s.mu.Lock()
				if err != nil {
					s.errs = append(s.errs, fmt.Errorf("%s: %w", p.name, err))
				} else {
					s.samples[p] = append(s.samples[p], n)
				}
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stallSamples is how many sampling periods without a new frame count as
// media stopping: a loaded machine may starve a page's decoder for a
// second, a stopped call (torn down, or waiting for an ICE restart) stops
// for longer.
const stallSamples = 3

// fewest is the smallest number of samples of a page so far.
func (s *frameSampler) fewest() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := -1
	for _, got := range s.samples {
		if n < 0 || len(got) < n {
			n = len(got)
		}
	}
	return max(n, 0)
}

// check stops the sampler and fails unless every page's frames went up
// over every stallSamples periods.
func (s *frameSampler) check(t *testing.T) {
	t.Helper()
	// Restarts may be over within a few samples: sample a little past them.
	for deadline := time.Now().Add(mediaWait); time.Now().Before(deadline) && s.fewest() < 2*stallSamples; {
		time.Sleep(200 * time.Millisecond)
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("sampling frames: %v", err)
	}
	for p, got := range s.samples {
		if len(got) <= stallSamples {
			t.Errorf("%s: only %d samples", p.name, len(got))
		}
		for i := stallSamples; i < len(got); i++ {
			if got[i] <= got[i-stallSamples] {
				t.Errorf("%s: direct video stopped: frames decoded %v (no new frame from sample %d to %d)", p.name, got, i-stallSamples, i)
				break
			}
		}
		t.Logf("%s: direct video frames decoded, sampled through both restarts: %v", p.name, got)
	}
}

// restartApp starts the appliance on cfg and env (again), logging its
// output when the test fails.
func restartApp(t *testing.T, cfg string, env []string) *apptest.Appliance {
	t.Helper()
	a := apptest.StartWith(t, cfg, apptest.Options{Env: env})
	t.Cleanup(func() {
		if t.Failed() {
			logs := a.Logs()
			if lines := strings.Split(logs, "\n"); len(lines) > 200 {
				logs = strings.Join(lines[len(lines)-200:], "\n")
			}
			t.Logf("--- appliance log (tail)\n%s", logs)
		}
	})
	return a
}

// secondsToNewFrames waits until each page decodes a video frame beyond
// what it had decoded when the server came back, and returns the seconds
// from then for each.
func secondsToNewFrames(t *testing.T, back time.Time, ps ...*participant) []float64 {
	t.Helper()
	base := make([]int, len(ps))
	for i, p := range ps {
		base[i] = eval[int](p, framesExpr)
	}
	got := make([]float64, len(ps))
	left := len(ps)
	for deadline := time.Now().Add(mediaWait); left > 0; {
		for i, p := range ps {
			if got[i] == 0 && eval[int](p, framesExpr) > base[i] {
				got[i] = time.Since(back).Seconds()
				left--
			}
		}
		if time.Now().After(deadline) {
			for i, p := range ps {
				if got[i] == 0 {
					t.Fatalf("%s: no new video frame within %s of the restart; pairs: %s", p.name, mediaWait, eval[string](p, `(async () => (await __e2e.pairs()).join('\n'))()`))
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got
}

// assertBack checks a page shows its call again, by itself, under the
// peer id it had, resumed after a restart, with others tiles beside its own.
func assertBack(t *testing.T, p *participant, id string, others int) {
	t.Helper()
	p.waitFor("connected again", `document.getElementById('conn-status').dataset.status === 'connected'`, mediaWait)
	j := eval[string](p, `JSON.stringify({id: __e2e.joined.id, resumed: __e2e.joined.resumed, restarted: !!__e2e.joined.restarted,
		call: !document.getElementById('call').hidden, ended: !document.getElementById('ended').hidden})`)
	if want := fmt.Sprintf(`{"id":%q,"resumed":true,"restarted":true,"call":true,"ended":false}`, id); j != want {
		t.Fatalf("%s: after the restart %s, want %s", p.name, j, want)
	}
	p.waitFor(fmt.Sprintf("%d tiles", others+1), fmt.Sprintf(`document.querySelectorAll('#grid .tile').length === %d`, others+1), mediaWait)
}

// testRestart: meetings survive restarts of the appliance (issue 16.2-3).
// A relayed call (relay forced) and a direct call in one appliance whose
// keys live in its state directory ($STATE_DIRECTORY, as systemd gives it,
// and no turn.secrets: the relay's secret is new at each start). The
// appliance is killed (SIGKILL) and started again on the same config, then
// stopped (SIGTERM) and started again. Each time both relayed pages come
// back by themselves under their peer ids and decode new frames (the
// seconds from the restart are printed); the direct call's frames go up
// throughout. Then a link made before the restarts, opened for the first
// time after them, works, and a third person joins the relayed call and
// sees both others.
func testRestart(t *testing.T, b *browserProc) {
	cfg := strings.Replace(applianceConfig(applianceOpts{udp: true}), `secrets = ["e2e-test-secret-0123456789"]`, ``, 1)
	env := []string{"STATE_DIRECTORY=" + t.TempDir()}
	app := restartApp(t, cfg, env)
	proxy := startCutProxy(t, strings.TrimPrefix(app.HTTPURL, "http://"))
	base := proxy.URL()

	small := `window.__e2eVideoMax = [320, 180];` // four pages on two cores
	alice, bob := b.newParticipant(t, "Alice", small), b.newParticipant(t, "Bob", small)
	dave, erin := b.newParticipant(t, "Dave", small), b.newParticipant(t, "Erin", small)
	relayed := alice.startMeeting(base, true)
	bob.joinByLink(relayed, true)
	direct := dave.startMeeting(base, false)
	erin.joinByLink(direct, false)
	for _, p := range []*participant{alice, bob, dave, erin} {
		p.waitMedia(1, true)
	}
	alice.waitPaths(1, "relayed via TURN (UDP)")
	dave.waitPaths(1, "direct")
	ids := map[*participant]string{}
	for _, p := range []*participant{alice, bob, dave, erin} {
		ids[p] = eval[string](p, `__e2e.joined.id`)
	}
	directPCs := map[*participant]int{dave: eval[int](dave, `__e2e.pcs.length`), erin: eval[int](erin, `__e2e.pcs.length`)}
	// A meeting made before the restarts that nobody is in.
	unopened := emptyMeeting(t, base)

	sampler := sampleFrames([]*participant{dave, erin}, time.Second)
	for _, how := range []struct {
		name string
		stop func()
	}{
		{"SIGKILL", func() {
			if err := app.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case <-app.Exited():
			case <-time.After(10 * time.Second):
				t.Fatal("streamsync survived SIGKILL")
			}
		}},
		{"SIGTERM", func() {
			if err := app.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := app.Wait(15 * time.Second); code != 0 {
				t.Fatalf("streamsync exited %d on SIGTERM", code)
			}
		}},
	} {
		how.stop()
		alice.waitFor("reconnecting", `document.getElementById('conn-status').dataset.status === 'reconnecting'`, mediaWait)
		app = restartApp(t, cfg, env)
		proxy.retarget(strings.TrimPrefix(app.HTTPURL, "http://"))
		back := time.Now()
		secs := secondsToNewFrames(t, back, alice, bob)
		t.Logf("%s, relay forced: seconds from the restart (listening again) to the first new video frame: Alice %.1f s, Bob %.1f s", how.name, secs[0], secs[1])
		for _, p := range []*participant{alice, bob, dave, erin} {
			assertBack(t, p, ids[p], 1)
		}
		alice.waitPaths(1, "relayed via TURN (UDP)")
	}
	sampler.check(t)
	for p, n := range directPCs {
		if got := eval[int](p, `__e2e.pcs.length`); got != n {
			t.Errorf("%s: %d peer connections made, %d before the restarts: the direct call was set up again", p.name, got, n)
		}
	}

	// A link of the earlier run, opened for the first time after it.
	carol := b.newParticipant(t, "Carol", small)
	carol.joinByLink(unopened, false)
	carol.waitFor("connected", `document.getElementById('conn-status').dataset.status === 'connected'`, mediaWait)
	if got := eval[string](carol, `__e2e.joined.room`); !strings.HasSuffix(unopened, got) {
		t.Fatalf("Carol is in room %q, want the one of %s", got, unopened)
	}
	// And the restarted relayed call takes a newcomer, who sees both.
	carol.do("leave", chromedp.Navigate("about:blank"))
	carol.joinByLink(relayed, false)
	carol.waitFor("both others listed", `document.querySelectorAll('#grid .tile').length === 3`, mediaWait)
	for _, p := range []*participant{alice, bob, carol} {
		p.waitMedia(2, true)
	}
}

// emptyMeeting creates a meeting on base over a plain WebSocket, leaves it
// at once and returns its link.
func emptyMeeting(t *testing.T, base string) string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]string{"type": "join", "name": "organizer"}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct{ Type, Room string }
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "joined" {
			_ = ws.WriteJSON(map[string]string{"type": "leave"})
			return base + "/#" + m.Room
		}
	}
}
