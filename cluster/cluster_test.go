package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestCrossNodeCall: three nodes, one room, each client on its own node.
// Roster, offer/answer/candidate with server-stamped from, state, ICE
// servers on request, and leave all work across nodes.
func TestCrossNodeCall(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	n1, n2, n3 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc), startNode(t, "n3", sc, cc)

	a := n1.dial(t)
	a.join("", "Ada")
	b := n2.dial(t)
	jb := b.join(a.room, "Bob")
	if got := peerIDs(jb); !slices.Equal(got, []string{a.id}) {
		t.Fatalf("Bob's roster = %v, want [%s]", got, a.id)
	}
	if pj := a.expect("peer-joined"); pj["peer"].(map[string]any)["id"] != b.id {
		t.Fatalf("Ada saw %v", pj)
	}
	c := n3.dial(t)
	jc := c.join(a.room, "Cy")
	if got := peerIDs(jc); !slices.Equal(got, []string{a.id, b.id}) {
		t.Fatalf("Cy's roster = %v", got)
	}
	a.expect("peer-joined")
	b.expect("peer-joined")

	// Bob (newcomer rule) offers to Ada; she answers; candidates both ways.
	// A spoofed from is replaced by the server.
	b.send(msg{"type": "offer", "to": a.id, "from": c.id, "sdp": "v=0 offer"})
	if m := a.expect("offer"); m.str("from") != b.id || m.str("sdp") != "v=0 offer" {
		t.Fatalf("offer = %v", m)
	}
	a.send(msg{"type": "answer", "to": b.id, "sdp": "v=0 answer"})
	if m := b.expect("answer"); m.str("from") != a.id || m.str("sdp") != "v=0 answer" {
		t.Fatalf("answer = %v", m)
	}
	for i := range 5 {
		b.send(msg{"type": "candidate", "to": a.id, "candidate": msg{"candidate": fmt.Sprint("b", i)}})
	}
	for i := range 5 { // in order
		m := a.expect("candidate")
		if m.str("from") != b.id || m["candidate"].(map[string]any)["candidate"] != fmt.Sprint("b", i) {
			t.Fatalf("candidate %d = %v", i, m)
		}
	}
	c.send(msg{"type": "candidate", "to": a.id, "candidate": nil})
	if m := a.expect("candidate"); m.str("from") != c.id || m["candidate"] != nil {
		t.Fatalf("end of candidates = %v", m)
	}
	// Exactly the named peer: Bob got nothing of Cy's.
	b.alive()
	c.send(msg{"type": "offer", "to": "nobody", "sdp": "x"})
	c.expectError("unknown-peer")

	// State reaches everyone else, once.
	a.send(msg{"type": "state", "name": "Ada L.", "state": msg{"muted": true}})
	for _, cl := range []*client{b, c} {
		if m := cl.expect("state"); m.str("from") != a.id || m.str("name") != "Ada L." {
			t.Fatalf("state = %v", m)
		}
	}
	a.alive()

	// ICE servers come from each client's own node.
	b.send(msg{"type": "ice-servers"})
	b.expect("ice-servers")

	// A late joiner sees the state, then Bob leaves: the others see it.
	d := n1.dial(t)
	jd := d.join(a.room, "Di")
	if ps := jd["peers"].([]any); len(ps) != 3 || ps[0].(map[string]any)["name"] != "Ada L." {
		t.Fatalf("Di's roster = %v", ps)
	}
	for _, cl := range []*client{a, b, c} {
		cl.expect("peer-joined")
	}
	b.send(msg{"type": "leave"})
	for _, cl := range []*client{a, c, d} {
		if m := cl.expect("peer-left"); m.str("id") != b.id || m.str("reason") != "left" {
			t.Fatalf("peer-left = %v", m)
		}
	}
	if rooms, peers := n1.reg.Counts(); rooms != 1 || peers != 2 {
		t.Fatalf("n1 counts = %d rooms, %d peers", rooms, peers)
	}
	if ok, why := n2.reg.Healthy(); !ok {
		t.Fatalf("n2 unhealthy: %s", why)
	}
}

