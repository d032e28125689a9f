package signaling

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// restartedServer is a second server on the same keys, as after a restart.
func restartedServer(t *testing.T, cfg Config, keys ...[]byte) *testServer {
	t.Helper()
	fm := &fakeMinter{ttl: time.Hour}
	return newTestServerOpts(t, cfg, Options{ICE: fm.mint, Keys: keys}, fm)
}

// stop shuts a test server down as SIGTERM does.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ts.http.Close()
}

// resume sends a resume with the name and state a page sends along.
func (c *client) resume(token, name string) msg {
	c.t.Helper()
	c.send(msg{"type": "join", "resume": token, "name": name, "state": msg{"muted": true}})
	m := c.expect("joined")
	c.id, c.room, c.token = m.str("id"), m.str("room"), m.str("resumeToken")
	return m
}

// A restarted server gives each returning client its place back (same id
// and room, the name it says), rebuilds the roster as they come back, and
// opens links of its earlier run; a stopping server announces nothing.
func TestRestartKeepsMeetings(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	one := restartedServer(t, cfg, testKey)
	a := one.dial(t)
	a.join("", "Ada")
	b := one.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	// A room made before the restart that nobody is in when it happens.
	e := one.dial(t)
	e.join("", "Eve")
	e.send(msg{"type": "leave"})
	e.expectClose(closeNormal)
	emptyRoom := e.room

	one.stop(t)
	for _, c := range []*client{a, b} {
		c.expectClose(closeGoingAway) // and no peer-left before it
	}

	two := restartedServer(t, cfg, testKey)
	a2 := two.dial(t)
	j := a2.resume(a.token, "Ada L.")
	if j["resumed"] != true || j["restarted"] != true || a2.id != a.id || a2.room != a.room || len(peerIDs(j)) != 0 {
		t.Fatalf("first back: %v", j)
	}
	b2 := two.dial(t)
	j = b2.resume(b.token, "Bob")
	if b2.id != b.id || j["restarted"] != true || strings.Join(peerIDs(j), ",") != a.id {
		t.Fatalf("second back: %v", j)
	}
	pj := a2.expect("peer-joined")
	if p, _ := pj["peer"].(map[string]any); p["id"] != b.id || p["name"] != "Bob" {
		t.Fatalf("peer-joined %v", pj)
	}
	b2.send(msg{"type": "offer", "to": a.id, "sdp": "v=0"})
	if o := a2.expect("offer"); o.str("from") != b.id {
		t.Fatalf("offer %v", o)
	}

	// A newcomer sees both; its roster has the name Ada came back with.
	c := two.dial(t)
	j = c.join(a.room, "Cy")
	peers, _ := j["peers"].([]any)
	if len(peers) != 2 || peers[0].(map[string]any)["name"] != "Ada L." {
		t.Fatalf("newcomer's roster %v", j)
	}
	// The link of the room nobody was in works, and the pre-flight says so.
	if info := getInfo(t, two, emptyRoom); info != `{"exists":true,"peers":0}` {
		t.Fatalf("pre-flight %s", info)
	}
	d := two.dial(t)
	if j := d.join(emptyRoom, "Dee"); len(peerIDs(j)) != 0 {
		t.Fatalf("joined %v", j)
	}
	if st := two.srv.Stats(); st.RestartResumes != 2 || st.RoomsRevived != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// getInfo returns the room part of the pre-flight answer.
func getInfo(t *testing.T, ts *testServer, room string) string {
	t.Helper()
	res, err := ts.http.Client().Get(ts.http.URL + "/?room=" + room)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	s := b.String()
	i := strings.Index(s, `"room":`)
	if i < 0 {
		t.Fatalf("no room in %s", s)
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s[i+len(`"room":`):]), "}"))
}

