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

// Wrong create passwords from one address (ipKey): the first
// addressFreeGuesses are free, then each more waits a backoff from
// addressBackoffMin doubling to addressBackoffMax; addressForgetAfter
// after its last wrong guess an address starts afresh, and a right
// password clears it at once. At most maxTrackedIPs addresses are
// remembered; past that new ones meet only the server-wide bucket.
const (
	addressFreeGuesses = 5
	addressBackoffMin  = time.Second
	addressBackoffMax  = 15 * time.Minute
	addressForgetAfter = time.Hour
)

// guesser is what one address's wrong passwords have earned it.
type guesser struct {
	wrong int       // wrong guesses since it started afresh
	last  time.Time // the last one
	until time.Time // refused unchecked until then
}

// passwordGuard checks create passwords and bounds wrong guesses first
// per address, with a backoff (one address gets a few guesses, then a
// handful an hour), then server-wide (bad_password_rate,
// bad_password_burst), so that guessing from many addresses stays slow.
// The server-wide bucket is sized well above what a few addresses can
// spend under their backoff, so they cannot turn it into a lockout of
// everyone else. While a budget is spent, a create is refused without
// the password being compared (comparing would tell the guesser whether
// it won). Addresses that gave the right password within the last day
// pass the server-wide bucket: they know it already, and keep creating
// rooms during a distributed attack.
type passwordGuard struct {
	want string

	mu sync.Mutex
	// guarded by mu:
	failures *rate.Limiter
	known    map[netip.Addr]time.Time // address → last right password
	guessers map[netip.Addr]*guesser
}

func newPasswordGuard(cfg Config) *passwordGuard {
	return &passwordGuard{
		want:     cfg.CreatePassword,
		failures: rate.NewLimiter(rate.Limit(cfg.BadPasswordRate), cfg.BadPasswordBurst),
		known:    make(map[netip.Addr]time.Time),
		guessers: make(map[netip.Addr]*guesser),
	}
}

// passwordVerdict is the outcome of a create password check.
type passwordVerdict int

const (
	passwordOK      passwordVerdict = iota
	passwordWrong                   // counted against the budgets
	passwordBackoff                 // this address's backoff: not compared
	passwordLimited                 // server-wide budget spent: not compared
)

// check judges the password got, given by client address key.
func (g *passwordGuard) check(key netip.Addr, got string) passwordVerdict {
	return g.checkAt(key, got, time.Now())
}

func (g *passwordGuard) checkAt(key netip.Addr, got string, now time.Time) passwordVerdict {
	if g.want == "" {
		return passwordOK
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gs := g.guessers[key]
	if gs != nil && now.Sub(gs.last) >= addressForgetAfter {
		delete(g.guessers, key)
		gs = nil
	}
	if gs != nil && now.Before(gs.until) {
		return passwordBackoff
	}
	last, known := g.known[key]
	known = known && now.Sub(last) < knownCreatorFor
	if !known && g.failures.TokensAt(now) < 1 {
		return passwordLimited
	}
	if subtle.ConstantTimeCompare([]byte(g.want), []byte(got)) != 1 {
		g.failures.AllowN(now, 1)
		g.wrongLocked(key, gs, now)
		return passwordWrong
	}
	delete(g.guessers, key)
	g.rememberLocked(key, now)
	return passwordOK
}

// wrongLocked counts a wrong guess of key (gs: its record, or nil) and
// sets its backoff.
func (g *passwordGuard) wrongLocked(key netip.Addr, gs *guesser, now time.Time) {
	if gs == nil {
		if len(g.guessers) >= maxTrackedIPs {
			for k, o := range g.guessers {
				if now.Sub(o.last) >= addressForgetAfter {
					delete(g.guessers, k)
				}
			}
			if len(g.guessers) >= maxTrackedIPs {
				return // the server-wide bucket still counts it
			}
		}
		gs = &guesser{}
		g.guessers[key] = gs
	}
	gs.wrong++
	gs.last = now
	if over := gs.wrong - addressFreeGuesses; over >= 0 {
		wait := addressBackoffMax
		if over < 20 {
			wait = min(addressBackoffMin<<over, addressBackoffMax)
		}
		gs.until = now.Add(wait)
	}
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
