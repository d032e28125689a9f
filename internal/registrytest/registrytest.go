// Package registrytest is one executable contract for every
// signaling.Registry: the in-memory one and the cluster's run the same
// tests (per-room order, roster order, caps under racing joins, leaving
// twice, the empty-room delay, resume and hand-over, and a randomised
// check against a sequential model). See docs/cluster.md, "Delivery
// contract".
package registrytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// Options are the limits a test asks of the registries it makes.
type Options struct {
	MaxRooms, MaxPeers int
	EmptyRoomTTL       time.Duration
}

// New makes the nodes of one registry under test: n registries sharing
// their rooms (n is 1 for a single-node registry), each closed when the
// test ends. Events may reach the members of other nodes later: the tests
// wait for them, within waitLimit.
type New func(t *testing.T, o Options) []signaling.Registry

// waitLimit bounds every wait for a delivery; never a timing assertion.
const waitLimit = 15 * time.Second

// Recorder is a Member that keeps what it is given.
type Recorder struct {
	mu   sync.Mutex
	msgs []string
	gone bool // handed over: it receives nothing more
}

// Deliver implements signaling.Member.
func (r *Recorder) Deliver(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.gone {
		r.msgs = append(r.msgs, dec(b))
	}
}

// enc makes a test message: registries carry JSON.
func enc(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func dec(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return string(b)
	}
	return s
}

// Msgs returns what r received.
func (r *Recorder) Msgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// HandOff is what a node's signaling server does when another node takes
// a peer over: the Recorder stops; nothing was queued (it delivers at once).
func HandOff(m signaling.Member) ([][]byte, bool) {
	r, ok := m.(*Recorder)
	if !ok {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return nil, false
	}
	r.gone = true
	return nil, true
}

func defaults() Options { return Options{MaxRooms: 10, MaxPeers: 50, EmptyRoomTTL: time.Minute} }

func start(t *testing.T, newNodes New, o Options) []signaling.Registry {
	t.Helper()
	nodes := newNodes(t, o)
	for _, n := range nodes {
		if ro, ok := n.(signaling.Roaming); ok {
			ro.SetHandOff(HandOff)
		}
	}
	return nodes
}

func peer(id string) signaling.Peer { return signaling.Peer{ID: id, Name: id} }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run runs the contract against the registries newNodes makes.
func Run(t *testing.T, newNodes New) {
	t.Run("RoomOrder", func(t *testing.T) { roomOrder(t, newNodes) })
	t.Run("RosterOrder", func(t *testing.T) { rosterOrder(t, newNodes) })
	t.Run("CapUnderRacingJoins", func(t *testing.T) { capUnderRacingJoins(t, newNodes) })
	t.Run("LeaveTwice", func(t *testing.T) { leaveTwice(t, newNodes) })
	t.Run("EmptyRoomTTL", func(t *testing.T) { emptyRoomTTL(t, newNodes) })
	t.Run("Resume", func(t *testing.T) { resume(t, newNodes) })
	t.Run("Model", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		if s, err := strconv.ParseUint(os.Getenv("REGISTRYTEST_SEED"), 10, 64); err == nil {
			seed = s // to replay a failure's operations
		}
		t.Logf("seed %d", seed)
		model(t, newNodes, seed)
	})
}

