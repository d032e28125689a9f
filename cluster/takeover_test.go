package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamsync/streamsync/internal/registrytest"
	"github.com/streamsync/streamsync/signaling"
)

// twoRegistries starts two cluster nodes on one NATS, handing peers over
// with handOff (nil: none set).
func twoRegistries(t *testing.T, handOff func(signaling.Member) ([][]byte, bool)) (n1, n2 *Registry) {
	t.Helper()
	ns := startNATS(t)
	_, cc := testConfigs(ns.url())
	var regs []*Registry
	for i := range 2 {
		cc.NodeID = fmt.Sprint("n", i+1)
		reg, err := New(cc, Options{Logger: testLogger(), MaxRooms: 10, MaxPeers: 10, EmptyRoomTTL: time.Minute, ResumeGrace: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close() })
		if handOff != nil {
			reg.SetHandOff(handOff)
		}
		waitUntil(t, cc.NodeID+" loaded", func() bool { return reg.Status().Loaded })
		regs = append(regs, reg)
	}
	return regs[0], regs[1]
}

// roomOfTwo puts a on n1 and b on n2 in "room" and returns b's resume
// token.
func roomOfTwo(t *testing.T, n1, n2 *Registry) (a, b *registrytest.Recorder, token string) {
	t.Helper()
	a, b = &registrytest.Recorder{}, &registrytest.Recorder{}
	if err := n1.Create("room", signaling.Peer{ID: "a"}, a); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Join("room", signaling.Peer{ID: "b"}, b, jsonMsg("joined:b")); err != nil {
		t.Fatal(err)
	}
	return a, b, n2.IssueToken("room", "b")
}

func jsonMsg(s string) []byte { b, _ := json.Marshal(s); return b }

// TestTakeoverKeepsTheOrderOfTheNewNodesSenders: b is taken over by the
// node a is on. Between b's registration there and the old node's letting
// go, a sends b a message, then changes its state, which the old node
// delivers to b at once: b gets the message first all the same (held on
// the new node, it came after the state).
func TestTakeoverKeepsTheOrderOfTheNewNodesSenders(t *testing.T) {
	n1, n2 := twoRegistries(t, registrytest.HandOff)
	a, b, token := roomOfTwo(t, n1, n2)
	waitUntil(t, "a to hear b join", func() bool { return len(a.Msgs()) == 1 })

	n1.takeoverHookForTest = func(stage string) {
		if stage != "asking" {
			return
		}
		if err := n1.Send("room", "b", jsonMsg("relay:1")); err != nil {
			t.Errorf("send: %v", err)
		}
		if err := n1.Update("room", signaling.Peer{ID: "a", State: signaling.State{Muted: true}}, jsonMsg("state:2")); err != nil {
			t.Errorf("update: %v", err)
		}
		waitUntil(t, "the old node to deliver the state", func() bool { return slices.Contains(b.Msgs(), "state:2") })
	}
	b2 := &registrytest.Recorder{}
	queued, err := n1.Takeover(token, func(string, signaling.Peer) signaling.Member { return b2 })
	if err != nil {
		t.Fatal(err)
	}
	stream := func() []string {
		out := b.Msgs()
		for _, q := range queued {
			var s string
			_ = json.Unmarshal(q, &s)
			out = append(out, s)
		}
		return append(out, b2.Msgs()...)
	}
	want := []string{"relay:1", "state:2"}
	waitUntil(t, "b to get both", func() bool { return len(stream()) >= len(want) })
	if got := stream(); !slices.Equal(got, want) {
		t.Fatalf("b got %v, want %v (one sender's order)", got, want)
	}
}

