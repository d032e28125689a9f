package cluster

import (
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/registrytest"
	"github.com/streamsync/streamsync/signaling"
)

// A resync (a record whose log does not reach back, as after an outage's
// merge) delivers the roster's difference. A relay held for it comes after
// the changes its sender's node had seen and before the later ones: A's
// candidate, sent when A's node had applied revision 12, comes after C's
// join (written on 11) and D's (not stamped: joins come first), and
// before A's new name (written on 14). Before,
// every change came first, and A's later state overtook its candidate
// (the chaos test, about 1 run in 10 under load).
func TestAResyncKeepsARelayBeforeItsSendersLaterState(t *testing.T) {
	r := &Registry{node: "n1"}
	a := signaling.Peer{ID: "A", Name: "a"}
	b := signaling.Peer{ID: "B", Name: "b"}
	c := signaling.Peer{ID: "C", Name: "c"}
	rm := &room{key: "k", local: map[string]*local{}, rev: 10, rec: record{Seq: 5,
		Members: []member{{Peer: a, Node: "n2", At: 3}, {Peer: b, Node: "n1", At: 4}}}}
	got := &registrytest.Recorder{}
	rm.local[b.ID] = &local{m: got, seq: 5, rev: 4}

	r.mu.Lock()
	r.deliverRelayLocked(rm, rm.local[b.ID], []byte(`{"type":"candidate","from":"A"}`), 5, 12)
	if n := len(got.Msgs()); n != 0 {
		t.Fatalf("relay delivered before its sender's view was applied: %d messages", n)
	}
	renamed := a
	renamed.Name = "a2"
	r.applyLocked(rm, record{Seq: 9, Members: []member{
		{Peer: renamed, Node: "n2", At: 15}, {Peer: b, Node: "n1", At: 4}, {Peer: c, Node: "n3", At: 12},
		{Peer: signaling.Peer{ID: "D", Name: "d"}, Node: "n3"}, // joined unstamped (an older node)
	}}, 16)
	r.mu.Unlock()

	var kinds []string
	for _, m := range got.Msgs() {
		switch {
		case strings.Contains(m, `"candidate"`):
			kinds = append(kinds, "candidate")
		case strings.Contains(m, `"peer-joined"`):
			kinds = append(kinds, "joined")
		case strings.Contains(m, `"state"`):
			kinds = append(kinds, "state A")
		default:
			kinds = append(kinds, m)
		}
	}
	if want := "joined, joined, candidate, state A"; strings.Join(kinds, ", ") != want {
		t.Errorf("B got %q, want %s", kinds, want)
	}
}

// A write stamps the members it changes with one past the revision it was
// made on, and leaves the others.
func TestAWriteStampsTheMembersItChanges(t *testing.T) {
	a := signaling.Peer{ID: "A", Name: "a"}
	b := signaling.Peer{ID: "B", Name: "b"}
	before := record{Members: []member{{Peer: a, Node: "n1", At: 3}, {Peer: b, Node: "n1", At: 4}}}
	after := before.clone()
	after.Members[1].Peer.Name = "b2"
	after.Members = append(after.Members, member{Peer: signaling.Peer{ID: "C"}, Node: "n2"})
	after.stampChanges(before, 20)
	var at []uint64
	for _, m := range after.Members {
		at = append(at, m.At)
	}
	if at[0] != 3 || at[1] != 21 || at[2] != 21 {
		t.Errorf("At = %v, want [3 21 21]", at)
	}
}
