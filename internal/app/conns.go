package app

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/streamsync/streamsync/internal/connlimit"
	"github.com/streamsync/streamsync/internal/httpserver"
)

// The page's ports (http, https after the demux, redirect) share one
// connlimit.Limiter: http.max_conns_per_address per client address and
// http.max_conns in all, WebSockets included (a hijacked connection keeps
// its place until it closes). One address at its cap, idle keep-alives or
// not, never stops another's request, and HTTP never takes the file
// descriptors the relay needs.

// keepAliveOffShare: when this share of the budget is open, a connection
// that has answered its request is closed rather than kept alive, so idle
// keep-alives give their places to new clients first.
const keepAliveOffNum, keepAliveOffDen = 3, 4

// refusalWarnEvery spaces the warnings about refused connections.
const refusalWarnEvery = 10 * time.Second

// httpConns is the shared limiter and what reports its refusals.
type httpConns struct {
	lim      *connlimit.Limiter
	budget   int
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last warning
}

// newHTTPConns sizes the budget: http.max_conns, lowered to half the soft
// RLIMIT_NOFILE (the other half is the relay's, the WebSockets' and the
// process's own), saying so in the log. Connections from proxies
// (signaling.trusted_proxies) count only toward the budget: each carries
// many clients, whose per-client caps the signaling server keeps by
// X-Forwarded-For.
func newHTTPConns(cfg httpserver.Config, proxies []netip.Prefix, log *slog.Logger) *httpConns {
	budget := cfg.MaxConns
	if nofile := fileLimit(); nofile > 0 && nofile < uint64(2*budget) {
		budget = max(int(nofile/2), 1)
		log.Warn("http.max_conns lowered to half the file-descriptor limit", "max_conns", cfg.MaxConns, "lowered_to", budget, "nofile", nofile)
	}
	lim := connlimit.New(min(cfg.MaxConnsPerAddress, budget), budget)
	lim.ExemptPerAddress(proxies)
	return &httpConns{
		lim:    lim,
		budget: budget,
		log:    log,
	}
}

// listener wraps a page port's listener with the caps.
func (h *httpConns) listener(ln net.Listener) net.Listener { return h.lim.Listener(ln, h.refused) }

// admit is the demux's AdmitHTTP: the same caps for HTTPS connections.
func (h *httpConns) admit(remote net.Addr) (func(), error) {
	release, err := h.lim.Acquire(remote)
	if err != nil {
		h.refused(remote, err)
	}
	return release, err
}

// refused logs each refusal at debug, and warns at most every
// refusalWarnEvery with the counts so far.
func (h *httpConns) refused(remote net.Addr, err error) {
	h.log.Debug("http connection refused", "remote", remote.String(), "err", err)
	now, last := time.Now().UnixNano(), h.lastWarn.Load()
	if now-last < int64(refusalWarnEvery) || !h.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s := h.lim.Stats()
	h.log.Warn("http connections refused", "err", err, "open", s.Open, "max_conns", h.budget,
		"refused_per_address", s.RefusedPerAddress, "refused_total", s.RefusedTotal)
}

// connState closes a connection going idle after a request while most of
// the budget is in use: keep-alive is off under pressure.
func (h *httpConns) connState(c net.Conn, state http.ConnState) {
	if state == http.StateIdle && h.lim.Stats().Open*keepAliveOffDen >= h.budget*keepAliveOffNum {
		_ = c.Close()
	}
}