// roomOrder: members on every node update at once; each gets every other
// member's updates once, each sender's in order, and any two members saw
// the updates neither sent in the same order.
func roomOrder(t *testing.T, newNodes New) {
	nodes := start(t, newNodes, defaults())
	const members, updates = 6, 10
	recs := make([]*Recorder, members)
	for i := range members {
		recs[i] = &Recorder{}
		n := nodes[i%len(nodes)]
		var err error
		if i == 0 {
			err = n.Create("order", peer("p0"), recs[0])
		} else {
			_, err = n.Join("order", peer(fmt.Sprint("p", i)), recs[i], enc("j:"+fmt.Sprint("p", i)))
		}
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%len(nodes)]
			for k := range updates {
				if err := n.Update("order", peer(fmt.Sprint("p", i)), enc(fmt.Sprintf("u:p%d:%02d", i, k))); err != nil {
					t.Errorf("update: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	got := make([][]string, members)
	for i, rc := range recs {
		eventually(t, fmt.Sprint("p", i, "'s updates"), func() bool {
			got[i] = only(rc.Msgs(), "u:")
			return len(got[i]) >= (members-1)*updates
		})
		if len(got[i]) != (members-1)*updates {
			t.Fatalf("p%d got %d updates, want %d", i, len(got[i]), (members-1)*updates)
		}
		for s := range members {
			mine := only(got[i], fmt.Sprintf("u:p%d:", s))
			if s != i && (!slices.IsSorted(mine) || len(mine) != updates) {
				t.Errorf("p%d got p%d's updates %v", i, s, mine)
			}
		}
	}
	for i := range members {
		for j := i + 1; j < members; j++ {
			a := without(got[i], fmt.Sprintf("u:p%d:", j))
			b := without(got[j], fmt.Sprintf("u:p%d:", i))
			if !slices.Equal(a, b) {
				t.Errorf("p%d and p%d saw the room in different orders:\n%v\n%v", i, j, a, b)
			}
		}
	}
}

// rosterOrder: every node's roster lists the members in join order, and a
// joiner's roster is who joined before it.
func rosterOrder(t *testing.T, newNodes New) {
	nodes := start(t, newNodes, defaults())
	var want []signaling.Peer
	for i := range 5 {
		p := peer(fmt.Sprint("p", i))
		n := nodes[i%len(nodes)]
		if i == 0 {
			if err := n.Create("roster", p, &Recorder{}); err != nil {
				t.Fatal(err)
			}
		} else {
			got, err := n.Join("roster", p, &Recorder{}, enc("j"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s's roster = %v, want %v", p.ID, got, want)
			}
		}
		want = append(want, p)
	}
	for i, n := range nodes {
		var got []signaling.Peer
		var err error
		for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if got, err = n.Roster("roster"); err == nil && slices.Equal(got, want) {
				break
			}
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("node %d's roster = %v, %v; want %v", i, got, err, want)
		}
	}
	if _, err := nodes[0].Roster("nowhere"); !errors.Is(err, signaling.ErrRoomNotFound) {
		t.Errorf("roster of an unknown room: %v", err)
	}
}

// capUnderRacingJoins: joins racing on every node for the last places of
// a room: exactly as many win as there are places; the others are told
// the room is full.
func capUnderRacingJoins(t *testing.T, newNodes New) {
	o := defaults()
	o.MaxPeers = 3
	nodes := start(t, newNodes, o)
	if err := nodes[0].Create("cap", peer("p0"), &Recorder{}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = nodes[i%len(nodes)].Join("cap", peer(fmt.Sprint("q", i)), &Recorder{}, enc("j"))
		}()
	}
	wg.Wait()
	won, full := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, signaling.ErrRoomFull):
			full++
		default:
			t.Errorf("join: %v", err)
		}
	}
	if won != 2 || full != len(errs)-2 {
		t.Fatalf("won %d, full %d; want 2 and %d (%v)", won, full, len(errs)-2, errs)
	}
	for i, n := range nodes {
		eventually(t, fmt.Sprint("node ", i, "'s roster of 3"), func() bool {
			got, err := n.Roster("cap")
			return err == nil && len(got) == 3
		})
	}
}

// leaveTwice: leaving twice is harmless: the others hear it once.
func leaveTwice(t *testing.T, newNodes New) {
	nodes := start(t, newNodes, defaults())
	last := nodes[len(nodes)-1]
	a := &Recorder{}
	if err := nodes[0].Create("leave", peer("a"), a); err != nil {
		t.Fatal(err)
	}
	if _, err := last.Join("leave", peer("b"), &Recorder{}, enc("j:b")); err != nil {
		t.Fatal(err)
	}
	last.Leave("leave", "b", enc("l:b"))
	last.Leave("leave", "b", enc("l:b"))
	nodes[0].Leave("leave", "b", enc("l:b")) // not served there: nothing
	if _, err := last.Join("leave", peer("c"), &Recorder{}, enc("j:c")); err != nil {
		t.Fatal(err)
	}
	want := []string{"j:b", "l:b", "j:c"}
	eventually(t, "a to hear c join", func() bool { return len(a.Msgs()) >= len(want) })
	if got := a.Msgs(); !slices.Equal(got, want) {
		t.Fatalf("a got %v, want %v", got, want)
	}
	if err := last.Send("leave", "b", enc("s")); !errors.Is(err, signaling.ErrUnknownPeer) {
		t.Errorf("send to a peer that left: %v", err)
	}
}