// What an attacker would try against a restarted server gets nothing: ids
// and tokens it made up or altered, tokens for another room or peer, of a
// key since retired, too old, a second use of one token, a token of this
// run whose place is gone, and late returns.
func TestRestartRefuses(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	one := restartedServer(t, cfg, testKey)
	a := one.dial(t)
	a.join("", "Ada")
	b := one.dial(t)
	b.join("", "Bob") // another room
	one.stop(t)
	old := newSigner([][]byte{testKey})
	stale := old.newToken(a.room, a.id, time.Now().Add(-maxTokenAge-time.Minute))

	two := restartedServer(t, cfg, testKey)
	swap := func(tok string, i int, v string) string {
		parts := strings.Split(tok, ".")
		parts[i] = v
		return strings.Join(parts, ".")
	}
	flip := func(s string) string {
		c := byte('A')
		if s[len(s)-1] == 'A' {
			c = 'B'
		}
		return s[:len(s)-1] + string(c)
	}
	for _, tc := range []struct{ name, token string }{
		{"made up", "1." + a.room + "." + a.id + ".1700000000000.AAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"},
		{"tag altered", flip(a.token)},
		{"another room", swap(a.token, 1, b.room)},
		{"another peer", swap(a.token, 2, b.id)},
		{"issued later", swap(a.token, 3, "1999999999999")},
		{"other version", swap(a.token, 0, "2")},
		{"too old", stale},
		{"garbage", strings.Repeat("x.", 200)},
	} {
		c := two.dial(t)
		c.send(msg{"type": "join", "resume": tc.token})
		if m := c.expect("error"); m.str("code") != codeResumeFailed {
			t.Errorf("%s: %v", tc.name, m)
		}
	}
	// A made-up room id is not one of ours; a real one is.
	c := two.dial(t)
	c.send(msg{"type": "join", "room": flip(a.room)})
	c.expectError(codeRoomNotFound)

	// Two tabs with one token: one place.
	a2 := two.dial(t)
	a2.resume(a.token, "Ada")
	tab := two.dial(t)
	tab.send(msg{"type": "join", "resume": a.token})
	tab.expectError(codeResumeFailed)
	a2.alive()
	// A token of this run whose place was given up stays given up.
	a2.send(msg{"type": "leave"})
	a2.expectClose(closeNormal)
	again := two.dial(t)
	again.send(msg{"type": "join", "resume": a2.token})
	again.expectError(codeResumeFailed)

	// Past the resume window after the start, a place is not taken back.
	two.srv.started = two.srv.started.Add(-cfg.ResumeGrace)
	late := two.dial(t)
	late.send(msg{"type": "join", "resume": b.token})
	late.expectError(codeResumeFailed)
	// Past empty_room_ttl (and the grace), a room of the earlier run is gone.
	two.srv.started = two.srv.started.Add(-cfg.EmptyRoomTTL)
	late.send(msg{"type": "join", "room": b.room})
	late.expectError(codeRoomNotFound)
}

// Rotation: ids and tokens of the previous key work while it is listed
// after the new one, and stop once it is dropped (also by SetKeys, as a
// reload does).
func TestRestartKeyRotation(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	one := restartedServer(t, cfg, testKey)
	a := one.dial(t)
	a.join("", "Ada")
	b := one.dial(t)
	b.join("", "Bob")
	one.stop(t)

	rotated := restartedServer(t, cfg, otherKey, testKey)
	a2 := rotated.dial(t)
	a2.resume(a.token, "Ada")
	if !rotated.srv.sign.verifyRoomID(a.room) {
		t.Fatal("old room id refused while its key is listed")
	}
	if n := rotated.srv.sign.newRoomID(); newSigner([][]byte{testKey}).verifyRoomID(n) {
		t.Fatal("new ids signed with the old key")
	}
	rotated.srv.SetKeys([][]byte{otherKey})
	c := rotated.dial(t)
	c.send(msg{"type": "join", "resume": b.token})
	c.expectError(codeResumeFailed)
	c.send(msg{"type": "join", "room": b.room})
	c.expectError(codeRoomNotFound)

	dropped := restartedServer(t, cfg, otherKey)
	d := dropped.dial(t)
	d.send(msg{"type": "join", "resume": b.token})
	d.expectError(codeResumeFailed)
}

