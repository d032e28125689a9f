package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// view is the roster a peer has been told: its joined message's, then
// every peer-joined, peer-left and state applied in order.
type view struct {
	peers map[string]string // id -> name
	errs  []string          // events that contradict the view
}

func viewOf(joined msg, msgs []msg) view {
	v := view{peers: map[string]string{}}
	for _, p := range joined["peers"].([]any) {
		p := p.(map[string]any)
		v.peers[p["id"].(string)] = p["name"].(string)
	}
	for _, m := range msgs {
		switch m.str("type") {
		case "peer-joined":
			p := m["peer"].(map[string]any)
			id := p["id"].(string)
			if _, ok := v.peers[id]; ok {
				v.errs = append(v.errs, "joined twice: "+id)
			}
			v.peers[id] = p["name"].(string)
		case "peer-left":
			if _, ok := v.peers[m.str("id")]; !ok {
				v.errs = append(v.errs, "left without being there: "+m.str("id"))
			}
			delete(v.peers, m.str("id"))
		case "state":
			if _, ok := v.peers[m.str("from")]; !ok {
				v.errs = append(v.errs, "state of a stranger: "+m.str("from"))
			}
			v.peers[m.str("from")] = m.str("name")
		}
	}
	return v
}

// TestChaosNATSRestart: three nodes, one room; talkers on each node send
// state changes and candidates while others join, relay and leave on every
// node, and NATS is restarted in the middle. Afterwards every node has the
// same roster, every peer's view (its roster plus the events it was told)
// is that roster, no event contradicted its view, and each sender's
// messages arrived in the order sent, none twice. While NATS is down a
// room spanning nodes refuses joins and remote relays ("unavailable"), and
// a relay to a churner that has left is refused ("unknown-peer"): no other
// error is allowed.
func TestChaosNATSRestart(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.MessageRate, sc.MessageBurst = 10_000, 100_000
	sc.MaxPeersPerRoom = 50
	sc.MaxConnsPerIP = 1000 // every client is 127.0.0.1
	nodes := []*node{startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc), startNode(t, "n3", sc, cc)}

	type peer struct {
		c      *client
		joined msg
		rec    *recorder
		node   *node
	}
	var mu sync.Mutex
	var stayers []*peer              // peers still in the room at the end
	leftAt := map[string]time.Time{} // when churners sent their leave
	var room string
	var talkers []*peer
	for i, n := range nodes {
		c := n.dial(t)
		j := c.join(room, fmt.Sprint("T", i))
		room = c.room
		p := &peer{c: c, joined: j, rec: &recorder{}, node: n}
		p.rec.record(c)
		talkers = append(talkers, p)
	}
	stayers = append(stayers, talkers...)
	ids := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, p := range stayers {
			out = append(out, p.c.id)
		}
		return out
	}

	const steps = 80
	var stop atomic.Bool
	var wg sync.WaitGroup
	for ti, p := range talkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(ti), 7))
			for k := 1; k <= steps; k++ {
				if k%4 == 0 {
					p.c.send(msg{"type": "state", "name": fmt.Sprintf("T-%d", k)})
				} else if all := ids(); len(all) > 1 {
					to := all[rng.IntN(len(all))]
					if to != p.c.id && told(p.joined, p.rec.snapshot(), to) {
						p.c.send(msg{"type": "candidate", "to": to, "candidate": msg{"candidate": strconv.Itoa(k)}})
					}
				}
				time.Sleep(time.Duration(2+rng.IntN(8)) * time.Millisecond)
			}
		}()
	}
	var joins, refused atomic.Int64
	for ni, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(ni), 11))
			for i := 0; !stop.Load() && i < 40; i++ {
				c := n.dial(t)
				c.send(msg{"type": "join", "room": room, "name": fmt.Sprintf("C%d-%d", ni, i)})
				j, err := c.next()
				if err != nil {
					t.Errorf("churn join: %v", err)
					return
				}
				if j.str("type") == "error" {
					if j.str("code") != "unavailable" {
						t.Errorf("churn join refused: %v", j)
					}
					refused.Add(1)
					c.ws.Close()
					time.Sleep(30 * time.Millisecond)
					continue
				}
				joins.Add(1)
				c.id = j.str("id")
				if known := peerIDs(j); len(known) > 0 && rng.IntN(2) == 0 {
					c.send(msg{"type": "candidate", "to": known[rng.IntN(len(known))], "candidate": msg{"candidate": "0"}})
				}
				if i%5 == 4 { // some stay to the end
					p := &peer{c: c, joined: j, rec: &recorder{}, node: n}
					p.rec.record(c)
					mu.Lock()
					stayers = append(stayers, p)
					mu.Unlock()
					continue
				}
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
				mu.Lock()
				leftAt[c.id] = time.Now()
				mu.Unlock()
				c.send(msg{"type": "leave"})
				c.expectClosed()
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	ns.stop()
	for _, n := range nodes {
		waitUntil(t, n.name+" to notice the outage", func() bool { return !n.reg.Status().Connected })
	}
	time.Sleep(400 * time.Millisecond)
	ns.start()
	for _, n := range nodes {
		waitUntil(t, n.name+" to heal", func() bool {
			ok, _ := n.reg.Healthy()
			return ok && n.reg.Status().Unsynced == 0
		})
	}
	time.Sleep(300 * time.Millisecond) // the storm goes on after the restart
	stop.Store(true)
	wg.Wait()

	// The end: each talker's last state; then everyone must agree.
	for _, p := range talkers {
		p.c.send(msg{"type": "state", "name": "T-end"})
	}
	want := ids()
	slices.Sort(want)
	var roster []signaling.Peer
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				ps, err := n.reg.Roster(room)
				t.Logf("%s's roster: %v %v (want ids %v)", n.name, ps, err, want)
			}
		}
	})
	waitUntil(t, "every node to have the same roster", func() bool {
		var first []signaling.Peer
		for i, n := range nodes {
			ps, err := n.reg.Roster(room)
			if err != nil {
				return false
			}
			if i == 0 {
				first = ps
			} else if !slices.Equal(ps, first) {
				return false
			}
		}
		var got []string
		for _, p := range first {
			got = append(got, p.ID)
			for _, tk := range talkers {
				if p.ID == tk.c.id && p.Name != "T-end" {
					return false // its last state is not everywhere yet
				}
			}
		}
		slices.Sort(got)
		roster = first
		return slices.Equal(got, want)
	})
	names := map[string]string{}
	for _, p := range roster {
		names[p.ID] = p.Name
	}
	mu.Lock()
	all := slices.Clone(stayers)
	mu.Unlock()
	for _, p := range all {
		id := p.c.id
		settled := func() bool {
			v := viewOf(p.joined, p.rec.snapshot())
			return len(v.peers) == len(names)-1 && maps(v.peers, names, id)
		}
		deadline := time.Now().Add(waitLimit)
		for !settled() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !settled() {
			v := viewOf(p.joined, p.rec.snapshot())
			t.Fatalf("%s's view (on %s) did not settle: %v, want %v without it (joined with %v; %d messages since)",
				id, p.node.name, v.peers, names, peerIDs(p.joined), len(p.rec.snapshot()))
		}
		msgs, ats := p.rec.snapshotAt()
		v := viewOf(p.joined, msgs)
		for _, e := range v.errs {
			t.Errorf("%s (on %s): %s", id, p.node.name, e)
		}
		steps := map[string][]int{}
		for i, m := range msgs {
			gone, left := leftAt[unknownPeer(m)]
			switch {
			case m.str("type") != "error":
			case m.str("code") == "unknown-peer" && left && gone.Before(ats[i]):
				// A churner staying on addressed one from its roster
				// that had sent its leave by the time the refusal came:
				// refused, as on a single node.
			case m.str("code") != "unavailable" || m.str("refType") == "state":
				t.Errorf("%s got %v", id, m)
			}
			if from, k, ok := senderStep(m); ok && m.str("name") != "T-end" {
				steps[from] = append(steps[from], k)
			}
		}
		for from, ks := range steps {
			if !slices.IsSorted(ks) || len(slices.Compact(slices.Clone(ks))) != len(ks) {
				t.Errorf("%s got %s's messages out of order or twice: %v", id, from, ks)
			}
		}
	}
	var resyncs int64
	for _, n := range nodes {
		resyncs += n.reg.Status().Resyncs
	}
	t.Logf("joins %d, refused %d, resyncs %d", joins.Load(), refused.Load(), resyncs)
}

// unknownPeer is the peer an unknown-peer error names.
func unknownPeer(m msg) string {
	_, rest, _ := strings.Cut(m.str("message"), `"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// told tells whether a peer has been told of id (in the roster it joined
// with, or a peer-joined since): it can address only those.
func told(joined msg, msgs []msg, id string) bool {
	if slices.Contains(peerIDs(joined), id) {
		return true
	}
	for _, m := range msgs {
		if k, _ := roomEvent(m); k == "J:"+id {
			return true
		}
	}
	return false
}

// maps tells whether got is want without self.
func maps(got, want map[string]string, self string) bool {
	for id, name := range want {
		if id != self && got[id] != name {
			return false
		}
	}
	return true
}
