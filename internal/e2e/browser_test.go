package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium. In CI (CI set) a missing browser
// fails the suite; elsewhere the suite is skipped with the reason.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("STREAMSYNC_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const why = "chromium not found (install it with scripts/test-deps.sh, or set STREAMSYNC_CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(why + ": browser tests must run in CI")
	}
	t.Skip(why)
	return ""
}

// browserProc is one chromium process; participants get their own browser
// context in it (separate storage, permissions and cookies).
type browserProc struct {
	ctx    context.Context // the first tab's context: keeps the browser alive
	cancel func()
}

// launchFlags are the chromium switches of the suite. Chromium leaves the
// loopback interface out of ICE unless told otherwise, and our TURN server
// listens on 127.0.0.1.
func launchFlags(fakeUI bool) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// 15 frames per second: two cores carry a three-way mesh of them.
		chromedp.Flag("use-fake-device-for-media-stream", "fps=15"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Host candidates as addresses, not mDNS names nobody here resolves.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter"),
		chromedp.WindowSize(1280, 800),
	}
	if fakeUI {
		opts = append(opts, chromedp.Flag("use-fake-ui-for-media-stream", true))
	}
	return opts
}

// launchBrowser starts chromium; fakeUI answers every camera and
// microphone prompt with "allow"; extra adds switches.
func launchBrowser(t testing.TB, fakeUI bool, extra ...chromedp.ExecAllocatorOption) *browserProc {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(launchFlags(fakeUI), chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()))
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		t.Fatalf("start chromium: %v", err)
	}
	b := &browserProc{ctx: bctx, cancel: func() { bcancel(); acancel() }}
	t.Cleanup(b.cancel)
	return b
}

// participant is one person in a call: a tab in its own browser context.
type participant struct {
	t      testing.TB
	name   string
	ctx    context.Context
	cancel func()

	mu   sync.Mutex
	logs []string // console messages, for failure reports
}

