// Package firefoxtest runs Debian's firefox-esr, headless, for the browser
// end-to-end tests and drives it over WebDriver BiDi, the W3C protocol its
// built-in remote agent speaks (--remote-debugging-port): no geckodriver.
// Test-only: nothing outside _test.go files imports it.
//
// It speaks the few BiDi commands the tests need (session.new,
// browser.createUserContext, browsingContext.create/navigate/setViewport/
// captureScreenshot, script.evaluate/addPreloadScript, input.setFiles) and
// collects console messages (log.entryAdded), over one gorilla/websocket
// connection: one reader goroutine routes answers to their callers by
// command id.
package firefoxtest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Path finds firefox-esr (or firefox). In CI (CI set) a missing browser
// fails the test; elsewhere it is skipped with the reason.
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("STREAMSYNC_FIREFOX"), "/usr/bin/firefox-esr", "firefox-esr", "firefox"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const why = "firefox-esr not found (install it with scripts/test-deps.sh, or set STREAMSYNC_FIREFOX)"
	if os.Getenv("CI") != "" {
		t.Fatal(why + ": browser tests must run in CI")
	}
	t.Skip(why)
	return ""
}

// Prefs are the preferences of the suite's Firefox: a fake camera and
// microphone without a permission prompt, host candidates on loopback (our
// TURN server listens on 127.0.0.1) as plain addresses rather than mDNS
// names, autoplay with sound, and no background chatter.
var Prefs = map[string]any{
	"media.navigator.streams.fake":                      true,
	"media.navigator.permission.disabled":               true,
	"media.peerconnection.ice.loopback":                 true,
	"media.peerconnection.ice.obfuscate_host_addresses": false,
	"media.autoplay.default":                            0,
	"media.autoplay.blocking_policy":                    0,
	"dom.min_background_timeout_value":                  4,
	"dom.timeout.enable_budget_timer_throttling":        false,
	"browser.shell.checkDefaultBrowser":                 false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"toolkit.telemetry.enabled":                         false,
	"app.update.auto":                                   false,
	"browser.startup.homepage_override.mstone":          "ignore",
	"network.captive-portal-service.enabled":            false,
	"extensions.update.enabled":                         false,
}

// Browser is one Firefox process with its BiDi session.
type Browser struct {
	cmd    *exec.Cmd
	ws     *websocket.Conn
	done   chan struct{} // closed when the reader ends
	exited chan struct{}

	writeMu sync.Mutex // one writer on the socket

	mu      sync.Mutex
	nextID  int                 // guarded by mu
	waiting map[int]chan reply  // guarded by mu: answers by command id
	logs    map[string][]string // guarded by mu: console lines by browsing context
	readErr error               // guarded by mu: why the reader stopped
	stderr  *strings.Builder    // guarded by mu: the process's output, for failures
}

type reply struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

type event struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Launch starts headless Firefox with Prefs (and extra, which win) in a
// fresh profile, opens a BiDi session and subscribes to console messages.
// The browser is closed at the end of the test.
func Launch(t testing.TB, extra map[string]any) *Browser {
	t.Helper()
	exe := Path(t)
	profile := t.TempDir()
	prefs := map[string]any{}
	for k, v := range Prefs {
		prefs[k] = v
	}
	for k, v := range extra {
		prefs[k] = v
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), userJS(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--headless", "--no-remote", "--new-instance", "--profile", profile,
		"--remote-debugging-port=0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS_WIDTH=1280", "MOZ_HEADLESS_HEIGHT=800", "MOZ_CRASHREPORTER_DISABLE=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	b := &Browser{cmd: cmd, done: make(chan struct{}), exited: make(chan struct{}),
		waiting: map[int]chan reply{}, logs: map[string][]string{}, stderr: &strings.Builder{}}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			if b.stderr.Len() < 1<<16 {
				b.stderr.WriteString(line + "\n")
			}
			b.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(b.exited) }()
	t.Cleanup(b.close)

	var url string
	select {
	case url = <-urlc:
	case <-b.exited:
		t.Fatalf("firefox exited before its remote agent listened:\n%s", b.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("firefox's remote agent did not listen within 60 s:\n%s", b.output())
	}
	ws, _, err := websocket.DefaultDialer.Dial(url+"/session", nil)
	if err != nil {
		t.Fatalf("connect to firefox's remote agent %s: %v", url, err)
	}
	b.ws = ws
	go b.read()
	// A fresh Firefox on a busy machine takes a while to answer its first commands.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := b.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{
		"alwaysMatch": map[string]any{"acceptInsecureCerts": true},
	}}); err != nil {
		t.Fatalf("session.new: %v", err)
	}
	if _, err := b.Call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		t.Fatalf("session.subscribe: %v", err)
	}
	return b
}

func userJS(prefs map[string]any) []byte {
	keys := make([]string, 0, len(prefs))
	for k := range prefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		v, _ := json.Marshal(prefs[k])
		fmt.Fprintf(&sb, "user_pref(%q, %s);\n", k, v)
	}
	return []byte(sb.String())
}

func (b *Browser) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// read routes every incoming message: answers to their callers, console
// messages to the log, other events to their waiters.
func (b *Browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, c := range b.waiting {
				close(c)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var r reply
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		if r.Type == "event" {
			var e event
			_ = json.Unmarshal(data, &e)
			b.onEventMsg(e)
			continue
		}
		b.mu.Lock()
		c := b.waiting[r.ID]
		delete(b.waiting, r.ID)
		b.mu.Unlock()
		if c != nil {
			c <- r
		}
	}
}

