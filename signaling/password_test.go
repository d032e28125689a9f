package signaling

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestPasswordGuesserDoesNotLockOthersOut: one address guessing the
// create password as fast as it may (the join rate is no limit here) gets
// its few guesses and then its backoff; it cannot spend the server-wide
// budget, so a creator from another address with the right password is
// served, and an honest pair goes on. (Before, one address at 1 guess/s
// kept everyone from creating rooms.)
func TestPasswordGuesserDoesNotLockOthersOut(t *testing.T) {
	t.Parallel()
	cfg := attackConfig()
	cfg.CreatePassword = "correct-horse-battery"
	ts := newTestServer(t, cfg) // bad_password_rate and _burst as by default
	h := http.Header{"X-Forwarded-For": []string{"198.51.100.7"}}
	ha, _, err := ts.dialHeader(t, h)
	if err != nil {
		t.Fatal(err)
	}
	ha.send(msg{"type": "join", "name": "honest-a", "password": cfg.CreatePassword})
	j := ha.expect("joined")
	ha.id, ha.room = j.str("id"), j.str("room")
	hb, _, err := ts.dialHeader(t, h)
	if err != nil {
		t.Fatal(err)
	}
	hb.join(ha.room, "honest-b")
	ha.expect("peer-joined")
	honest := &honestPair{ha, hb}

	a := mustAttacker(t, ts)
	const guesses = 2 * 30 // twice the old server-wide burst
	for i := range guesses {
		a.send(msg{"type": "join", "password": fmt.Sprintf("guess-%d", i)})
		want := codeBadPassword
		if i >= addressFreeGuesses {
			want = codeRateLimited // this address's backoff, not compared
		}
		if m := a.expectError(want); i == addressFreeGuesses && m.str("message") != "too many wrong create passwords from your address; retry later" {
			t.Fatalf("backoff refusal says %q", m.str("message"))
		}
	}
	// The right password from the attacker's address is not compared
	// during its backoff either.
	a.send(msg{"type": "join", "password": cfg.CreatePassword})
	a.expectError(codeRateLimited)

	c := ts.mustDialFrom(t, "198.51.100.99")
	c.send(msg{"type": "join", "name": "creator", "password": cfg.CreatePassword})
	c.expect("joined")
	if st := ts.srv.Stats(); st.BadPasswords != addressFreeGuesses || st.PasswordsLimited != guesses-addressFreeGuesses+1 {
		t.Fatalf("wrong passwords counted %d, refused unchecked %d", st.BadPasswords, st.PasswordsLimited)
	}
	honest.exchange(t)
}

// TestPasswordBackoffPerAddress: the backoff doubles per wrong guess past
// the free ones up to its cap, counts an IPv6 /64 as one address, is
// forgotten an hour after the last wrong guess and cleared by a right
// password.
func TestPasswordBackoffPerAddress(t *testing.T) {
	g := newPasswordGuard(Config{CreatePassword: "right-password", BadPasswordRate: 1, BadPasswordBurst: 1000})
	key := ipKey(mustAddr("2001:db8:1:2::1"))
	now := time.Unix(1_000_000, 0)
	for i := range addressFreeGuesses {
		if v := g.checkAt(key, "wrong", now); v != passwordWrong {
			t.Fatalf("free guess %d: verdict %d", i, v)
		}
	}
	wait := addressBackoffMin
	for range 14 {
		if v := g.checkAt(ipKey(mustAddr("2001:db8:1:2::ffff")), "right-password", now.Add(wait-time.Millisecond)); v != passwordBackoff {
			t.Fatalf("inside a %s backoff, from the same /64: verdict %d", wait, v)
		}
		now = now.Add(wait)
		if v := g.checkAt(key, "wrong", now); v != passwordWrong {
			t.Fatalf("after a %s backoff: verdict %d", wait, v)
		}
		wait = min(2*wait, addressBackoffMax)
	}
	if wait != addressBackoffMax {
		t.Fatalf("backoff %s, want its cap %s", wait, addressBackoffMax)
	}
	if v := g.checkAt(ipKey(mustAddr("2001:db8:1:3::1")), "right-password", now); v != passwordOK {
		t.Fatalf("another /64 during the backoff: verdict %d", v)
	}
	// An hour after the last wrong guess, the address starts afresh.
	now = now.Add(addressForgetAfter)
	for i := range addressFreeGuesses {
		if v := g.checkAt(key, "wrong", now); v != passwordWrong {
			t.Fatalf("afresh, guess %d: verdict %d", i, v)
		}
	}
	// A right password (after the backoff) clears the record.
	now = now.Add(addressBackoffMin)
	if v := g.checkAt(key, "right-password", now); v != passwordOK {
		t.Fatalf("right password after the backoff: verdict %d", v)
	}
	if v := g.checkAt(key, "wrong", now); v != passwordWrong {
		t.Fatalf("after a right password: verdict %d", v)
	}
	if len(g.guessers) != 1 || g.guessers[key].wrong != 1 {
		t.Fatalf("records %v", g.guessers)
	}
}
