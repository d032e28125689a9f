package signaling

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/roomid"
)

func TestTwoAndThreePeersRelay(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())

	a := ts.dial(t)
	ja := a.join("", "Ada")
	if len(peerIDs(ja)) != 0 || !roomid.Valid(a.room) || a.id == "" {
		t.Fatalf("creator joined = %v", ja)
	}

	b := ts.dial(t)
	jb := b.join(a.room, "Bob")
	if got := peerIDs(jb); !slices.Equal(got, []string{a.id}) {
		t.Fatalf("Bob's roster = %v, want [%s]", got, a.id)
	}
	if pj := a.expect("peer-joined"); pj["peer"].(map[string]any)["id"] != b.id {
		t.Fatalf("Ada saw %v", pj)
	}

	c := ts.dial(t)
	jc := c.join(a.room, "Cy")
	if got := peerIDs(jc); !slices.Equal(got, []string{a.id, b.id}) {
		t.Fatalf("Cy's roster = %v, want [%s %s]", got, a.id, b.id)
	}
	a.expect("peer-joined")
	b.expect("peer-joined")

	// Each relay type reaches exactly the named peer, with a server-stamped
	// from; a spoofed from is overwritten.
	tests := []struct {
		typ   string
		field string
		value any
	}{
		{"offer", "sdp", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
		{"answer", "sdp", "v=0\r\n"},
		{"candidate", "candidate", map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}},
		{"candidate", "candidate", nil},
	}
	for _, tc := range tests {
		a.send(msg{"type": tc.typ, "to": b.id, "from": c.id, tc.field: tc.value, "extra": "dropped"})
		got := b.expect(tc.typ)
		if got.str("from") != a.id {
			t.Errorf("%s: from = %q, want %q", tc.typ, got.str("from"), a.id)
		}
		want, _ := json.Marshal(tc.value)
		have, _ := json.Marshal(got[tc.field])
		if string(want) != string(have) {
			t.Errorf("%s: %s = %s, want %s", tc.typ, tc.field, have, want)
		}
		if _, ok := got["extra"]; ok {
			t.Errorf("%s: unknown field relayed: %v", tc.typ, got)
		}
		if _, ok := got["to"]; ok {
			t.Errorf("%s: to relayed: %v", tc.typ, got)
		}
	}
	// Cy got none of it: its next message answers its own ping. Ada too.
	c.alive()
	a.alive()

	c.send(msg{"type": "answer", "to": a.id, "sdp": "x"})
	if got := a.expect("answer"); got.str("from") != c.id {
		t.Fatalf("answer from = %v", got)
	}
	b.alive()
}

func TestStateInRosterAndBroadcast(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	a.send(msg{"type": "state", "name": "Ada L.", "state": msg{"muted": true, "sharing": true}})
	st := b.expect("state")
	if st.str("from") != a.id || st.str("name") != "Ada L." {
		t.Fatalf("state = %v", st)
	}
	if s := st["state"].(map[string]any); s["muted"] != true || s["sharing"] != true || s["cameraOff"] != false {
		t.Fatalf("state = %v", st)
	}
	a.alive() // the sender does not get its own state back

	// Name-only update keeps the state.
	a.send(msg{"type": "state", "name": "Ada"})
	if s := b.expect("state")["state"].(map[string]any); s["muted"] != true {
		t.Fatalf("state lost on name change: %v", s)
	}

	c := ts.dial(t)
	jc := c.join(a.room, "Cy")
	peers := jc["peers"].([]any)
	first := peers[0].(map[string]any)
	if first["name"] != "Ada" || first["state"].(map[string]any)["muted"] != true {
		t.Fatalf("late joiner roster = %v", peers)
	}
	a.expect("peer-joined")

	a.send(msg{"type": "state", "name": strings.Repeat("x", maxNameLength+1)})
	a.expectError(codeBadMessage)
	a.send(msg{"type": "state", "name": "bad\x07name"})
	a.expectError(codeBadMessage)
}

