package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps everything one peer receives, across its connections.
type recorder struct {
	mu   sync.Mutex
	msgs []msg
	at   []time.Time   // when each of msgs arrived
	done chan struct{} // closed when the current connection ends
}

// record reads c until its connection ends.
func (rc *recorder) record(c *client) {
	rc.mu.Lock()
	rc.done = make(chan struct{})
	done := rc.done
	rc.mu.Unlock()
	go func() {
		defer close(done)
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			rc.mu.Lock()
			rc.msgs = append(rc.msgs, m)
			rc.at = append(rc.at, time.Now())
			rc.mu.Unlock()
		}
	}()
}

// snapshotAt returns what arrived and when.
func (rc *recorder) snapshotAt() ([]msg, []time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.msgs), slices.Clone(rc.at)
}

func (rc *recorder) snapshot() []msg {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.msgs)
}

func (rc *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rc.done:
	case <-time.After(waitLimit):
		t.Fatal("connection did not end")
	}
}

// roomEvent names a room event and the peer it is about ("" if m is not one).
func roomEvent(m msg) (key, about string) {
	switch m.str("type") {
	case "peer-joined":
		id, _ := m["peer"].(map[string]any)["id"].(string)
		return "J:" + id, id
	case "peer-left":
		return "L:" + m.str("id"), m.str("id")
	case "state":
		return "S:" + m.str("from") + ":" + m.str("name"), m.str("from")
	}
	return "", ""
}

// senderStep is the step number a talker put in a message: its state's
// name "<label>-<k>" or its candidate "<k>".
func senderStep(m msg) (from string, k int, ok bool) {
	switch m.str("type") {
	case "state":
		name := m.str("name")
		k, err := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
		return m.str("from"), k, err == nil
	case "candidate":
		c, _ := m["candidate"].(map[string]any)
		s, _ := c["candidate"].(string)
		k, err := strconv.Atoi(s)
		return m.str("from"), k, err == nil
	}
	return "", 0, false
}

