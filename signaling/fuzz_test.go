package signaling

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// FuzzHandle feeds arbitrary client messages through the decoder and
// handlers of one connection (no socket: replies stay in its queue) and
// checks every reply is a JSON object with a type.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"type":"join","name":"Ada"}`,
		`{"type":"join","room":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","resume":"x"}`,
		`{"type":"offer","to":"x","sdp":"v=0","id":1}`,
		`{"type":"candidate","to":"x","candidate":null}`,
		`{"type":"state","name":"\u0000","state":{"muted":true}}`,
		`{"type":"ping","id":"` + string(make([]byte, 70)) + `"}`,
		`[]`, `{"type":1}`, `nul`,
	} {
		f.Add([]byte(seed), []byte(`{"type":"offer","to":"nobody","sdp":{}}`))
	}
	cfg := testConfig()
	cfg.SendQueue = 4096
	f.Fuzz(func(t *testing.T, first, second []byte) {
		s, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(s, nil, netip.MustParseAddr("192.0.2.1"), nil)
		c.handle([]byte(`{"type":"join"}`)) // be in a room for half the cases
		for _, in := range [][]byte{first, second} {
			c.handle(in)
		}
		for {
			m, ok := c.send.pop()
			if !ok {
				break
			}
			var v struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(m.data, &v); err != nil || v.Type == "" {
				t.Fatalf("reply %q: %v", m.data, err)
			}
		}
		if c.sess != nil {
			c.sess.detach(c, true)
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
