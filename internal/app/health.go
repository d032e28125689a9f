package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/streamsync/streamsync/internal/sdnotify"
	"github.com/streamsync/streamsync/internal/selftest"
)

// health runs the periodic relay self-test and answers /healthz and /readyz.
type health struct {
	interval time.Duration

	mu       sync.Mutex // guards the fields below
	ran      bool
	ok       bool
	wedged   int // consecutive runs in which the relay did not answer
	lastPass time.Time
	lastErr  string
}

// selfTestFailuresBeforeRestart is how many self-tests in a row must find
// the relay not answering before the appliance stops feeding the systemd
// watchdog: one failure on a loaded host is not a wedged relay, three
// (minutes, at the default interval) are. A relay that answers with an
// error (486, 508: full) is not wedged; a restart would only drop its
// calls.
const selfTestFailuresBeforeRestart = 3

// selfTestLoop checks the relay at once, then every interval, until ctx ends.
func (a *App) selfTestLoop(ctx context.Context) {
	if a.health.interval <= 0 {
		return
	}
	t := time.NewTicker(a.health.interval)
	defer t.Stop()
	for {
		a.selfTestOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) selfTestOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var failed []string
	unanswered := false
	creds, err := a.selfTestCredentials()
	if err != nil {
		failed = append(failed, err.Error())
	} else {
		for _, r := range selftest.CheckAll(ctx, a.selfTestTargets(), creds) {
			if r.Err != nil {
				failed = append(failed, fmt.Sprintf("%s %s: %v", r.Target.Transport, r.Target.Addr, r.Err))
				unanswered = unanswered || !r.Refused
			}
		}
	}
	h := &a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ran = true
	h.ok = len(failed) == 0
	if h.ok {
		h.lastPass, h.lastErr, h.wedged = time.Now(), "", 0
		return
	}
	if unanswered {
		h.wedged++
	} else {
		h.wedged = 0
	}
	h.lastErr = fmt.Sprint(failed)
	a.log.Warn("relay self-test failed", "err", h.lastErr, "unanswered_in_a_row", h.wedged)
}

// Alive reports whether the appliance works well enough to be kept
// running: false once the relay has not answered its self-test
// selfTestFailuresBeforeRestart times in a row (a wedged relay, which a
// restart mends). With the self-test off it is always true.
func (a *App) Alive() bool {
	h := &a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wedged < selfTestFailuresBeforeRestart
}

// FeedWatchdog sends systemd watchdog keep-alives through n every
// interval/2 while the appliance is Alive, until ctx ends; when the relay
// keeps failing its self-test it stops, so that systemd (WatchdogSec)
// restarts the service. interval 0 or a disabled n does nothing.
func (a *App) FeedWatchdog(ctx context.Context, n *sdnotify.Notifier, interval time.Duration) {
	if interval <= 0 || !n.Enabled() {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	starved := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.Alive() {
			if !starved {
				a.log.Error("relay keeps failing its self-test unanswered; no longer feeding the systemd watchdog, so that systemd restarts the service",
					"unanswered_in_a_row", selfTestFailuresBeforeRestart)
			}
			starved = true
			continue
		}
		if starved {
			a.log.Info("relay self-test passes again; feeding the systemd watchdog")
			starved = false
		}
		if err := n.Watchdog(); err != nil {
			a.log.Warn("watchdog ping failed", "err", err)
		}
	}
}

// selfTestCredentials mints credentials on the running relay.
func (a *App) selfTestCredentials() (selftest.Credentials, error) {
	ic, err := a.turn.ICE("selftest")
	if err != nil {
		return selftest.Credentials{}, err
	}
	for _, s := range ic.Servers {
		if s.Username != "" {
			return selftest.Credentials{Username: s.Username, Password: s.Credential, Realm: a.start.TURN.Realm}, nil
		}
	}
	return selftest.Credentials{}, errors.New("the relay hands out no TURN server")
}

// selfTestTargets are the relay's own first UDP, TCP and TLS listeners,
// dialled on loopback when bound to every address.
func (a *App) selfTestTargets() []selftest.Target {
	var l selftest.Listeners
	if addrs := a.turn.UDPAddrs(); len(addrs) > 0 {
		l.UDP = addrs[0].String()
	}
	if addrs := a.turn.TCPAddrs(); len(addrs) > 0 {
		l.TCP = addrs[0].String()
	}
	l.TLS, l.TLSConfig = a.selfTestTLSTarget()
	return l.Targets()
}

// state reports the self-test for metrics.
func (h *health) state() (ok bool, lastPass float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.lastPass.IsZero() {
		lastPass = float64(h.lastPass.Unix())
	}
	return h.ok, lastPass
}

func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is 200 when the listeners are up (they are once New returned) and
// the relay self-test passed within twice its interval. With detail (the
// metrics listener) the body says why and how the cluster is; the public
// listener says only "ready" or "not ready": the reasons name internal
// addresses and errors.
func (a *App) readyz(w http.ResponseWriter, _ *http.Request, detail bool) {
	w.Header().Set("Cache-Control", "no-store")
	h := &a.health
	h.mu.Lock()
	ready, why := true, "ok"
	switch {
	case h.interval <= 0:
	case !h.ran:
		ready, why = false, "relay self-test not run yet"
	case !h.ok:
		ready, why = false, "relay self-test failed: "+h.lastErr
	case time.Since(h.lastPass) > 2*h.interval:
		ready, why = false, "relay self-test stale"
	}
	h.mu.Unlock()
	if !detail {
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
		return
	}
	if !ready {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	// A NATS outage leaves the node serving its local rooms: still ready,
	// but said here (and in streamsync_cluster_connected).
	if a.clu != nil {
		_, detail := a.clu.Healthy()
		why += "\n" + detail
	}
	_, _ = w.Write([]byte(why + "\n"))
}