// emptyRoomTTL: an empty room can be joined again within the empty-room
// delay, not after it.
func emptyRoomTTL(t *testing.T, newNodes New) {
	o := defaults()
	o.EmptyRoomTTL = 300 * time.Millisecond
	nodes := start(t, newNodes, o)
	last := nodes[len(nodes)-1]
	if err := nodes[0].Create("ttl", peer("a"), &Recorder{}); err != nil {
		t.Fatal(err)
	}
	nodes[0].Leave("ttl", "a", enc("l:a"))
	roster, err := last.Join("ttl", peer("b"), &Recorder{}, enc("j:b"))
	if err != nil || len(roster) != 0 {
		t.Fatalf("joining the emptied room: %v %v", roster, err)
	}
	if err := nodes[0].Create("ttl", peer("c"), &Recorder{}); !errors.Is(err, signaling.ErrRoomExists) {
		t.Fatalf("creating a room in use: %v", err)
	}
	last.Leave("ttl", "b", enc("l:b"))
	time.Sleep(2 * o.EmptyRoomTTL)
	for i, n := range nodes {
		if _, err := n.Join("ttl", peer(fmt.Sprint("late", i)), &Recorder{}, enc("j")); !errors.Is(err, signaling.ErrRoomNotFound) {
			t.Errorf("node %d: joining a room empty past its delay: %v", i, err)
		}
	}
}

// resume: a Roaming registry's peer resumes on another node with its
// token: it gets what was sent to it meanwhile and what follows, the
// others see nothing, and the token is spent.
func resume(t *testing.T, newNodes New) {
	nodes := start(t, newNodes, defaults())
	if len(nodes) < 2 {
		t.Skip("a single node: resume is the signaling server's own")
	}
	ro := make([]signaling.Roaming, len(nodes))
	for i, n := range nodes {
		r, ok := n.(signaling.Roaming)
		if !ok {
			t.Skip("not a Roaming registry")
		}
		ro[i] = r
	}
	a, b := &Recorder{}, &Recorder{}
	if err := nodes[0].Create("resume", peer("a"), a); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].Join("resume", peer("b"), b, enc("j:b")); err != nil {
		t.Fatal(err)
	}
	token := ro[1].IssueToken("resume", "b")
	// a can address b once it has been told b joined.
	eventually(t, "a to hear b join", func() bool { return len(a.Msgs()) > 0 })
	if err := nodes[0].Send("resume", "b", enc("s:a:1")); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Update("resume", peer("a"), enc("u:a:2")); err != nil {
		t.Fatal(err)
	}
	to := ro[len(ro)-1]
	if len(ro) == 2 {
		to = ro[0]
	}
	b2 := &Recorder{}
	queued, err := to.Takeover(token, func(room string, p signaling.Peer) signaling.Member {
		if room != "resume" || p.ID != "b" {
			t.Errorf("newMember(%q, %v)", room, p)
		}
		return b2
	})
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if err := nodes[0].Send("resume", "b", enc("s:a:3")); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Update("resume", peer("a"), enc("u:a:4")); err != nil {
		t.Fatal(err)
	}
	want := []string{"s:a:1", "u:a:2", "s:a:3", "u:a:4"}
	stream := func() []string {
		out := b.Msgs()
		for _, q := range queued {
			out = append(out, dec(q))
		}
		return append(out, b2.Msgs()...)
	}
	eventually(t, "b to get everything", func() bool { return len(stream()) >= len(want) })
	if got := stream(); !slices.Equal(got, want) {
		t.Fatalf("b got %v, want %v", got, want)
	}
	if got := a.Msgs(); !slices.Equal(got, []string{"j:b"}) {
		t.Errorf("a got %v: the move showed", got)
	}
	if _, err := ro[0].Takeover(token, func(string, signaling.Peer) signaling.Member { return &Recorder{} }); !errors.Is(err, signaling.ErrResumeFailed) {
		t.Errorf("a spent token: %v", err)
	}
}

// member is one peer of the model room.
type member struct {
	id     string
	node   int
	recs   []*Recorder     // its ends, oldest first (it moves on resume)
	queued [][]string      // what each takeover returned, before recs[i+1]
	want   []string        // the model's stream for it
	known  map[string]bool // the peers in the roster it joined with
}

// knows tells whether m has been told of peer id: a peer can address only
// those (a relay to one its node has not heard of yet is refused).
func (m *member) knows(id string) bool {
	return m.known[id] || slices.Contains(m.got(), "j:"+id)
}

func (m *member) got() []string {
	var out []string
	for i, r := range m.recs {
		if i > 0 {
			out = append(out, m.queued[i-1]...)
		}
		out = append(out, r.Msgs()...)
	}
	return out
}