// TestRoomCapClusterWide: joins racing on different nodes for the last
// places of a room: exactly as many win as there are places.
func TestRoomCapClusterWide(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.MaxPeersPerRoom = 3
	nodes := []*node{startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc), startNode(t, "n3", sc, cc)}

	a := nodes[0].dial(t)
	a.join("", "Ada")
	var clients []*client
	for i := range 6 {
		clients = append(clients, nodes[i%3].dial(t))
	}
	results := make([]string, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cl.ws.WriteJSON(msg{"type": "join", "room": a.room, "name": fmt.Sprint("p", i)})
			m, err := cl.next()
			if err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = m.str("type") + "/" + m.str("code")
		}()
	}
	wg.Wait()
	joined, full := 0, 0
	for _, r := range results {
		switch r {
		case "joined/":
			joined++
		case "error/room-full":
			full++
		default:
			t.Errorf("unexpected result %q", r)
		}
	}
	if joined != 2 || full != 4 {
		t.Fatalf("joined %d, full %d; want 2 and 4 (%v)", joined, full, results)
	}
	a.expect("peer-joined")
	a.expect("peer-joined")
	a.alive()
}

// TestNodeDiesMidCall: Bob's node crashes; Bob resumes on another node
// with his token, keeps his id, and Ada never sees him leave.
func TestNodeDiesMidCall(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	n1, n2 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc)
	n3 := startNode(t, "n3", sc, cc)

	a := n1.dial(t)
	a.join("", "Ada")
	b := n2.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	b.send(msg{"type": "offer", "to": a.id, "sdp": "o"})
	a.expect("offer")

	n2.kill()
	b.expectClosed()

	b2 := n3.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	j := b2.expect("joined")
	if j["resumed"] != true || j.str("id") != b.id || j.str("room") != a.room {
		t.Fatalf("resumed joined = %v", j)
	}
	if ids := peerIDs(j); !slices.Equal(ids, []string{a.id}) {
		t.Fatalf("roster after resume = %v", ids)
	}
	// The call goes on: Ada's next message is Bob's, not a peer-left.
	b2.send(msg{"type": "candidate", "to": a.id, "candidate": msg{"candidate": "after"}})
	if m := a.expect("candidate"); m.str("from") != b.id {
		t.Fatalf("candidate = %v", m)
	}
	a.send(msg{"type": "answer", "to": b.id, "sdp": "a"})
	if m := b2.expect("answer"); m.str("from") != a.id {
		t.Fatalf("answer = %v", m)
	}
	// The old token is spent; the new one works (on yet another node).
	x := n1.dial(t)
	x.send(msg{"type": "join", "resume": b.token})
	x.expectError("resume-failed")
	if s := n3.sig.Stats(); s.Resumes != 1 {
		t.Fatalf("resumes on n3 = %d", s.Resumes)
	}
}

// TestResumeOnAnotherLiveNode: Bob's connection drops while his node lives;
// he resumes elsewhere and gets what was queued for him there, in order.
func TestResumeOnAnotherLiveNode(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	n1, n2, n3 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc), startNode(t, "n3", sc, cc)

	a := n1.dial(t)
	a.join("", "Ada")
	b := n2.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	b.cut()
	waitUntil(t, "n2 to notice the drop", func() bool { return n2.sig.Stats().Connections == 0 })
	a.send(msg{"type": "offer", "to": b.id, "sdp": "one"})
	a.send(msg{"type": "candidate", "to": b.id, "candidate": msg{"candidate": "two"}})
	a.send(msg{"type": "state", "state": msg{"muted": true}})
	a.alive()
	// The three are queued on n2 (relays travel over NATS: wait for them).
	waitUntil(t, "n2 to queue", func() bool { return n2.reg.Status().Received >= 2 })

	b2 := n3.dial(t)
	b2.send(msg{"type": "join", "resume": b.token})
	j := b2.expect("joined")
	if j.str("id") != b.id || j["resumed"] != true {
		t.Fatalf("joined = %v", j)
	}
	if m := b2.expect("offer"); m.str("sdp") != "one" {
		t.Fatalf("queued offer = %v", m)
	}
	b2.expect("candidate")
	b2.expect("state")
	b2.send(msg{"type": "answer", "to": a.id, "sdp": "ok"})
	if m := a.expect("answer"); m.str("from") != b.id {
		t.Fatalf("answer = %v", m)
	}
	if rooms, peers := n2.reg.Counts(); rooms != 0 || peers != 0 {
		t.Fatalf("n2 still holds %d rooms, %d peers", rooms, peers)
	}
}

