package signaling

import (
	"crypto/subtle"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Addresses that gave the right create password are remembered this long,
// at most maxKnownCreators of them.
const (
	knownCreatorFor  = 24 * time.Hour
	maxKnownCreators = 4096
)

// passwordGuard checks create passwords and bounds wrong guesses
// server-wide (bad_password_rate, bad_password_burst), on top of the
// per-address join rate: guessing from many addresses is as slow as from
// one. While the budget is spent, a create is refused without the
// password being compared (comparing would tell the guesser whether it
// won), except from addresses that gave the right password within the
// last day: they know it already, and keep creating rooms during an
// attack.
type passwordGuard struct {
	want string

	mu sync.Mutex
	// guarded by mu:
	failures *rate.Limiter
	known    map[netip.Addr]time.Time // address → last right password
}

func newPasswordGuard(cfg Config) *passwordGuard {
	return &passwordGuard{
		want:     cfg.CreatePassword,
		failures: rate.NewLimiter(rate.Limit(cfg.BadPasswordRate), cfg.BadPasswordBurst),
		known:    make(map[netip.Addr]time.Time),
	}
}

// passwordVerdict is the outcome of a create password check.
type passwordVerdict int

const (
	passwordOK      passwordVerdict = iota
	passwordWrong                   // counted against the budget
	passwordLimited                 // budget spent: not compared
)

// check judges the password got, given by client address key.
func (g *passwordGuard) check(key netip.Addr, got string) passwordVerdict {
	if g.want == "" {
		return passwordOK
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	last, known := g.known[key]
	known = known && now.Sub(last) < knownCreatorFor
	if !known && g.failures.TokensAt(now) < 1 {
		return passwordLimited
	}
	if subtle.ConstantTimeCompare([]byte(g.want), []byte(got)) != 1 {
		g.failures.AllowN(now, 1)
		return passwordWrong
	}
	g.rememberLocked(key, now)
	return passwordOK
}

// rememberLocked records that key gave the right password.
func (g *passwordGuard) rememberLocked(key netip.Addr, now time.Time) {
	if _, ok := g.known[key]; !ok && len(g.known) >= maxKnownCreators {
		oldestKey, oldest := netip.Addr{}, now
		for k, t := range g.known {
			if now.Sub(t) >= knownCreatorFor {
				delete(g.known, k)
			} else if t.Before(oldest) {
				oldestKey, oldest = k, t
			}
		}
		if len(g.known) >= maxKnownCreators {
			delete(g.known, oldestKey)
		}
	}
	g.known[key] = now
}