// hookScript runs before the page's own scripts: it records every
// RTCPeerConnection the page creates and the signaling WebSocket, so that
// tests can read getStats without the page exporting anything.
//
// It also keeps what the tests of "ended means ended" and of leaks look at:
// every track getUserMedia and getDisplayMedia handed out (and how often
// they were asked), the relay candidates each connection gathered, the
// page's live intervals, the live event listeners by type, and the files
// the page offered for download (recorded, not saved).
const hookScript = `(() => {
  window.__streamsyncDebug = true;
  const blobs = new Map();
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (o) => { const u = createObjectURL(o); blobs.set(u, o); return u; };
  const Orig = window.RTCPeerConnection;
  const pcs = [];
  window.RTCPeerConnection = class extends Orig {
    constructor(...a) {
      super(...a);
      this.__config = a[0] || {};
      // Relay candidates (TURN allocations) by ICE generation (ufrag): an
      // ICE restart gathers anew and the old generation's go once it is done.
      this.__relay = {};
      this.addEventListener('icecandidate', (e) => {
        const c = e.candidate;
        if (!c || c.type !== 'relay') return;
        const g = c.usernameFragment || (/ufrag (\S+)/.exec(c.candidate) || [])[1] || '?';
        this.__relay[g] = (this.__relay[g] || 0) + 1;
      });
      // A connection that failed restarts ICE with every TURN URL (call.js).
      this.__failed = false;
      this.addEventListener('connectionstatechange', () => { if (this.connectionState === 'failed') this.__failed = true; });
      pcs.push(this);
    }
  };
  const tracks = [];
  const asked = { getUserMedia: 0, getDisplayMedia: 0 };
  const md = navigator.mediaDevices;
  for (const name of ['getUserMedia', 'getDisplayMedia']) {
    if (!md || !md[name]) continue;
    const orig = md[name].bind(md);
    const wrapped = async (...a) => {
      asked[name]++;
      // A test may ask for smaller camera frames (window.__e2eVideoMax = [w, h]) to spare the CPU.
      const max = window.__e2eVideoMax;
      if (max && name === 'getUserMedia' && a[0] && a[0].video) {
        a[0] = { ...a[0], video: { ...(a[0].video === true ? {} : a[0].video), width: { ideal: max[0] }, height: { ideal: max[1] } } };
      }
      const s = await orig(...a);
      tracks.push(...s.getTracks());
      return s;
    };
    Object.defineProperty(md, name, { configurable: true, writable: true, value: wrapped });
  }
  const liveIntervals = new Set();
  const setI = window.setInterval, clearI = window.clearInterval;
  window.setInterval = function (fn, ms, ...a) { const id = setI.call(window, fn, ms, ...a); liveIntervals.add(id); return id; };
  window.clearInterval = function (id) { liveIntervals.delete(id); return clearI.call(window, id); };
  const listeners = new WeakMap(), listenerCount = {};
  const add = EventTarget.prototype.addEventListener, remove = EventTarget.prototype.removeEventListener;
  EventTarget.prototype.addEventListener = function (type, fn, opts) {
    if (fn && !(opts && opts.once)) {
      let m = listeners.get(this);
      if (!m) { m = new Map(); listeners.set(this, m); }
      let set = m.get(type);
      if (!set) { set = new Set(); m.set(type, set); }
      if (!set.has(fn)) { set.add(fn); listenerCount[type] = (listenerCount[type] || 0) + 1; }
    }
    return add.call(this, type, fn, opts);
  };
  EventTarget.prototype.removeEventListener = function (type, fn, opts) {
    const set = listeners.get(this)?.get(type);
    if (set && set.delete(fn)) listenerCount[type]--;
    return remove.call(this, type, fn, opts);
  };
  const downloads = [];
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (this.download) { downloads.push({ name: this.download, href: this.href }); return; }
    return click.call(this);
  };
  const WS = window.WebSocket;
  const sockets = [];
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      sockets.push(this);
      this.addEventListener('message', (e) => {
        try { const m = JSON.parse(e.data); if (m.type === 'joined') window.__e2e.joined = m; } catch { /* not ours */ }
      });
    }
  };
  let recorded = 0;
  if (window.MediaRecorder) {
    const MR = window.MediaRecorder;
    window.MediaRecorder = class extends MR {
      constructor(...a) { super(...a); this.addEventListener('dataavailable', (e) => { recorded += e.data.size; }); }
    };
  }
  const alerts = [];
  window.alert = (m) => { alerts.push(String(m)); };
  window.__e2e = {
    recorded: () => recorded, // bytes MediaRecorder has handed the page so far
    sockets,
    joined: null,
    pcs,
    alerts,
    blobs,
    tracks,
    asked,
    liveIntervals,
    listenerCount,
    downloads,
    // A stand-in for the screen picker: headless browsers have no screen
    // to capture. A canvas that keeps changing, as a shared window would.
    fakeScreen() {
      md.getDisplayMedia = async () => {
        asked.getDisplayMedia++;
        const c = document.createElement('canvas');
        c.width = 1280; c.height = 720;
        const g = c.getContext('2d');
        let n = 0;
        const draw = () => { g.fillStyle = 'hsl(' + (n++ * 7 % 360) + ' 60% 50%)'; g.fillRect(0, 0, 1280, 720); g.fillStyle = '#fff'; g.font = '64px sans-serif'; g.fillText('Shared screen ' + n, 80, 360); };
        draw();
        const timer = setI.call(window, draw, 66);
        const s = c.captureStream(15);
        s.getVideoTracks()[0].addEventListener('ended', () => clearI.call(window, timer));
        const stop = MediaStreamTrack.prototype.stop;
        s.getVideoTracks()[0].stop = function () { clearI.call(window, timer); return stop.call(this); };
        tracks.push(...s.getTracks());
        return s;
      };
    },
    // What ending a call must leave behind: no live local track, no open
    // peer connection, no interval of the page.
    async ended() {
      return JSON.stringify({
        liveTracks: tracks.filter((t) => t.readyState !== 'ended').map((t) => t.kind + ':' + t.label),
        openPCs: pcs.filter((pc) => pc.signalingState !== 'closed').length,
        openSockets: sockets.filter((s) => s.readyState !== WebSocket.CLOSED && s.readyState !== WebSocket.CLOSING).length,
        intervals: liveIntervals.size,
      });
    },
    // Inbound RTP bytes over every connection still open.
    async inboundBytes() {
      let n = 0;
      for (const pc of pcs) {
        if (pc.signalingState === 'closed') continue;
        for (const s of (await pc.getStats()).values()) if (s.type === 'inbound-rtp') n += s.bytesReceived || 0;
      }
      return n;
    },
    async media() {
      const out = [];
      for (const pc of pcs) {
        if (pc.signalingState === 'closed') continue;
        const r = await pc.getStats();
        const m = { state: pc.connectionState, video: 0, audio: 0, sentVideo: 0, hasMedia: false };
        for (const s of r.values()) {
          if (s.type === 'inbound-rtp' && s.kind === 'video') { m.video += s.framesDecoded || 0; m.hasMedia = true; }
          if (s.type === 'inbound-rtp' && s.kind === 'audio') { m.audio += s.packetsReceived || 0; m.hasMedia = true; }
          if (s.type === 'outbound-rtp' && s.kind === 'video') m.sentVideo += s.framesEncoded || 0;
        }
        if (pc.getTransceivers().length > 0) out.push(m);
      }
      return out;
    },
    // Candidate pairs of every media connection, for failure reports.
    async pairs() {
      const out = [];
      for (const pc of pcs) {
        if (pc.signalingState === 'closed' || pc.getTransceivers().length === 0) continue;
        const r = await pc.getStats();
        let sel = '';
        for (const s of r.values()) if (s.type === 'transport') sel = s.selectedCandidatePairId;
        const c = (id) => { const x = r.get(id); return x ? x.candidateType + ':' + (x.relayProtocol || x.protocol) + ':' + x.address + ':' + x.port : '?'; };
        for (const s of r.values()) {
          if (s.type !== 'candidate-pair') continue;
          out.push((s.id === sel ? '* ' : '  ') + c(s.localCandidateId) + ' -> ' + c(s.remoteCandidateId) + ' ' + s.state + (s.nominated ? ' nominated' : '') + ' sent=' + s.bytesSent);
        }
      }
      return out;
    },
    // Samples every media connection twice: how many are connected, and on
    // how many decoded video frames and received audio packets went up.
    async flowing(ms = 800) {
      const sample = async () => {
        const m = new Map();
        for (const pc of pcs) {
          if (pc.signalingState === 'closed' || pc.getTransceivers().length === 0) continue;
          let v = 0, a = 0;
          for (const s of (await pc.getStats()).values()) {
            if (s.type === 'inbound-rtp' && s.kind === 'video') v += s.framesDecoded || 0;
            if (s.type === 'inbound-rtp' && s.kind === 'audio') a += s.packetsReceived || 0;
          }
          m.set(pc, { v, a, c: pc.connectionState === 'connected' });
        }
        return m;
      };
      const before = await sample();
      await new Promise((r) => setTimeout(r, ms));
      const after = await sample();
      let connected = 0, video = 0, audio = 0;
      for (const [pc, x] of after) {
        const y = before.get(pc);
        if (x.c) connected++;
        if (y && x.v > y.v) video++;
        if (y && x.a > y.a) audio++;
      }
      return { connected, video, audio };
    },
  };
})();`