func TestLeave(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	b.send(msg{"type": "leave"})
	if ce := b.expectClose(closeNormal); ce.Text != "bye" {
		t.Fatalf("close reason %q", ce.Text)
	}
	pl := a.expect("peer-left")
	if pl.str("id") != b.id || pl.str("reason") != leftReasonLeft {
		t.Fatalf("peer-left = %v", pl)
	}
	// A normal close by the client also leaves at once.
	c := ts.dial(t)
	c.join(a.room, "Cy")
	a.expect("peer-joined")
	_ = c.ws.WriteControl(8, []byte{0x03, 0xe8}, time.Now().Add(time.Second)) // close 1000
	if pl := a.expect("peer-left"); pl.str("id") != c.id || pl.str("reason") != leftReasonLeft {
		t.Fatalf("peer-left = %v", pl)
	}
}

func TestICEServersAndRefresh(t *testing.T) {
	t.Parallel()
	fm := &fakeMinter{ttl: time.Second}
	ts := newTestServerOpts(t, testConfig(), Options{ICE: fm.mint}, fm)

	a := ts.dial(t)
	j := a.join("", "Ada")
	servers := j["iceServers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("iceServers = %v", servers)
	}
	user := servers[0].(map[string]any)["username"].(string)
	_, tail, _ := strings.Cut(user, ":")
	if want := roomTag(a.room) + "." + a.id; tail != want {
		t.Fatalf("TURN user = %q, want %q", tail, want)
	}
	if strings.Contains(user, a.room) || strings.Count(user, ":") != 1 {
		t.Fatalf("TURN username %q leaks the room id or has extra ':'", user)
	}
	exp1, err := time.Parse(time.RFC3339, j.str("iceServersExpireAt"))
	if err != nil {
		t.Fatalf("iceServersExpireAt: %v", err)
	}

	// A refresh is pushed before the first credentials expire, unasked.
	r := a.expect("ice-servers")
	exp2, err := time.Parse(time.RFC3339, r.str("iceServersExpireAt"))
	if err != nil {
		t.Fatalf("refresh expiry: %v", err)
	}
	if !exp2.After(exp1) && !exp2.Equal(exp1) {
		t.Fatalf("refresh expires %v, before %v", exp2, exp1)
	}
	if time.Now().After(exp1) {
		t.Fatalf("refresh arrived after expiry %v", exp1)
	}
	waitUntil(t, "refresh counted", func() bool { return ts.srv.Stats().ICERefreshes >= 1 })

	// Asking explicitly works too; a failing minter gives ice-unavailable.
	b := ts.dial(t)
	b.send(msg{"type": "ice-servers"})
	b.expectError(codeNotJoined)
	b.join(a.room, "Bob")
	fm.fail.Store(true)
	b.send(msg{"type": "ice-servers", "id": 5})
	if e := b.expectError(codeICEUnavailable); e["ref"] != 5.0 || e.str("refType") != "ice-servers" {
		t.Fatalf("error = %v", e)
	}
}

func TestNoMinter(t *testing.T) {
	t.Parallel()
	ts := newTestServerOpts(t, testConfig(), Options{}, nil)
	a := ts.dial(t)
	j := a.join("", "")
	if s, ok := j["iceServers"].([]any); !ok || len(s) != 0 {
		t.Fatalf("iceServers = %v, want []", j["iceServers"])
	}
	if _, ok := j["iceServersExpireAt"]; ok {
		t.Fatalf("unexpected expiry: %v", j)
	}
}

func TestInfoAndWelcome(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.CreatePassword = "pw-0123456789"
	ts := newTestServer(t, cfg)

	a := ts.dial(t)
	if a.welcome["createPasswordRequired"] != true || a.welcome["version"] != 1.0 {
		t.Fatalf("welcome = %v", a.welcome)
	}
	if l := a.welcome["limits"].(map[string]any); l["maxPeersPerRoom"] != 6.0 || l["maxMessageBytes"] != 65536.0 {
		t.Fatalf("limits = %v", l)
	}

	resp, err := http.Get(ts.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var info msg
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	if _, ok := info["type"]; ok || info["createPasswordRequired"] != true {
		t.Fatalf("info = %v", info)
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig())
	a := ts.dial(t)
	a.join("", "Ada")
	b := ts.dial(t) // not joined

	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(t.Context()) }()
	for _, c := range []*client{a, b} {
		if ce := c.expectClose(closeGoingAway); ce.Text != "server shutting down" {
			t.Fatalf("reason %q", ce.Text)
		}
		c.ws.Close()
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, resp, err := ts.dialHeader(t, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v %v", err, resp)
	}
}