// The caps hold for places and rooms taken back: max_rooms counts a room
// opened again, max_rooms_per_ip a place taken back.
func TestRestartCaps(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	one := restartedServer(t, cfg, testKey)
	a := one.dial(t)
	a.join("", "Ada")
	b := one.dial(t)
	b.join("", "Bob")
	one.stop(t)

	cfg.MaxRooms = 1
	two := restartedServer(t, cfg, testKey)
	two.dial(t).resume(a.token, "Ada")
	c := two.dial(t)
	c.send(msg{"type": "join", "resume": b.token})
	c.expectError(codeTooManyRooms)
	// Refused for a cap, the place can still be taken back once it fits.
	c.send(msg{"type": "join", "room": b.room, "name": "x"})
	c.expectError(codeTooManyRooms)

	cfg.MaxRooms, cfg.MaxRoomsPerIP = 10, 1
	three := restartedServer(t, cfg, testKey)
	c3 := three.dial(t)
	c3.resume(a.token, "Ada")
	d := three.dial(t)
	d.send(msg{"type": "join", "resume": b.token})
	d.expectError(codeTooManyRooms)
}

// LoadKeys: derived from the TURN secrets when set; else a key file made
// once under the state directory ($STATE_DIRECTORY when not configured),
// private, the same at every start; else none.
func TestLoadKeys(t *testing.T) {
	keys, src, _, err := LoadKeys(DefaultConfig(), []string{"turn-secret-0123456789"})
	if err != nil || src != KeysFromSecrets || len(keys) != 1 || string(keys[0]) == "turn-secret-0123456789" {
		t.Fatalf("from secrets: %v %v %v", keys, src, err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	t.Setenv("STATE_DIRECTORY", dir+":/elsewhere")
	first, src, path, err := LoadKeys(DefaultConfig(), nil)
	if err != nil || src != KeysFromFile || path != filepath.Join(dir, KeyFileName) || len(first) != 1 {
		t.Fatalf("from $STATE_DIRECTORY: %v %v %v", src, path, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	again, _, _, err := LoadKeys(DefaultConfig(), nil)
	if err != nil || string(again[0]) != string(first[0]) {
		t.Fatalf("second start: %v", err)
	}
	t.Setenv("STATE_DIRECTORY", "")
	if _, src, _, _ := LoadKeys(DefaultConfig(), nil); src != KeysRandom {
		t.Fatalf("no state directory: %v", src)
	}
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.StateDir, KeyFileName), []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadKeys(cfg, nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad key file: %v", err)
	}
}

// With a create password, an old link alone does not open its room again
// after a restart (a room id carries no date: it would open one, and give
// TURN credentials, to anyone who ever held the link, without the
// password); a participant who returns with a resume token does, and then
// the link works again.
func TestRestartLinkNeedsAReturnerWhenCreateNeedsPassword(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.CreatePassword = "correct horse battery"
	one := restartedServer(t, cfg, testKey)
	a := one.dial(t)
	a.send(msg{"type": "join", "name": "Ada", "password": cfg.CreatePassword})
	j := a.expect("joined")
	room, token := j.str("room"), j.str("resumeToken")
	one.stop(t)
	a.expectClose(closeGoingAway)

	two := restartedServer(t, cfg, testKey)
	if info := getInfo(t, two, room); info != `{"exists":false,"peers":0}` {
		t.Fatalf("pre-flight of an old link with nobody back: %s", info)
	}
	s := two.dial(t)
	s.send(msg{"type": "join", "room": room, "name": "Stranger"})
	s.expectError(codeRoomNotFound)
	s.alive()

	a2 := two.dial(t)
	if j := a2.resume(token, "Ada"); j["restarted"] != true || j.str("room") != room {
		t.Fatalf("returner: %v", j)
	}
	g := two.dial(t)
	if j := g.join(room, "Guest"); strings.Join(peerIDs(j), ",") != a2.id {
		t.Fatalf("guest after the returner: %v", j)
	}
}