// TestTakeoverFromAGoneNodeKeepsTheNewNodesMessages: b's old node is gone;
// a message a sends b while b is taken over waits on the new node (there
// is no old node to take it) and reaches b.
func TestTakeoverFromAGoneNodeKeepsTheNewNodesMessages(t *testing.T) {
	n1, n2 := twoRegistries(t, registrytest.HandOff)
	a, _, token := roomOfTwo(t, n1, n2)
	waitUntil(t, "a to hear b join", func() bool { return len(a.Msgs()) == 1 })
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}

	n1.takeoverHookForTest = func(stage string) {
		if stage != "asking" {
			return
		}
		if err := n1.Send("room", "b", jsonMsg("relay:1")); err != nil {
			t.Errorf("send: %v", err)
		}
	}
	b2 := &registrytest.Recorder{}
	if _, err := n1.Takeover(token, func(string, signaling.Peer) signaling.Member { return b2 }); err != nil {
		t.Fatal(err)
	}
	if got := b2.Msgs(); !slices.Equal(got, []string{"relay:1"}) {
		t.Fatalf("b got %v, want the message sent during the takeover", got)
	}
}

// TestTakeoverKeepsEventsPastTheLog: more room events than the record's
// log holds happen while b's place is being written on the new node (a
// busy room's record is contended): b gets every one, in order, not a
// resync.
func TestTakeoverKeepsEventsPastTheLog(t *testing.T) {
	n1, n2 := twoRegistries(t, registrytest.HandOff)
	a, b, token := roomOfTwo(t, n1, n2)
	waitUntil(t, "a to hear b join", func() bool { return len(a.Msgs()) == 1 })

	const n = 2 * logLen
	var want []string
	n1.takeoverHookForTest = func(stage string) {
		if stage != "claiming" {
			return
		}
		for i := range n {
			s := fmt.Sprint("state:", i)
			want = append(want, s)
			if err := n1.Update("room", signaling.Peer{ID: "a", Name: s}, jsonMsg(s)); err != nil {
				t.Errorf("update: %v", err)
			}
		}
	}
	b2 := &registrytest.Recorder{}
	queued, err := n1.Takeover(token, func(string, signaling.Peer) signaling.Member { return b2 })
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 0 || len(b.Msgs()) != 0 {
		t.Fatalf("setup: the old node delivered %v, queued %d", b.Msgs(), len(queued))
	}
	if got := b2.Msgs(); !slices.Equal(got, want) {
		t.Fatalf("b got %v,\nwant %v", got, want)
	}
	if st := n1.Status(); st.Resyncs != 0 {
		t.Errorf("resyncs = %d", st.Resyncs)
	}
}

