package signaling

import (
	"time"

	"github.com/streamsync/streamsync/ice"
)

// minRefreshDelay keeps a minter returning very short lifetimes from
// turning refresh into a busy loop.
const minRefreshDelay = 500 * time.Millisecond

// refreshDelay is when to push fresh ICE servers for cfg: once three
// quarters of the remaining lifetime has passed. Zero means never.
func refreshDelay(cfg ice.Config, now time.Time) time.Duration {
	if cfg.ExpiresAt.IsZero() {
		return 0
	}
	return max(cfg.ExpiresAt.Sub(now)*3/4, minRefreshDelay)
}

// scheduleRefresh arms the timer that pushes fresh ICE servers to this
// connection before cfg's credentials expire.
func (c *conn) scheduleRefresh(sess *session, cfg ice.Config) {
	d := refreshDelay(cfg, time.Now())
	if d == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refreshOff {
		return
	}
	if c.refresh != nil {
		c.refresh.Stop()
	}
	c.refresh = time.AfterFunc(d, func() { c.refreshICE(sess) })
}

// refreshICE runs on the timer: mint, push, schedule the next one. A
// failed mint is retried shortly.
func (c *conn) refreshICE(sess *session) {
	cfg, err := c.srv.mintFor(sess)
	if err != nil {
		c.log().Warn("refreshing ICE servers", "err", err)
		c.mu.Lock()
		if !c.refreshOff {
			c.refresh = time.AfterFunc(minRefreshDelay*4, func() { c.refreshICE(sess) })
		}
		c.mu.Unlock()
		return
	}
	c.srv.stats.iceRefreshes.Add(1)
	c.sendICE(cfg)
	c.scheduleRefresh(sess, cfg)
}

// stopRefresh stops ICE refreshes for good.
func (c *conn) stopRefresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshOff = true
	if c.refresh != nil {
		c.refresh.Stop()
	}
}
