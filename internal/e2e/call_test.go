package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("screenshot", false, "write the README's screenshots, docs/screenshot-call.png and docs/screenshot-phone.png, from the three-person call")

// TestBrowser runs the call page's end-to-end tests against the appliance.
// Subtests run one after the other: two cores do not carry more media.
func TestBrowser(t *testing.T) {
	certPath, keyPath, spki := selfSignedFiles(t)
	b := launchBrowser(t, true, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	app := startAppliance(t, applianceOpts{udp: true, tcp: true})

	// Four people, relay forced, TURN over UDP, TCP and TLS: media for
	// all, one allocation per connection and TURN URL.
	t.Run("RelayRoomOfFour", func(t *testing.T) {
		testRelayRoom(t, b, startApplianceConfig(t, relayApplianceConfig(certPath, keyPath)))
	})

	// A create password and a room cap of two: the page asks for the
	// password, says when it is wrong, and says when the room is full.
	t.Run("PasswordAndRoomCap", func(t *testing.T) {
		capped := startAppliance(t, applianceOpts{udp: true, signaling: `create_password = "correct-horse-battery"
max_peers_per_room = 2`})
		alice := b.newParticipant(t, "Alice")
		alice.do("open landing",
			chromedp.Navigate(capped.HTTPURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#new-meeting")),
			chromedp.Click(chromedp.CSS("#new-meeting")),
			chromedp.WaitVisible(chromedp.CSS("#pre-password")),
			chromedp.SetValue(chromedp.CSS("#pre-name"), "Alice"),
			chromedp.SetValue(chromedp.CSS("#pre-password"), "wrong"),
			chromedp.Click(chromedp.CSS("#join-button")),
		)
		alice.waitFor("wrong password said", `document.getElementById('join-error').textContent === 'The create password is wrong.'`, joinWait)
		alice.do("right password",
			chromedp.SetValue(chromedp.CSS("#pre-password"), "correct-horse-battery"),
			chromedp.Click(chromedp.CSS("#join-button")),
		)
		alice.waitFor("call screen", `!document.getElementById('call').hidden`, joinWait)
		link := eval[string](alice, `document.getElementById('copy-link').dataset.link`)
		bob := b.newParticipant(t, "Bob")
		bob.joinByLink(link, false) // joining needs no password
		alice.waitFor("room full shown", `/meeting is full: 2 of 2/.test(document.getElementById('call-notice').textContent)`, mediaWait)
		carol := b.newParticipant(t, "Carol")
		// Carol pastes the link into the landing page's Join field.
		carol.do("paste link on landing",
			chromedp.Navigate(capped.HTTPURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#join-code")),
			chromedp.SetValue(chromedp.CSS("#join-code"), " "+link+" "),
			chromedp.Click(chromedp.CSS("#join-form button")),
			chromedp.WaitVisible(chromedp.CSS("#join-button")),
		)
		carol.waitFor("preview", `document.getElementById('preview').srcObject !== null`, joinWait)
		carol.do("join", chromedp.Click(chromedp.CSS("#join-button")))
		carol.waitFor("room full said", `document.getElementById('join-error').textContent === 'This meeting is full. It holds at most 2 people.'`, joinWait)
	})

	// The page's pure modules, in the browser that runs them: path words
	// from candidate pairs, network-check verdicts, incremental SHA-256.
	t.Run("Modules", func(t *testing.T) {
		p := b.newParticipant(t, "Units")
		p.do("open", chromedp.Navigate(app.HTTPURL+"/check"))
		got := eval[string](p, `(async () => {
			const { describe } = await import('/assets/stats.js');
			const { verdict, turnURLs } = await import('/assets/netcheck.js');
			const { SHA256 } = await import('/assets/sha256.js');
			const { dtlsRole } = await import('/assets/peer.js');
			const d = (type, setup) => ({ type, sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:' + setup + '\r\na=mid:0\r\n' });
			const roles = [
				dtlsRole({ currentLocalDescription: null, currentRemoteDescription: null }),
				dtlsRole({ currentLocalDescription: d('answer', 'active'), currentRemoteDescription: d('offer', 'actpass') }),
				dtlsRole({ currentLocalDescription: d('answer', 'passive'), currentRemoteDescription: d('offer', 'actpass') }),
				dtlsRole({ currentLocalDescription: d('offer', 'actpass'), currentRemoteDescription: d('answer', 'active') }),
				dtlsRole({ currentLocalDescription: d('offer', 'actpass'), currentRemoteDescription: d('answer', 'passive') }),
				dtlsRole({ currentLocalDescription: d('offer', 'actpass'), currentRemoteDescription: d('answer', 'actpass') }),
			].join(',');
			const c = (t, rp) => ({ candidateType: t, relayProtocol: rp, protocol: 'udp' });
			const out = [
				describe(c('host'), c('host')).path,
				describe(c('srflx'), c('host')).path,
				describe(c('host'), c('prflx')).path,
				describe(c('relay', 'udp'), c('host')).path,
				describe(c('relay', 'tcp'), c('relay', 'udp')).path,
				describe(c('relay', 'tls'), c('srflx')).path,
				describe(c('host'), c('relay')).path,
				verdict([{ transport: 'udp', ok: false }, { transport: 'tcp', ok: true }]).verdict,
				verdict([{ transport: 'udp', ok: false }, { transport: 'tcp', ok: false }]).good,
				turnURLs([{ urls: ['stun:h:1', 'turn:h:1?transport=udp', 'turn:h:1?transport=tcp', 'turns:h:443?transport=tcp'] }]).map((u) => u.transport).join(','),
			];
			const big = new Uint8Array(1000003).map((_, i) => i * 7);
			const h = new SHA256();
			for (let i = 0; i < big.length; i += 16384) h.update(big.subarray(i, i + 16384));
			const want = [...new Uint8Array(await crypto.subtle.digest('SHA-256', big))].map((x) => x.toString(16).padStart(2, '0')).join('');
			out.push(new SHA256().hex(), h.hex() === want, roles);
			return JSON.stringify(out);
		})()`)
		want := `["direct","direct","direct","relayed via TURN (UDP)","relayed via TURN (TCP)","relayed via TURN (TLS)","relayed via TURN (their side)",` +
			`"UDP blocked; TCP relay works: calls will work.",false,"udp,tcp,tls",` +
			`"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",true,",active,passive,passive,active,"]`
		if got != want {
			t.Errorf("modules:\n got %s\nwant %s", got, want)
		}
	})

	// Perfect negotiation in one page: two Peer objects wired back to back
	// both offer at once (glare, rollback on the polite side), the first
	// candidates overtake the first offer (queued, not lost), then both
	// restart ICE at once. Both connect and carry media every time.
	t.Run("PerfectNegotiation", func(t *testing.T) {
		p := b.newParticipant(t, "Units")
		p.do("open", chromedp.Navigate(app.HTTPURL+"/"))
		got := eval[string](p, `(async () => {
			const { Peer } = await import('/assets/peer.js');
			const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
			const a = new Peer({ peerID: 'b', polite: false, config: {} });
			const b = new Peer({ peerID: 'a', polite: true, config: {} });
			const log = [];
			let heldFirst = null; // a's first description, delivered after its candidates
			const wire = (from, to, name) => from.addEventListener('signal', (e) => {
				const m = e.detail;
				log.push(name + (m.description ? ':' + m.description.type : ':cand'));
				if (name === 'a' && m.description && !heldFirst) {
					heldFirst = m;
					setTimeout(() => to.handleSignal(heldFirst), 300);
					return;
				}
				setTimeout(() => to.handleSignal(m), Math.random() * 20);
			});
			wire(a, b, 'a');
			wire(b, a, 'b');
			for (const t of media.getTracks()) { a.setTrack(t.kind, t, media); b.setTrack(t.kind, t.clone(), media); }
			const connected = () => new Promise((resolve, reject) => {
				const t0 = Date.now();
				const tick = () => {
					if (a.state === 'connected' && b.state === 'connected' &&
					    a.remoteStream.getVideoTracks().length === 1 && b.remoteStream.getVideoTracks().length === 1) return resolve();
					if (Date.now() - t0 > 20000) return reject(new Error('not connected: ' + a.state + '/' + b.state + ' ' + log.join(' ')));
					setTimeout(tick, 100);
				};
				tick();
			});
			await connected();
			const glare = log.filter((x) => x.endsWith(':offer')).length;
			a.restart('test'); b.lastRestart = 0; b.restart('test');
			await new Promise((r) => setTimeout(r, 500));
			await connected();
			const pairs = a.pc.getTransceivers().length + '/' + b.pc.getTransceivers().length;
			a.close(); b.close();
			return 'connected twice, offers at start: ' + (glare >= 2 ? 'both' : 'one') + ', transceivers ' + pairs;
		})()`)
		if got != "connected twice, offers at start: both, transceivers 2/2" {
			t.Errorf("perfect negotiation: %s", got)
		}
	})

	// 1. Relay forced, TURN over UDP; the suite's screenshot. Only UDP is
	// offered: with both, ICE may settle on TCP for one side.
	t.Run("RelayUDP", func(t *testing.T) {
		udpApp := startAppliance(t, applianceOpts{udp: true, tcp: false})
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		link := alice.startMeeting(udpApp.HTTPURL, true)
		bob.joinByLink(link, true)
		for _, p := range []*participant{alice, bob} {
			p.waitMedia(1, true)
			p.waitPaths(1, "relayed via TURN (UDP)")
			p.assertSelectedPair("relay", "udp")
		}
		alice.waitFor("bitrate shown", `/bit\/s/.test(document.querySelector('#people li .rate').textContent)`, mediaWait)
	})

	// 2. Only TURN over TCP offered.
	t.Run("RelayTCP", func(t *testing.T) {
		tcpApp := startAppliance(t, applianceOpts{udp: false, tcp: true})
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		link := alice.startMeeting(tcpApp.HTTPURL, true)
		bob.joinByLink(link, true)
		for _, p := range []*participant{alice, bob} {
			p.waitMedia(1, true)
			p.waitPaths(1, "relayed via TURN (TCP)")
			p.assertSelectedPair("relay", "tcp")
		}
	})

	// 3. No relay forced: two local participants connect directly.
	t.Run("Direct", func(t *testing.T) {
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		link := alice.startMeeting(app.HTTPURL, false)
		bob.joinByLink(link, false)
		for _, p := range []*participant{alice, bob} {
			p.waitMedia(1, true)
			p.waitPaths(1, "direct")
			p.assertSelectedPair("host", "")
		}
		// Keyboard: m mutes, and the others see it.
		alice.do("press m", chromedp.KeyEvent("m"))
		if got := eval[string](alice, `document.getElementById('btn-mic').getAttribute('aria-pressed')`); got != "true" {
			t.Errorf("after m: mute button aria-pressed=%s", got)
		}
		bob.waitFor("Alice shown muted", `[...document.querySelectorAll('#grid .tile')].some((f) => f.querySelector('.name').textContent === 'Alice' && f.querySelector('.flags').textContent.includes('muted'))`, mediaWait)
	})

	// 4-6. Three participants; chat and a file in that call; one leaves.
	t.Run("ThreeWay", func(t *testing.T) {
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		carol := b.newParticipant(t, "Carol")
		link := alice.startMeeting(app.HTTPURL, false)
		bob.joinByLink(link, false)
		carol.joinByLink(link, false)
		everyone := []*participant{alice, bob, carol}
		for _, p := range everyone {
			p.waitMedia(2, true)
			p.waitFor("three playing tiles", `(() => { const v = [...document.querySelectorAll('#grid .tile video')];
				return v.length === 3 && v.every((e) => !e.paused && e.readyState >= 2 && e.videoWidth > 0); })()`, mediaWait)
		}

		run(t, "Chat", func(t *testing.T) {
			const xss = `<img src=x onerror=alert(1)>`
			alice.do("send chat",
				chromedp.Click(chromedp.CSS("#btn-chat")),
				chromedp.SetValue(chromedp.CSS("#chat-input"), xss),
				chromedp.Click(chromedp.CSS("#chat-form button")),
			)
			for _, p := range []*participant{bob, carol} {
				p.waitFor("chat message", `document.querySelectorAll('#chat-log li').length === 1`, mediaWait)
				got := eval[string](p, `document.querySelector('#chat-log li .text').textContent`)
				if got != xss {
					t.Errorf("%s: chat text %q, want %q", p.name, got, xss)
				}
				meta := eval[string](p, `document.querySelector('#chat-log li .meta').textContent`)
				if !bytes.HasPrefix([]byte(meta), []byte("Alice")) {
					t.Errorf("%s: chat sender %q, want Alice", p.name, meta)
				}
				if n := eval[int](p, `document.querySelectorAll('#chat-log img, #chat-log *[onerror]').length + window.__e2e.alerts.length`); n != 0 {
					t.Errorf("%s: chat text became markup (%d elements or alerts)", p.name, n)
				}
				if u := eval[string](p, `document.getElementById('unread2').textContent`); u != "1" {
					t.Errorf("%s: unread badge %q, want 1", p.name, u)
				}
			}
		}, alice, bob, carol)

		run(t, "FileToOnePeer", func(t *testing.T) {
			data := make([]byte, 5<<20)
			rand.Read(data)
			sum := sha256.Sum256(data)
			want := hex.EncodeToString(sum[:])
			path := filepath.Join(t.TempDir(), "random.bin")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			bobID := eval[string](alice, `[...document.querySelectorAll('#file-to option')].find((o) => o.textContent === 'Bob').value`)
			alice.do("send file",
				chromedp.Click(chromedp.CSS("#btn-files")),
				chromedp.SetValue(chromedp.CSS("#file-to"), bobID),
				chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{path}),
				chromedp.Click(chromedp.CSS("#file-form button")),
			)
			waitReceived(bob, 30*time.Second)
			got := receivedFile(bob)
			if wantS := fmt.Sprintf("%s %d random.bin", want, len(data)); got != wantS {
				t.Errorf("received file: got %q, want %q", got, wantS)
			}
			alice.waitFor("sender sees delivery", `document.querySelector('#transfers li.out .status.ok') !== null`, mediaWait)
			if n := eval[int](carol, `document.querySelectorAll('#transfers li').length`); n != 0 {
				t.Errorf("Carol got %d transfers; the file was for Bob only", n)
			}
		}, alice, bob, carol)

		run(t, "Leave", func(t *testing.T) {
			carol.do("leave", chromedp.Click(chromedp.CSS("#btn-leave")))
			carol.waitFor("ended screen", `!document.getElementById('ended').hidden`, joinWait)
			for _, p := range []*participant{alice, bob} {
				p.waitFor("Carol's tile gone", `(() => { const t = [...document.querySelectorAll('#grid .tile')];
					return t.length === 2 && !t.some((f) => f.querySelector('.name').textContent === 'Carol'); })()`, mediaWait)
				p.waitMedia(1, true)
			}
		}, alice, bob, carol)
	})

	// Pre-join count and toggles, notices, count, duo layout, speaker;
	// Carol is on a phone: every control fits 360x640 and 390x844 and the
	// tiles use the space. The README's screenshots.
	t.Run("Presence", func(t *testing.T) {
		testPresence(t, b.newParticipant(t, "Alice"), b.newParticipant(t, "Bob"), b.newParticipant(t, "Carol"), app.HTTPURL)
	})

	// The screen as an extra track, spotlight, pin, full screen; a
	// recording with its duration and cues.
	t.Run("ScreenShare", func(t *testing.T) {
		testScreenShare(t, b.newParticipant(t, "Alice"), b.newParticipant(t, "Bob"), app.HTTPURL)
	})

	// 7. The signaling WebSocket is cut and restored: the call recovers by itself.
	t.Run("SignalingCut", func(t *testing.T) {
		proxy := startCutProxy(t, app.HTTPURL[len("http://"):])
		alice := b.newParticipant(t, "Alice")
		bob := b.newParticipant(t, "Bob")
		link := alice.startMeeting(app.HTTPURL, false)
		bob.joinByLink(proxy.URL()+link[len(app.HTTPURL):], false)
		alice.waitMedia(1, true)
		bob.waitMedia(1, true)
		tilesBefore := alice.tiles()

		proxy.cut()
		bob.waitFor("reconnecting shown", `document.getElementById('conn-status').dataset.status === 'reconnecting'`, mediaWait)
		bob.waitFor("a refused reconnect", `true`, time.Second)
		deadline := time.Now().Add(mediaWait)
		for proxy.refused.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if proxy.refused.Load() == 0 {
			t.Fatal("the page did not try to reconnect while cut")
		}
		// Media does not ride on signaling: it keeps flowing during the cut.
		alice.waitMedia(1, true)
		proxy.restore()

		bob.waitFor("connected again", `document.getElementById('conn-status').dataset.status === 'connected'`, mediaWait)
		if got := alice.tiles(); fmt.Sprint(got) != fmt.Sprint(tilesBefore) {
			t.Errorf("Alice's tiles changed across the cut: %v -> %v (resume should keep Bob's identity)", tilesBefore, got)
		}
		// Signaling works again, both ways through the resumed socket: Bob's
		// mute reaches Alice as a state message, and a newcomer negotiates
		// with Bob (offer, answer and candidates relayed by the server).
		bob.do("mute", chromedp.Click(chromedp.CSS("#btn-mic")))
		alice.waitFor("Bob shown muted", `[...document.querySelectorAll('#grid .tile')].some((f) => f.querySelector('.name').textContent === 'Bob' && f.querySelector('.flags').textContent.includes('muted'))`, mediaWait)
		carol := b.newParticipant(t, "Carol")
		carol.joinByLink(link, false)
		for _, p := range []*participant{alice, bob, carol} {
			p.waitMedia(2, true)
		}
	})

	// Ended means ended, every way a call ends (issue 16.1); leaks.
	t.Run("Ended", func(t *testing.T) { testEnded(t, b, app) })
	t.Run("EndedAfterDrop", func(t *testing.T) { testEndedAfterDrop(t, b) })
	// Meetings survive restarts, SIGKILL and SIGTERM (issue 16.2-3).
	t.Run("Restart", func(t *testing.T) { testRestart(t, b) })

	// 8. Camera permission denied: the page says so, and the person joins
	// anyway. Dave's browser has no fake permission UI: the camera is denied
	// and the microphone granted through the browser's permission settings.
	t.Run("CameraDenied", func(t *testing.T) {
		alice := b.newParticipant(t, "Alice")
		dave := launchBrowser(t, false).newParticipant(t, "Dave")
		dave.setPermission(app.HTTPURL, "camera", browser.PermissionSettingDenied)
		dave.setPermission(app.HTTPURL, "microphone", browser.PermissionSettingGranted)
		link := alice.startMeeting(app.HTTPURL, false)
		dave.do("open invite link", chromedp.Navigate(link))
		dave.waitFor("blocked message", `document.getElementById('media-warning').textContent === 'Camera blocked: allow it in the site settings next to the address bar, then reload. You can join anyway.'`, joinWait)
		if got := eval[string](dave, `document.getElementById('pre-camera').selectedOptions[0].textContent + ' / ' + document.getElementById('preview-off').textContent`); got != "Camera blocked / Camera blocked" {
			t.Errorf("a blocked camera is called %q, want it called blocked, not missing", got)
		}
		dave.finishJoin(false)
		dave.waitMedia(1, true)   // Dave sees and hears Alice
		alice.waitMedia(1, false) // Alice hears Dave (no video from him)
		alice.waitFor("Dave's tile without camera", `[...document.querySelectorAll('#grid .tile.nocam .name')].some((n) => n.textContent === 'Dave')`, mediaWait)
		testScreenShareErrors(t, alice)
	})

	// Bad links are said before the camera opens, on the page's design.
	t.Run("BadLinks", func(t *testing.T) { testBadLinks(t, b, app) })
}

// waitReceived waits until p has received a whole file, for as long as
// the transfer moves: it fails when the receiver's progress stands still
// for stall (a stuck transfer), not when a loaded machine is slow.
func waitReceived(p tab, stall time.Duration) {
	p.tb().Helper()
	last, moved := "", time.Now()
	for {
		got := p.js(`(() => { const li = document.querySelector('#transfers li.in');
			return !li ? 'none' : li.querySelector('a.download') ? 'done' : li.querySelector('.status').textContent + ' ' + li.querySelector('progress').value; })()`)
		switch {
		case got == `"done"`:
			return
		case got != last:
			last, moved = got, time.Now()
		case time.Since(moved) > stall:
			p.tb().Fatalf("%s: the incoming file stood still for %v at %s", p.label(), stall, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// receivedFile describes the file a page received last as "sha256 size
// name", hashed in the page from the blob it offers for download.
func receivedFile(p tab) string {
	p.tb().Helper()
	var got string
	_ = json.Unmarshal([]byte(p.js(`(async () => {
		const a = document.querySelector('#transfers li.in a.download');
		const buf = await window.__e2e.blobs.get(a.href).arrayBuffer();
		const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
		return [...d].map((x) => x.toString(16).padStart(2, '0')).join('') + ' ' + buf.byteLength + ' ' + a.download;
	})()`)), &got)
	return got
}

// selectedLocal returns, for every media connection, the local candidate
// of its selected pair as "type/relayProtocol" (through getStats).
func (p *participant) selectedLocal() []string {
	p.t.Helper()
	return eval[[]string](p, `(async () => {
		const out = [];
		for (const pc of window.__e2e.pcs) {
			if (pc.signalingState === 'closed' || pc.getTransceivers().length === 0) continue;
			const r = await pc.getStats();
			let pair = null;
			for (const s of r.values()) if (s.type === 'transport' && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId);
			const l = pair && r.get(pair.localCandidateId);
			out.push(l ? l.candidateType + '/' + (l.relayProtocol || '') : 'none');
		}
		return out;
	})()`)
}

// assertSelectedPair checks the selected candidate pair of every media
// connection: the local candidate type and, for a relay, the protocol to
// the TURN server ("" accepts any).
func (p *participant) assertSelectedPair(localType, relayProto string) {
	p.t.Helper()
	got := p.selectedLocal()
	if len(got) == 0 {
		p.t.Fatalf("%s: no media connection", p.name)
	}
	for _, g := range got {
		typ, proto, _ := strings.Cut(g, "/")
		if typ != localType || (relayProto != "" && proto != relayProto) || (localType != "relay" && proto != "") {
			p.t.Errorf("%s: selected local candidate %s, want %s/%s", p.name, g, localType, relayProto)
		}
	}
}

// readmeShot captures a page; with -screenshot it becomes docs/<name>.
func readmeShot(t *testing.T, p tab, name string) {
	t.Helper()
	shot := p.screenshot()
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	dir := shotDir
	if dir == "" {
		dir = t.TempDir()
	}
	out := filepath.Join(dir, name)
	if *updateScreenshot {
		out = filepath.Join("..", "..", "docs", name)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}