// model runs random joins, leaves, updates, relays and (on a Roaming
// registry) resumes across the nodes, one at a time, and compares every
// member's stream with the sequential model's: the room's events exactly,
// and each sender's messages (events and relays alike) in the order sent.
// A relay is not ordered against other senders' events its sender's node
// had not seen: the contract does not promise that.
func model(t *testing.T, newNodes New, seed uint64) {
	nodes := start(t, newNodes, defaults())
	var roaming []signaling.Roaming
	for _, n := range nodes {
		if r, ok := n.(signaling.Roaming); ok && len(nodes) > 1 {
			roaming = append(roaming, r)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	const room = "model"
	first := &member{id: "m0", node: 0, recs: []*Recorder{{}}}
	if err := nodes[0].Create(room, peer(first.id), first.recs[0]); err != nil {
		t.Fatal(err)
	}
	members := []*member{first}
	all := []*member{first}
	tell := func(except string, msg string) {
		for _, m := range members {
			if m.id != except {
				m.want = append(m.want, msg)
			}
		}
	}
	next := 1
	for step := range 100 {
		switch op := rng.IntN(10); {
		case op < 2 && len(members) < 8: // join
			m := &member{id: fmt.Sprint("m", next), node: rng.IntN(len(nodes)), recs: []*Recorder{{}}}
			next++
			msg := "j:" + m.id
			roster, err := nodes[m.node].Join(room, peer(m.id), m.recs[0], enc(msg))
			if err != nil {
				t.Fatalf("step %d: join: %v", step, err)
			}
			m.known = map[string]bool{}
			for _, p := range roster {
				m.known[p.ID] = true
			}
			tell(m.id, msg)
			members = append(members, m)
			all = append(all, m)
		case op < 3 && len(members) > 1: // leave
			i := rng.IntN(len(members))
			m := members[i]
			members = slices.Delete(members, i, i+1)
			msg := "l:" + m.id
			nodes[m.node].Leave(room, m.id, enc(msg))
			tell(m.id, msg)
		case op < 6: // update
			m := members[rng.IntN(len(members))]
			msg := fmt.Sprintf("u:%s:%d", m.id, step)
			if err := nodes[m.node].Update(room, peer(m.id), enc(msg)); err != nil {
				t.Fatalf("step %d: update: %v", step, err)
			}
			tell(m.id, msg)
		case op < 9 && len(members) > 1: // relay
			a, b := members[rng.IntN(len(members))], members[rng.IntN(len(members))]
			if a == b {
				continue
			}
			eventually(t, a.id+" to hear of "+b.id, func() bool { return a.knows(b.id) })
			msg := fmt.Sprintf("s:%s:%d", a.id, step)
			if err := nodes[a.node].Send(room, b.id, enc(msg)); err != nil {
				t.Fatalf("step %d: send: %v", step, err)
			}
			b.want = append(b.want, msg)
		case len(roaming) > 0: // resume on another node
			m := members[rng.IntN(len(members))]
			token := roaming[m.node].IssueToken(room, m.id)
			to := (m.node + 1 + rng.IntN(len(nodes)-1)) % len(nodes)
			rec := &Recorder{}
			queued, err := roaming[to].Takeover(token, func(string, signaling.Peer) signaling.Member { return rec })
			if err != nil {
				t.Fatalf("step %d: takeover: %v", step, err)
			}
			var q []string
			for _, b := range queued {
				q = append(q, dec(b))
			}
			m.node, m.recs, m.queued = to, append(m.recs, rec), append(m.queued, q)
		}
	}
	for _, m := range all {
		for deadline := time.Now().Add(waitLimit); len(m.got()) < len(m.want) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		got := m.got()
		if g, w := events(got), events(m.want); !slices.Equal(g, w) {
			t.Errorf("%s's room events:\n got %v\nwant %v", m.id, g, w)
		}
		senders := map[string]bool{}
		for _, s := range m.want {
			senders[sender(s)] = true
		}
		for s := range senders {
			if g, w := from(got, s), from(m.want, s); !slices.Equal(g, w) {
				t.Errorf("%s's messages from %s:\n got %v\nwant %v", m.id, s, g, w)
			}
		}
		if len(got) != len(m.want) {
			t.Errorf("%s got %d messages, want %d (it moved %d times)", m.id, len(got), len(m.want), len(m.recs)-1)
		}
	}
}

// sender is who a model message is from: j:id, l:id, u:id:n, s:id:n.
func sender(msg string) string {
	_, rest, _ := strings.Cut(msg, ":")
	id, _, _ := strings.Cut(rest, ":")
	return id
}

func events(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if !strings.HasPrefix(m, "s:") {
			out = append(out, m)
		}
	}
	return out
}

func from(msgs []string, id string) []string {
	var out []string
	for _, m := range msgs {
		if sender(m) == id {
			out = append(out, m)
		}
	}
	return out
}

func only(msgs []string, prefix string) []string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func without(msgs []string, prefix string) []string {
	var out []string
	for _, m := range msgs {
		if !strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}
