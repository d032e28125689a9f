package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamsync/streamsync/signaling"
)

// nodeSeen is another incarnation as heard from.
type nodeSeen struct {
	last   time.Time // last heartbeat
	url    string    // its public_url
	gone   bool      // said goodbye
	goneAt time.Time
}

type heartbeat struct {
	URL string `json:"url,omitempty"`
}

// beat tells the other nodes this one is alive.
func (r *Registry) beat() {
	if !r.nc.IsConnected() {
		return
	}
	b, _ := json.Marshal(heartbeat{URL: r.cfg.PublicURL})
	_ = r.nc.Publish(r.subject("hb", r.node), b)
}

func lastToken(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

func (r *Registry) onHeartbeat(m *nats.Msg) {
	inc := lastToken(m.Subject)
	if inc == r.node {
		return
	}
	var hb heartbeat
	_ = json.Unmarshal(m.Data, &hb)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.nodes[inc]
	if n == nil {
		n = &nodeSeen{}
		r.nodes[inc] = n
		r.log.Info("node joined", "other", inc, "url", hb.URL)
	}
	if n.gone {
		return // a late heartbeat after its goodbye
	}
	n.last, n.url = time.Now(), hb.URL
	delete(r.suspects, inc)
}

func (r *Registry) onBye(m *nats.Msg) {
	inc := lastToken(m.Subject)
	if inc == r.node {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.nodes[inc]
	if n == nil {
		n = &nodeSeen{}
		r.nodes[inc] = n
	}
	n.gone, n.goneAt = true, time.Now()
	r.log.Info("node left", "other", inc)
}

// deadSinceLocked tells whether incarnation inc is dead, and since when.
// One never heard from counts from when it was first noticed.
func (r *Registry) deadSinceLocked(inc string, now time.Time) (time.Time, bool) {
	n := r.nodes[inc]
	switch {
	case n == nil:
		first, ok := r.suspects[inc]
		if !ok {
			r.suspects[inc] = now
			first = now
		}
		return first, true
	case n.gone:
		return n.goneAt, true
	case now.Sub(n.last) > r.cfg.NodeTimeout:
		return n.last.Add(r.cfg.NodeTimeout), true
	}
	return time.Time{}, false
}

// reaperLocked: of the live nodes, the one with the smallest name removes
// dead nodes' peers and forgets empty rooms (compare-and-set makes a
// second one harmless, this just saves the work).
func (r *Registry) reaperLocked(now time.Time) bool {
	for inc, n := range r.nodes {
		if !n.gone && now.Sub(n.last) <= r.cfg.NodeTimeout && inc < r.node {
			return false
		}
	}
	return true
}

// sweep runs every half second or heartbeat: held messages and forwarding
// expire; the reaper removes peers of dead nodes after the resume grace
// period and forgets rooms empty for empty_room_ttl.
func (r *Registry) sweep() {
	now := time.Now()
	type reapJob struct {
		key   string
		peers map[string]string // peer -> dead node
	}
	type emptyJob struct {
		key   string
		rev   uint64
		since time.Time
	}
	var reaps []reapJob
	var forget []reapJob
	var forgetRev []uint64
	var empties []emptyJob // empty rooms not yet expired

	var ghosts []reapJob

	r.mu.Lock()
	up := !r.upSince.IsZero() && r.ready && now.Sub(r.upSince) >= r.cfg.NodeTimeout
	reaper := up && r.reaperLocked(now)
	for key, rm := range r.rooms {
		for id, l := range rm.local {
			switch {
			case l.fwd != "" && now.After(l.fwdUntil):
				delete(rm.local, id)
			case !l.pending && l.fwd == "":
				r.releaseLocked(l, rm.rev, true)
			}
		}
		if g := r.ghostsLocked(rm); g != nil {
			ghosts = append(ghosts, reapJob{key, g})
		}
		if !reaper || rm.dirty || rm.rev == 0 {
			continue
		}
		var dead map[string]string
		for _, mm := range rm.rec.Members {
			if mm.Node == r.node {
				continue
			}
			if since, isDead := r.deadSinceLocked(mm.Node, now); isDead && now.Sub(since) >= r.opts.ResumeGrace {
				if dead == nil {
					dead = map[string]string{}
				}
				dead[mm.Peer.ID] = mm.Node
			}
		}
		switch {
		case dead != nil:
			reaps = append(reaps, reapJob{key, dead})
		case len(rm.rec.Members) == 0 && len(rm.local) == 0 && !rm.rec.Empty.IsZero():
			if now.Sub(rm.rec.Empty) >= r.opts.EmptyRoomTTL {
				forget = append(forget, reapJob{key: key})
				forgetRev = append(forgetRev, rm.rev)
			} else {
				empties = append(empties, emptyJob{key, rm.rev, rm.rec.Empty})
			}
		}
	}
	// As in signaling.MemoryRegistry: past EmptyRoomsPerRoom × max_rooms
	// empty rooms, the oldest are forgotten first.
	if extra := len(empties) - signaling.EmptyRoomsPerRoom*r.opts.MaxRooms; extra > 0 {
		slices.SortFunc(empties, func(a, b emptyJob) int { return a.since.Compare(b.since) })
		for _, e := range empties[:extra] {
			forget = append(forget, reapJob{key: e.key})
			forgetRev = append(forgetRev, e.rev)
		}
	}
	for inc, n := range r.nodes {
		if (n.gone && now.Sub(n.goneAt) > r.opts.ResumeGrace+time.Minute) ||
			now.Sub(n.last) > r.opts.ResumeGrace+r.cfg.NodeTimeout+time.Minute {
			delete(r.nodes, inc)
		}
	}
	r.mu.Unlock()

	for _, j := range reaps {
		r.removeGone(j.key, j.peers)
	}
	for _, j := range ghosts {
		// Not in the run loop: a slow NATS must not hold its heartbeats.
		// A second removal of the same ghost is a no-op.
		go r.removeGone(j.key, j.peers)
	}
	if kv, err := r.bucket(); err == nil && len(forget) > 0 {
		ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
		for i, j := range forget {
			_ = kv.Delete(ctx, j.key, jetstream.LastRevision(forgetRev[i]))
		}
		cancel()
	}
}

// ghostsLocked returns the members rm's record says this node serves but
// this node does not know, two sweeps in a row: a join whose write was made
// though it seemed to fail (NATS went away, or confirmed too late), or a
// leave whose write failed. Nobody would ever remove them: this node is
// alive.
func (r *Registry) ghostsLocked(rm *room) map[string]string {
	if rm.dirty || rm.rev == 0 {
		rm.ghosts = nil
		return nil
	}
	var seen map[string]bool
	var out map[string]string
	for _, mm := range rm.rec.Members {
		id := mm.Peer.ID
		if mm.Node != r.node || rm.local[id] != nil {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[id] = true
		if rm.ghosts[id] {
			if out == nil {
				out = map[string]string{}
			}
			out[id] = r.node
			r.log.Warn("removing a member this node does not serve", "peer", id)
		}
	}
	rm.ghosts = seen
	return out
}

// removeGone removes peers still served by the given (dead) nodes from a
// room; the others see them leave with reason "gone".
func (r *Registry) removeGone(key string, peers map[string]string) {
	var removed []string
	_, after, _, rev, err := r.write(key, func(rec *record, exists bool) error {
		removed = removed[:0]
		if !exists {
			return errSkip
		}
		for id, node := range peers {
			if i := rec.find(id); i >= 0 && rec.Members[i].Node == node {
				rec.remove(i)
				removed = append(removed, id)
			}
		}
		if len(removed) == 0 {
			return errSkip
		}
		slices.Sort(removed)
		for _, id := range removed {
			rec.announce(event{Peer: id, Kind: evLeave, Msg: signaling.PeerGoneMessage(id)})
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errSkip) {
			r.noteErr("removing peers of a dead node", err)
		}
		return
	}
	r.stats.reaped.Add(int64(len(removed)))
	r.log.Info("removed peers nobody serves", "peers", removed)
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm := r.rooms[key]; rm != nil {
		r.adoptLocked(rm, after, rev)
	}
}

// reconcile writes back rooms changed here while NATS was unreachable,
// merged with what the other nodes did meanwhile (the watcher merges each
// bucket update into them; a write that loses a race is retried at the
// next sweep).
func (r *Registry) reconcile() {
	var keys []string
	r.mu.Lock()
	if r.ready {
		for key, rm := range r.rooms {
			if rm.dirty {
				keys = append(keys, key)
			}
		}
	}
	r.mu.Unlock()
	for _, key := range keys {
		if _, err := r.writeBack(key); err != nil {
			r.noteErr("writing back a room", err)
			return
		}
	}
}

// writeBack writes one room changed here while NATS was unreachable back
// to the bucket, merged. done is false when the bucket had moved on (the
// newer record is merged in: try again) or the room is still loading.
func (r *Registry) writeBack(key string) (done bool, err error) {
	kv, err := r.bucket()
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	rm := r.rooms[key]
	if rm == nil || !rm.dirty {
		r.mu.Unlock()
		return true, nil
	}
	if !r.ready {
		r.mu.Unlock()
		return false, nil
	}
	// The other nodes work out what changed: a new event number with no
	// log makes them resync from the difference.
	rec, base, gen := rm.rec.clone(), rm.rev, rm.gen
	r.mu.Unlock()
	rec.Ev, rec.Log, rec.W = nil, nil, ""
	rec.Seq++

	ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
	defer cancel()
	var rev uint64
	if base == 0 {
		rev, err = kv.Create(ctx, key, rec.encode())
	} else {
		rev, err = kv.Update(ctx, key, rec.encode(), base)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		// The bucket moved on: merge its record in now, not when the
		// watcher brings it.
		if e, gerr := kv.Get(ctx, key); gerr == nil {
			r.applyEntry(e, false)
		}
		return false, nil
	case err != nil:
		return false, err
	}
	r.stats.reconciled.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm := r.rooms[key]; rm != nil {
		if rm.rev == base {
			rm.rev = rev
			rm.lastWrite = max(rm.lastWrite, rev)
		}
		if rm.gen == gen {
			// Our peers have seen all of it: the bucket's copy is ours.
			rm.dirty = false
			if rm.rev == rev {
				rm.rec = rec
			}
			for _, l := range rm.local {
				if !l.pending {
					l.seq = max(l.seq, rm.rec.Seq)
				}
			}
		}
	}
	return true, nil
}

// syncRoom writes a room changed here during an outage back before
// anything else is written to it or relayed from it, so nothing this node
// does after the outage reaches the others before what it did during it.
// errSlow if it could not within writeFor.
func (r *Registry) syncRoom(key string) error {
	deadline := time.Now().Add(writeFor)
	for {
		done, err := r.writeBack(key)
		switch {
		case done:
			return nil
		case errors.Is(err, errDown):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("%w: writing back room %s: %v", errSlow, key, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LiveNodeURLs implements signaling.Directory: this node's public_url,
// then those of the other nodes alive now, sorted.
func (r *Registry) LiveNodeURLs() []string {
	now := time.Now()
	return r.nodeURLs(func(n *nodeSeen) bool { return !n.gone && now.Sub(n.last) <= r.cfg.NodeTimeout })
}

// MemberNodeURLs implements signaling.Directory: LiveNodeURLs and the
// public_url of nodes silent or gone for less than the resume grace (their
// pages may be resuming here).
func (r *Registry) MemberNodeURLs() []string {
	now := time.Now()
	return r.nodeURLs(func(n *nodeSeen) bool {
		end := n.last.Add(r.cfg.NodeTimeout)
		if n.gone {
			end = n.goneAt
		}
		return now.Sub(end) < r.opts.ResumeGrace
	})
}

func (r *Registry) nodeURLs(keep func(*nodeSeen) bool) []string {
	r.mu.Lock()
	var others []string
	for _, n := range r.nodes {
		if n.url != "" && !n.last.IsZero() && keep(n) {
			others = append(others, n.url)
		}
	}
	r.mu.Unlock()
	slices.Sort(others)
	others = slices.Compact(others)
	if r.cfg.PublicURL == "" {
		return others
	}
	return append([]string{r.cfg.PublicURL}, slices.DeleteFunc(others, func(u string) bool { return u == r.cfg.PublicURL })...)
}