func (b *Browser) onEventMsg(e event) {
	if e.Method == "log.entryAdded" {
		var p struct {
			Level  string `json:"level"`
			Text   string `json:"text"`
			Source struct {
				Context string `json:"context"`
			} `json:"source"`
			Timestamp int64 `json:"timestamp"`
		}
		_ = json.Unmarshal(e.Params, &p)
		line := fmt.Sprintf("%s %s: %s", time.UnixMilli(p.Timestamp).Format("15:04:05.000"), p.Level, p.Text)
		b.mu.Lock()
		if l := b.logs[p.Source.Context]; len(l) < 5000 {
			b.logs[p.Source.Context] = append(l, line)
		}
		b.mu.Unlock()
	}
}

// Call sends one BiDi command and waits for its answer.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: connection to firefox lost: %w", method, err)
	}
	b.nextID++
	id := b.nextID
	c := make(chan reply, 1)
	b.waiting[id] = c
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	b.writeMu.Lock()
	err = b.ws.WriteMessage(websocket.TextMessage, msg)
	b.writeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-c:
		if !ok {
			return nil, fmt.Errorf("%s: connection to firefox lost", method)
		}
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *Browser) close() {
	if b.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = b.Call(ctx, "browser.close", map[string]any{})
		cancel()
		b.ws.Close()
		<-b.done
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// Console returns the console lines logged in a browsing context.
func (b *Browser) Console(context string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs[context]...)
}

// Tab is one top-level browsing context (a window) in a user context of
// its own: separate cookies, storage and permissions, like a separate
// person.
type Tab struct {
	b       *Browser
	Context string
}

// NewTab opens a window in a new user context, sized w x h CSS pixels.
func (b *Browser) NewTab(ctx context.Context, w, h int) (*Tab, error) {
	res, err := b.Call(ctx, "browser.createUserContext", map[string]any{})
	if err != nil {
		return nil, err
	}
	var uc struct {
		UserContext string `json:"userContext"`
	}
	if err := json.Unmarshal(res, &uc); err != nil {
		return nil, err
	}
	res, err = b.Call(ctx, "browsingContext.create", map[string]any{"type": "window", "userContext": uc.UserContext})
	if err != nil {
		return nil, err
	}
	var bc struct {
		Context string `json:"context"`
	}
	if err := json.Unmarshal(res, &bc); err != nil {
		return nil, err
	}
	tab := &Tab{b: b, Context: bc.Context}
	return tab, tab.SetViewport(ctx, w, h)
}

// SetViewport sets the layout viewport in CSS pixels (device pixel ratio 1).
func (t *Tab) SetViewport(ctx context.Context, w, h int) error {
	_, err := t.b.Call(ctx, "browsingContext.setViewport", map[string]any{
		"context": t.Context, "viewport": map[string]int{"width": w, "height": h}, "devicePixelRatio": 1,
	})
	return err
}

// AddPreloadScript runs source (a script) in this tab before any page's
// own scripts, on every navigation.
func (t *Tab) AddPreloadScript(ctx context.Context, source string) error {
	_, err := t.b.Call(ctx, "script.addPreloadScript", map[string]any{
		"functionDeclaration": "() => {\n" + source + "\n}",
		"contexts":            []string{t.Context},
	})
	return err
}

// Navigate loads url and waits for the document to be complete.
func (t *Tab) Navigate(ctx context.Context, url string) error {
	_, err := t.b.Call(ctx, "browsingContext.navigate", map[string]any{"context": t.Context, "url": url, "wait": "complete"})
	return err
}

// ErrException is wrapped by Eval when the script threw.
var ErrException = errors.New("script threw")

// Eval evaluates a JavaScript expression in the page (a promise is
// awaited) and returns its value as JSON (JSON.stringify in the page).
func (t *Tab) Eval(ctx context.Context, expr string) (json.RawMessage, error) {
	res, err := t.b.Call(ctx, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + "\n)))()",
		"target":       map[string]string{"context": t.Context},
		"awaitPromise": true,
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	if r.Type == "exception" {
		return nil, fmt.Errorf("%w: %s", ErrException, r.ExceptionDetails.Text)
	}
	if r.Result.Type == "undefined" {
		return json.RawMessage("null"), nil
	}
	return json.RawMessage(r.Result.Value), nil
}

// SetFiles puts files (absolute paths) into the file input that selector
// finds, as a person choosing them would: input and change events fire.
func (t *Tab) SetFiles(ctx context.Context, selector string, files []string) error {
	sel, _ := json.Marshal(selector)
	res, err := t.b.Call(ctx, "script.evaluate", map[string]any{
		"expression":      "document.querySelector(" + string(sel) + ")",
		"target":          map[string]string{"context": t.Context},
		"awaitPromise":    false,
		"resultOwnership": "root",
	})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Type     string `json:"type"`
			SharedID string `json:"sharedId"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Result.SharedID == "" {
		return fmt.Errorf("no element %s (%s)", selector, res)
	}
	_, err = t.b.Call(ctx, "input.setFiles", map[string]any{
		"context": t.Context, "element": map[string]string{"sharedId": r.Result.SharedID}, "files": files,
	})
	return err
}

// Screenshot captures the viewport as PNG.
func (t *Tab) Screenshot(ctx context.Context) ([]byte, error) {
	res, err := t.b.Call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": t.Context})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Close closes the tab's window.
func (t *Tab) Close(ctx context.Context) error {
	_, err := t.b.Call(ctx, "browsingContext.close", map[string]any{"context": t.Context})
	return err
}

// Console returns the tab's console lines.
func (t *Tab) Console() []string { return t.b.Console(t.Context) }