// TestDeadNodePeersLeaveAfterGrace: a node dies and its peer does not come
// back: after the grace period the others see it gone.
func TestDeadNodePeersLeaveAfterGrace(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.ResumeGrace = time.Second
	n1, n2 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc)
	a := n1.dial(t)
	a.join("", "Ada")
	b := n2.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")

	n2.kill()
	m := a.expect("peer-left")
	if m.str("id") != b.id || m.str("reason") != "gone" {
		t.Fatalf("peer-left = %v", m)
	}
	if n1.reg.Status().Reaped != 1 {
		t.Fatalf("reaped = %d", n1.reg.Status().Reaped)
	}
}

// TestNATSOutage: NATS stops. Rooms whose members are all on one node go
// on (relay, state, joins, new rooms); a room spanning nodes says
// "unavailable"; health says why. NATS returns: everything heals, and the
// other node sees what happened meanwhile.
func TestNATSOutage(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	n1, n2 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc)

	// Room X lives on n1 only; room Y spans n1 and n2.
	a := n1.dial(t)
	a.join("", "Ada")
	b := n1.dial(t)
	b.join(a.room, "Bob")
	a.expect("peer-joined")
	c := n1.dial(t)
	c.join("", "Cy")
	d := n2.dial(t)
	d.join(c.room, "Di")
	c.expect("peer-joined")

	ns.stop()
	waitUntil(t, "n1 to notice", func() bool { ok, _ := n1.reg.Healthy(); return !ok })
	waitUntil(t, "n2 to notice", func() bool { ok, _ := n2.reg.Healthy(); return !ok })

	a.send(msg{"type": "offer", "to": b.id, "sdp": "local"})
	if m := b.expect("offer"); m.str("from") != a.id {
		t.Fatalf("offer = %v", m)
	}
	b.send(msg{"type": "state", "state": msg{"cameraOff": true}})
	a.expect("state")
	e := n1.dial(t)
	if ids := peerIDs(e.join(a.room, "Eve")); !slices.Equal(ids, []string{a.id, b.id}) {
		t.Fatalf("Eve's roster = %v", ids)
	}
	a.expect("peer-joined")
	b.expect("peer-joined")
	f := n1.dial(t)
	f.join("", "Fay") // a new room, known only here for now

	c.send(msg{"type": "offer", "to": d.id, "sdp": "x"})
	c.expectError("unavailable")
	g := n1.dial(t)
	g.send(msg{"type": "join", "room": c.room, "name": "Gus"})
	g.expectError("unavailable")

	ns.start()
	waitUntil(t, "n1 to heal", func() bool { ok, _ := n1.reg.Healthy(); return ok && n1.reg.Status().Unsynced == 0 })
	waitUntil(t, "n2 to heal", func() bool { ok, _ := n2.reg.Healthy(); return ok })

	// Room Y works again across nodes.
	c.send(msg{"type": "offer", "to": d.id, "sdp": "again"})
	if m := d.expect("offer"); m.str("from") != c.id {
		t.Fatalf("offer = %v", m)
	}
	// What n1 did alone is now known to n2: Eve joins room X there and
	// sees everyone; Hal joins Fay's room, made during the outage.
	h := n2.dial(t)
	jh := h.join(a.room, "Hal")
	if ids := peerIDs(jh); !slices.Equal(ids, []string{a.id, b.id, e.id}) {
		t.Fatalf("Hal's roster = %v", ids)
	}
	for _, cl := range []*client{a, b, e} {
		cl.expect("peer-joined")
	}
	i := n2.dial(t)
	i.join(f.room, "Ida")
	f.expect("peer-joined")
	if n1.reg.Status().Reconnects == 0 {
		t.Fatal("no reconnect counted")
	}
}
