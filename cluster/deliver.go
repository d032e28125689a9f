package cluster

import (
	"math"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// This file is the per-room sequencer: how room events and relayed
// messages reach this node's peers (docs/cluster.md, "Delivery").
//
// A room's events are numbered by its record (record.Seq); each local end
// has a cursor (local.seq), the last event delivered to it, and gets the
// later ones in order, once, from the record's log: whether the watcher
// brought every revision or skipped some, whether this node wrote the
// change itself, or the peer resumed here from another node's cursor. A
// relayed message carries the last event its sender's node had applied and
// waits behind the events its recipient lacks; since a remote relay is
// acknowledged only once the receiving node holds it, a sender's later
// events cannot overtake it.

// applyLocked moves rm to next (revision rev) and delivers the events
// between them to this node's peers. rev is 0 for a change made here while
// NATS is down.
func (r *Registry) applyLocked(rm *room, next record, rev uint64) {
	prev := rm.rec
	var lost []string
	if rev != 0 {
		// Our own peers missing from the bucket (removed as dead while we
		// were cut off) come back; ours served elsewhere were taken over.
		for id, l := range rm.local {
			if l.fwd != "" || l.leaving || l.pending || l.rev >= rev {
				continue
			}
			i := next.find(id)
			switch {
			case i < 0:
				if j := prev.find(id); j >= 0 && prev.Members[j].Node == r.node {
					next = next.clone()
					next.Members = append(next.Members, prev.Members[j])
					next.Empty = time.Time{}
					rm.dirty = true
					rm.gen++
				}
			case next.Members[i].Node != r.node:
				lost = append(lost, id)
			}
		}
		rm.rev = rev
	}
	rm.rec = next
	for _, id := range lost {
		l := rm.local[id]
		delete(rm.local, id)
		go r.callHandOff(l.m) // not under our lock: it closes a connection
		r.log.Info("peer taken over by another node while we were cut off", "peer", id)
	}

	// The events from the log when it reaches back to prev; else (the log
	// is too short, the room was merged after an outage or made anew) the
	// difference of the rosters.
	var evs []event
	exact := false
	if next.Seq > prev.Seq {
		evs, exact = next.since(prev.Seq)
	}
	var changes []change
	if !exact {
		changes = diff(prev, next)
	}
	for _, l := range rm.local {
		if l.pending && l.early != nil && next.Seq != prev.Seq {
			l.keepEarly(evs, exact)
		}
	}
	told := false
	for _, mm := range next.Members {
		id := mm.Peer.ID
		l := rm.local[id]
		if l == nil || l.leaving || l.pending || l.fwd != "" || (rev != 0 && rev <= l.rev) || mm.Node != r.node {
			continue // not ours to tell, or not yet
		}
		if exact {
			r.deliverEventsLocked(l, id, evs, rm.rev)
		} else {
			l.seq = next.Seq
			r.deliverChangesLocked(l, id, changes, rm.rev)
		}
		l.seq = next.Seq
		r.releaseLocked(l, rm.rev, false)
		told = true
	}
	switch {
	case !told:
	case exact && len(evs) > 1:
		r.stats.gaps.Add(1)
	case !exact && len(changes) > 0:
		r.stats.resyncs.Add(1)
	}
}

// deliverEventsLocked gives l, in order, the events of evs after its
// cursor (not its own), each after the relayed messages held for it whose
// sender had not seen that event. rev is the room's revision applied.
func (r *Registry) deliverEventsLocked(l *local, id string, evs []event, rev uint64) int {
	n := 0
	for _, ev := range evs {
		if ev.Seq <= l.seq {
			continue
		}
		l.seq = ev.Seq - 1
		r.releaseLocked(l, rev, false)
		if ev.Peer != id && len(ev.Msg) > 0 {
			l.m.Deliver(ev.Msg)
			n++
		}
		l.seq = ev.Seq
	}
	return n
}

// deliverChangesLocked gives l a resync's changes (not its own) and the
// relayed messages held for it that revision rev releases: each held
// message after the changes its sender's node had seen (member.At), before
// the others, so a sender's later state does not overtake its relay.
func (r *Registry) deliverChangesLocked(l *local, id string, changes []change, rev uint64) {
	told := make([]bool, len(changes))
	tell := func(i int) {
		told[i] = true
		if changes[i].peer != id {
			l.m.Deliver(changes[i].msg)
		}
	}
	n := 0
	for ; n < len(l.held); n++ {
		h := l.held[n]
		if !h.due(l.seq, rev) {
			break
		}
		for i, ch := range changes {
			if !told[i] && ch.at != 0 && ch.at <= h.rev {
				tell(i)
			}
		}
		l.m.Deliver(h.msg)
	}
	dropHeld(l, n)
	for i := range changes {
		if !told[i] {
			tell(i)
		}
	}
}

// due tells whether h may go to a peer that has had event seq, at room
// revision rev: its sender's node had seen no more.
func (h held) due(seq, rev uint64) bool { return h.need <= seq && h.rev <= rev }

// dropHeld forgets l's first n held messages, delivered.
func dropHeld(l *local, n int) {
	if n > 0 {
		rest := copy(l.held, l.held[n:])
		clear(l.held[rest:])
		l.held = l.held[:rest]
	}
}

// releaseLocked delivers, in arrival order, the held messages whose
// events l has had and whose room revision has been applied here (rev;
// with expired, also those held for holdFor): nothing overtakes a held
// message.
func (r *Registry) releaseLocked(l *local, rev uint64, expired bool) {
	i := 0
	for ; i < len(l.held); i++ {
		h := l.held[i]
		if !h.due(l.seq, rev) && !(expired && time.Since(h.at) >= holdFor) {
			break
		}
		l.m.Deliver(h.msg)
	}
	dropHeld(l, i)
}

// deliverRelayLocked gives a relayed message to a local end of rm now,
// or holds it until l has had event need and rm is at revision rev (the
// sender's node's view: event numbers alone cannot be compared across an
// outage, when each node numbered its own), and always while its place is
// being written. A peer with too much held gets it all now, in order.
func (r *Registry) deliverRelayLocked(rm *room, l *local, msg []byte, need, rev uint64) {
	if l.pending || need > l.seq || rev > rm.rev || len(l.held) > 0 {
		if len(l.held) < maxHeld {
			r.stats.held.Add(1)
			l.held = append(l.held, held{msg: msg, need: need, rev: rev, at: time.Now()})
			return
		}
		if !l.pending {
			seq := l.seq
			l.seq = math.MaxUint64
			r.releaseLocked(l, math.MaxUint64, false)
			l.seq = seq
		}
	}
	l.m.Deliver(msg)
}

// arriveLocked registers l, the local end of a peer whose place is being
// written (a join or a resume): relays for it wait, events are caught up
// once it is registered.
func (r *Registry) arriveLocked(rm *room, id string, m signaling.Member) *local {
	l := &local{m: m, pending: true}
	rm.local[id] = l
	return l
}

// departLocked forgets l, a local end whose place could not be written.
func (r *Registry) departLocked(key, id string, l *local) {
	rm := r.rooms[key]
	if rm == nil || rm.local[id] != l {
		return
	}
	delete(rm.local, id)
	if len(rm.local) == 0 && rm.rev == 0 && !rm.dirty && len(rm.rec.Members) == 0 {
		delete(r.rooms, key) // known only for this attempt
	}
}

// registerLocked makes l (nil: a new one) the local end of peer id, its
// place written at revision rev, having had the room's events up to
// cursor: it gets the later ones rm has applied, then what was held for
// it. It returns how many events were replayed, and false when the log no
// longer reached back to cursor (then it starts from rm's roster).
func (r *Registry) registerLocked(rm *room, id string, l *local, m signaling.Member, rev, cursor uint64) (int, bool) {
	if l == nil {
		l = &local{}
	}
	rm.local[id] = l
	l.m, l.rev, l.pending, l.fwd, l.from, l.leaving, l.handed = m, rev, false, "", "", false, nil
	n, ok := r.catchUpLocked(rm, id, l, cursor)
	l.early = nil
	r.releaseLocked(l, rm.rev, false)
	return n, ok
}

// catchUpLocked delivers to l the events rm has applied after cursor:
// from the record's log, or, for a peer taken over whose old node's cursor
// the log no longer reaches, from the events kept while it was.
func (r *Registry) catchUpLocked(rm *room, id string, l *local, cursor uint64) (int, bool) {
	l.seq = cursor
	if cursor >= rm.rec.Seq {
		return 0, true
	}
	evs, ok := rm.rec.since(cursor)
	if !ok && l.early != nil {
		evs, ok = joinEvents(l.early, rm.rec.Log, cursor, rm.rec.Seq)
	}
	if !ok {
		r.stats.resyncs.Add(1)
		l.seq = rm.rec.Seq
		return 0, false
	}
	return r.deliverEventsLocked(l, id, evs, rm.rev), true
}

// adoptLocked brings rm up to a record this node just wrote (or read), if
// it is newer than rm's copy; the watcher will bring the revisions between
// them, and skip them.
func (r *Registry) adoptLocked(rm *room, after record, rev uint64) {
	if rev > rm.rev && !rm.dirty {
		r.applyLocked(rm, after, rev)
	}
	rm.lastWrite = max(rm.lastWrite, rev)
}

// keepEarly adds what one applied record announced to the events kept for
// a peer being taken over: evs when exact, else (a resync: the events are
// not known) a break, after which only later events are kept.
func (l *local) keepEarly(evs []event, exact bool) {
	if !exact {
		l.early = l.early[:0]
		return
	}
	for _, ev := range evs {
		if n := len(l.early); n == 0 || ev.Seq > l.early[n-1].Seq {
			l.early = append(l.early, ev)
		}
	}
	if len(l.early) > maxEarly {
		// The oldest quarter goes at once, not one copy per event.
		l.early = append(l.early[:0:0], l.early[len(l.early)-maxEarly*3/4:]...)
	}
}

// joinEvents returns the events after cursor up to last from early then
// log, if together they hold every one of them, in order.
func joinEvents(early, log []event, cursor, last uint64) ([]event, bool) {
	var out []event
	next := cursor + 1
	for _, part := range [][]event{early, log} {
		for _, ev := range part {
			switch {
			case ev.Seq < next:
			case ev.Seq == next:
				out = append(out, ev)
				next++
			default:
				return nil, false
			}
		}
	}
	return out, next == last+1
}