// group holds a test's participants so that, when the test fails, every
// page is described before any of them is closed (a closed tab makes the
// others' pages change).
type group struct {
	mu sync.Mutex
	ps []*participant // guarded by mu
}

var (
	groupsMu sync.Mutex
	groups   = map[testing.TB]*group{} // guarded by groupsMu
)

func groupOf(t testing.TB) *group {
	groupsMu.Lock()
	defer groupsMu.Unlock()
	g := groups[t]
	if g == nil {
		g = &group{}
		groups[t] = g
		t.Cleanup(func() {
			g.mu.Lock()
			ps := g.ps
			g.mu.Unlock()
			if t.Failed() {
				for _, p := range ps {
					t.Logf("--- %s: console\n%s", p.name, p.consoleLog())
					t.Logf("--- %s: page state\n%s", p.name, p.pageState())
				}
			}
			for _, p := range ps {
				p.cancel()
			}
			groupsMu.Lock()
			delete(groups, t)
			groupsMu.Unlock()
		})
	}
	return g
}

// newParticipant opens a tab for name; each of scripts runs before the
// page's own scripts, before the hook.
func (b *browserProc) newParticipant(t testing.TB, name string, scripts ...string) *participant {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &participant{t: t, name: name, ctx: ctx, cancel: cancel}
	g := groupOf(t)
	g.mu.Lock()
	g.ps = append(g.ps, p)
	g.mu.Unlock()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	for _, src := range append(scripts, hookScript) {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatalf("%s: add hook: %v", name, err)
		}
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.logs = append(p.logs, fmt.Sprintf("%s %s: %s", m.Time.Format("15:04:05.000"), m.Type, m.Text))
			p.mu.Unlock()
		}
	}()
	return p
}

// setPermission answers the page's permission request for name
// ("camera", "microphone") as a person would in the browser's prompt.
func (p *participant) setPermission(origin, name string, setting browser.PermissionSetting) {
	p.t.Helper()
	c := chromedp.FromContext(p.ctx)
	_, err := chromedp.CallBrowser(p.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission:       &browser.PermissionDescriptor{Name: name},
		Setting:          setting,
		Origin:           origin,
		BrowserContextID: c.BrowserContextID,
	})
	if err != nil {
		p.t.Fatalf("%s: set %s permission: %v", p.name, name, err)
	}
}

func (p *participant) consoleLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

func (p *participant) pageState() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await `+pageStateExpr+`, null, 1))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// do runs chromedp actions, failing the test on error.
func (p *participant) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression (promises awaited) into T.
func eval[T any](p *participant, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, short(expr), err)
	}
	return v
}

// waitFor polls a JavaScript boolean expression (may be async) until it is
// true or the timeout passes.
func (p *participant) waitFor(what, expr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => !!(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	if last != nil && !errors.Is(last, context.DeadlineExceeded) {
		p.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)", p.name, timeout, what, last)
	}
	p.t.Fatalf("%s: timed out after %v waiting for %s", p.name, timeout, what)
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
