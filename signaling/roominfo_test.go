package signaling

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestRoomInfo: the pre-flight says whether a room exists and how many are
// in it, for a well-formed id only, and only within the join rate.
func TestRoomInfo(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.JoinRate, cfg.JoinBurst = 0.001, 5
	ts := newTestServer(t, cfg)
	a := ts.dial(t)
	a.join("", "Ada") // one join token
	b := ts.dial(t)
	b.join(a.room, "Bob") // two

	info := func(q string) map[string]any {
		t.Helper()
		resp, err := http.Get(ts.http.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", q, resp.StatusCode, err)
		}
		return m
	}
	room := func(q string) string {
		t.Helper()
		r, ok := info(q)["room"]
		if !ok {
			return "absent"
		}
		b, _ := json.Marshal(r)
		return string(b)
	}
	for _, tc := range []struct{ q, want string }{
		{"", "absent"},
		{"?room=" + a.room, `{"exists":true,"peers":2}`},                         // token three
		{"?room=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `{"exists":false,"peers":0}`}, // four
		{"?room=short", "absent"},                                                // malformed: no token spent
		{"?room=" + a.room + "x", "absent"},
		{"?room=" + a.room, `{"exists":true,"peers":2}`}, // five
		{"?room=" + a.room, "absent"},                    // over the join rate: nothing said
	} {
		if got := room(tc.q); got != tc.want {
			t.Errorf("GET /%s: room %s, want %s", tc.q, got, tc.want)
		}
	}
	if m := info("?room=" + a.room); m["createPasswordRequired"] != false || m["version"] != 1.0 {
		t.Errorf("the welcome fields are missing: %v", m)
	}
}