// checkContract asserts docs/cluster.md's delivery contract on what the
// peers received: w (who sends nothing and stays) has the room's order;
// every other peer has exactly that order from its own join on, without
// its own events; and each sender's messages (state and relays alike)
// reach each peer in the order sent, relays all of them.
func checkContract(t *testing.T, w *recorder, peers map[string]*recorder, relaysTo map[[2]string][]int) {
	t.Helper()
	var order []string
	about := map[string]string{}
	for _, m := range w.snapshot() {
		if m.str("type") == "error" {
			t.Errorf("witness got %v", m)
		}
		if k, p := roomEvent(m); k != "" {
			order = append(order, k)
			about[k] = p
		}
	}
	if len(order) == 0 {
		t.Fatal("the witness saw no events")
	}
	for id, rc := range peers {
		got := []string{}
		steps := map[string][]int{}
		for _, m := range rc.snapshot() {
			if m.str("type") == "error" {
				t.Errorf("%s got %v", id, m)
			}
			if k, _ := roomEvent(m); k != "" {
				got = append(got, k)
			}
			if from, k, ok := senderStep(m); ok {
				steps[from] = append(steps[from], k)
			}
		}
		start := slices.Index(order, "J:"+id)
		if start < 0 {
			t.Fatalf("the witness never saw %s join", id)
		}
		want := []string{}
		for _, k := range order[start+1:] {
			if about[k] != id {
				want = append(want, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s's room events differ from the room's order:\n got %v\nwant %v", id, got, want)
		}
		for from, ks := range steps {
			if !slices.IsSorted(ks) || len(slices.Compact(slices.Clone(ks))) != len(ks) {
				t.Errorf("%s got %s's messages out of order: %v", id, from, ks)
			}
		}
		for from := range peers {
			var got []int
			for _, m := range rc.snapshot() {
				if m.str("type") == "candidate" && m.str("from") == from {
					_, k, _ := senderStep(m)
					got = append(got, k)
				}
			}
			if sent := relaysTo[[2]string{from, id}]; !slices.Equal(got, sent) {
				t.Errorf("%s got candidates %v from %s, sent %v", id, got, from, sent)
			}
		}
	}
}

// TestDeliveryContractAcrossHandOver: three talkers on three nodes send
// state changes and candidates to each other while others join and leave;
// meanwhile one talker's connection drops twice and it resumes on another
// live node each time. Every peer's received stream is checked against the
// room's order (a witness's) and each sender's order.
func TestDeliveryContractAcrossHandOver(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.MessageRate, sc.MessageBurst = 10_000, 100_000
	n1, n2, n3 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc), startNode(t, "n3", sc, cc)

	w := n1.dial(t)
	w.join("", "Witness")
	wrec := &recorder{}
	wrec.record(w)
	talkers := map[string]*client{}
	recs := map[string]*recorder{}
	var ids []string
	for i, n := range []*node{n1, n2, n3} {
		c := n.dial(t)
		c.join(w.room, fmt.Sprint("T", i))
		talkers[c.id], recs[c.id] = c, &recorder{}
		recs[c.id].record(c)
		ids = append(ids, c.id)
	}
	mover := ids[1] // on n2, alone there: n2 noticing its drop is countable
	// A talker addresses only the peers it has been told of.
	for i, id := range ids {
		waitUntil(t, id+" to hear the later talkers join", func() bool {
			joined := 0
			for _, m := range recs[id].snapshot() {
				if k, _ := roomEvent(m); slices.Contains(ids[i+1:], strings.TrimPrefix(k, "J:")) {
					joined++
				}
			}
			return joined == len(ids)-1-i
		})
	}

	const steps = 60
	var mu sync.Mutex
	relaysTo := map[[2]string][]int{}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(len(id)), uint64(id[0])))
			mu.Lock()
			c := talkers[id]
			mu.Unlock()
			for k := 1; k <= steps; k++ {
				if id == mover && (k == steps/3 || k == 2*steps/3) {
					to := n3
					if k > steps/2 {
						to = n1
					}
					c = handOver(t, c, recs[id], to, func() bool {
						if k < steps/2 {
							return n2.sig.Stats().Connections == 0
						}
						return true
					})
				}
				if k%3 == 0 {
					c.send(msg{"type": "state", "name": fmt.Sprintf("T-%d", k)})
				} else {
					to := ids[rng.IntN(len(ids))]
					if to == id {
						continue
					}
					mu.Lock()
					relaysTo[[2]string{id, to}] = append(relaysTo[[2]string{id, to}], k)
					mu.Unlock()
					c.send(msg{"type": "candidate", "to": to, "candidate": msg{"candidate": strconv.Itoa(k)}})
				}
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
			}
			// The end: sent after every candidate was acknowledged, so
			// each peer has them all once it has this.
			c.send(msg{"type": "state", "name": fmt.Sprintf("T-%d", steps+1)})
		}()
	}
	// Others come and go on the nodes without the mover.
	var churned []string
	for i := range 6 {
		n := []*node{n1, n3}[i%2]
		c := n.dial(t)
		c.join(w.room, fmt.Sprint("Churn", i))
		churned = append(churned, c.id)
		c.send(msg{"type": "leave"})
		c.expectClosed()
	}
	wg.Wait()

	// Every stream has every churner's leave (the last ones may still be
	// on their way when the talkers end) before the streams are compared.
	left := func(rc *recorder) func() bool {
		return func() bool {
			seen := map[string]bool{}
			for _, m := range rc.snapshot() {
				if k, about := roomEvent(m); strings.HasPrefix(k, "L:") {
					seen[about] = true
				}
			}
			for _, id := range churned {
				if !seen[id] {
					return false
				}
			}
			return true
		}
	}
	for id, rc := range recs {
		waitUntil(t, id+" to see the churners leave", left(rc))
	}
	waitUntil(t, "the witness to see the churners leave", left(wrec))

	// Everyone has seen everyone's end.
	for id, rc := range recs {
		waitUntil(t, id+" to see the ends", func() bool {
			ends := 0
			for _, m := range rc.snapshot() {
				if m.str("type") == "state" && m.str("name") == fmt.Sprintf("T-%d", steps+1) {
					ends++
				}
			}
			return ends == len(ids)-1
		})
	}
	waitUntil(t, "the witness to see the ends", func() bool {
		ends := 0
		for _, m := range wrec.snapshot() {
			if m.str("type") == "state" && m.str("name") == fmt.Sprintf("T-%d", steps+1) {
				ends++
			}
		}
		return ends == len(ids)
	})
	checkContract(t, wrec, recs, relaysTo)
	if t.Failed() {
		t.Logf("the mover was %s (n2 → n3 → n1)", mover)
	}
	if st := n3.reg.Status(); st.Replayed+n1.reg.Status().Replayed == 0 {
		t.Log("no event had to be replayed on a resume this time")
	}
}

// handOver drops c the way a lost network does on the way in only (the
// client still reads what the server sent), waits until ready, and resumes
// on node to; it returns the new connection, recorded by rc.
func handOver(t *testing.T, c *client, rc *recorder, to *node, ready func() bool) *client {
	_ = c.ws.NetConn().(*net.TCPConn).CloseWrite()
	rc.wait(t)
	waitUntil(t, "the old node to notice the drop", ready)
	c2 := to.dial(t)
	c2.send(msg{"type": "join", "resume": c.token})
	j := c2.expect("joined")
	if j.str("id") != c.id || j["resumed"] != true {
		t.Errorf("resume = %v", j)
	}
	c2.id, c2.room, c2.token = c.id, c.room, j.str("resumeToken")
	rc.record(c2)
	return c2
}