// TestAMemberNobodyServesIsRemoved: the record names a member served by a
// live node that does not know it (a join whose write was made though it
// seemed to fail, as when NATS goes away during it): that node removes it,
// and the others see it leave.
func TestAMemberNobodyServesIsRemoved(t *testing.T) {
	n1, n2 := twoRegistries(t, nil)
	a := &registrytest.Recorder{}
	if err := n2.Create("room", signaling.Peer{ID: "a"}, a); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err := n1.write(roomKey("room"), func(rec *record, exists bool) error {
		rec.Members = append(rec.Members, member{Peer: signaling.Peer{ID: "ghost"}, Node: n1.node})
		rec.announce(event{Peer: "ghost", Kind: evJoin, Msg: jsonMsg("joined:ghost")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a to see it join", func() bool { return len(a.Msgs()) >= 1 })
	waitUntil(t, "the ghost to be removed", func() bool {
		ps, err := n2.Roster("room")
		return err == nil && len(ps) == 1
	})
	waitUntil(t, "a to see it come and go", func() bool { return len(a.Msgs()) == 2 })
	if got := a.Msgs(); got[0] != "joined:ghost" || !strings.Contains(got[1], `"peer-left"`) {
		t.Fatalf("a got %v", got)
	}
}

// staleEntry is a bucket value as a watcher's initial load may bring it.
type staleEntry struct {
	key string
	rec record
	rev uint64
}

func (e staleEntry) Bucket() string                  { return "" }
func (e staleEntry) Key() string                     { return e.key }
func (e staleEntry) Value() []byte                   { return e.rec.encode() }
func (e staleEntry) Revision() uint64                { return e.rev }
func (e staleEntry) Created() time.Time              { return time.Time{} }
func (e staleEntry) Delta() uint64                   { return 0 }
func (e staleEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

// TestAStaleInitialValueIsNotApplied: a watcher reopened on the same
// bucket may bring, in its initial load, a room's value from before a
// write this node has applied since; applying it would show members leave
// and join again.
func TestAStaleInitialValueIsNotApplied(t *testing.T) {
	ns := startNATS(t)
	_, cc := testConfigs(ns.url())
	cc.NodeID = "n1"
	n1, err := New(cc, Options{Logger: testLogger(), MaxRooms: 10, MaxPeers: 10, EmptyRoomTTL: time.Minute, ResumeGrace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n1.Close() })
	waitUntil(t, "n1 loaded", func() bool { return n1.Status().Loaded })
	a, b := &registrytest.Recorder{}, &registrytest.Recorder{}
	if err := n1.Create("room", signaling.Peer{ID: "a"}, a); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Join("room", signaling.Peer{ID: "c"}, &registrytest.Recorder{}, jsonMsg("joined:c")); err != nil {
		t.Fatal(err)
	}
	key := roomKey("room")
	n1.mu.Lock()
	old := staleEntry{key, n1.rooms[key].rec.clone(), n1.rooms[key].rev}
	n1.mu.Unlock()
	if _, err := n1.Join("room", signaling.Peer{ID: "b"}, b, jsonMsg("joined:b")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a to hear c and b join", func() bool { return len(a.Msgs()) == 2 })

	// A watcher reopened on the same bucket knows it (whether the run
	// loop has reopened its own yet or not).
	w, err := n1.watch()
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Stop()
	n1.mu.Lock()
	same := n1.sameHistory
	n1.mu.Unlock()
	if !same {
		t.Fatal("the watcher's bucket is not known as the one seen before")
	}
	n1.applyEntry(old, true)
	if got := a.Msgs(); len(got) != 2 {
		t.Fatalf("a stale value was applied: a got %v", got)
	}
	if ps, _ := n1.Roster("room"); len(ps) != 3 {
		t.Fatalf("roster = %v after a stale value", ps)
	}
}

// TestAJoinMadeAlreadyIsNotMadeTwice: a join whose write was made but not
// recognised as made (an outage's merge clears the writes' ids) is not
// announced twice: the others see one join and one member.
func TestAJoinMadeAlreadyIsNotMadeTwice(t *testing.T) {
	n1, n2 := twoRegistries(t, nil)
	a := &registrytest.Recorder{}
	if err := n2.Create("room", signaling.Peer{ID: "a"}, a); err != nil {
		t.Fatal(err)
	}
	b := signaling.Peer{ID: "b"}
	if _, _, _, _, err := n1.write(roomKey("room"), func(rec *record, exists bool) error {
		rec.Members = append(rec.Members, member{Peer: b, Node: n1.node})
		rec.announce(event{Peer: "b", Kind: evJoin, Msg: jsonMsg("joined:b")})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	roster, err := n1.Join("room", b, &registrytest.Recorder{}, jsonMsg("joined:b"))
	if err != nil || len(roster) != 1 || roster[0].ID != "a" {
		t.Fatalf("join = %v, %v", roster, err)
	}
	waitUntil(t, "a to hear b join", func() bool { return len(a.Msgs()) >= 1 })
	ps, _ := n1.Roster("room")
	if len(ps) != 2 {
		t.Fatalf("roster %v: b twice?", ps)
	}
	// A later event: a second join would have come before it.
	if err := n1.Update("room", signaling.Peer{ID: "b", Name: "B"}, jsonMsg("state:b")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a to hear b's state", func() bool { return slices.Contains(a.Msgs(), "state:b") })
	if got := a.Msgs(); !slices.Equal(got, []string{"joined:b", "state:b"}) {
		t.Fatalf("a got %v", got)
	}
}
