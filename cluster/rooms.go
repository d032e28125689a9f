package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamsync/streamsync/signaling"
)

// errSkip tells write that the change has nothing to do.
var errSkip = errors.New("nothing to change")

// errSlow means NATS is connected but did not confirm a write in time: it
// may or may not have been made. Unlike errDown it does not send the
// registry into its offline mode.
var errSlow = fmt.Errorf("%w: nats too slow", signaling.ErrUnavailable)

// writeFor bounds one write's retries while NATS is connected.
const writeFor = 3 * opTimeout

// write changes a room's record with compare-and-set, retrying on a
// conflicting write and on a slow answer. It starts from this node's copy
// when that is clean, else from the bucket. change sees exists=false for a
// room the bucket does not hold. It returns the record before and after
// and the revision written on (base) and made (rev). errDown when NATS is
// unreachable; errSlow when it is connected but no write was confirmed
// within writeFor.
//
// Every write is stamped with its own id (record.W, and the events it
// announces), so one that timed out but was made is recognised when the
// record is read again, and not made twice; after is then the record as
// read, before its copy.
func (r *Registry) write(key string, change func(rec *record, exists bool) error) (before, after record, base, rev uint64, err error) {
	kv, err := r.bucket()
	if err != nil {
		return
	}
	id := newWriteID()
	deadline := time.Now().Add(writeFor)
	failed := func(what string, err error) error {
		if !r.nc.IsConnected() {
			return fmt.Errorf("%w: %s: %w", errDown, what, err)
		}
		return fmt.Errorf("%w: %s: %w", errSlow, what, err)
	}

	r.mu.Lock()
	rm := r.rooms[key]
	dirty := rm != nil && rm.dirty
	r.mu.Unlock()
	if dirty {
		if err = r.syncRoom(key); err != nil {
			return
		}
	}
	r.mu.Lock()
	rm = r.rooms[key]
	fresh := rm == nil || rm.dirty || rm.rev == 0
	if !fresh {
		before, base = rm.rec.clone(), rm.rev
	}
	r.mu.Unlock()

	unsure := false // a write of ours may have been made
	for attempt := 0; ; attempt++ {
		if r.ctx.Err() != nil {
			return before, after, 0, 0, fmt.Errorf("%w: closing", errDown)
		}
		if attempt >= 64 {
			return before, after, 0, 0, fmt.Errorf("%w: write room %s: too much contention", errSlow, key)
		}
		exists := true
		if fresh {
			ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
			e, gerr := kv.Get(ctx, key)
			cancel()
			switch {
			case errors.Is(gerr, jetstream.ErrKeyNotFound):
				before, base, exists = record{}, 0, false
			case gerr != nil:
				if !r.nc.IsConnected() || time.Now().After(deadline) {
					return before, after, 0, 0, failed("get room", gerr)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			default:
				if before, err = decodeRecord(e.Value()); err != nil {
					return before, after, 0, 0, fmt.Errorf("decode room %s: %w", key, err)
				}
				base = e.Revision()
				if unsure && before.wrote(id) {
					return before, before.clone(), base, base, nil
				}
			}
		}
		after = before.clone()
		after.W = id
		if err = change(&after, exists); err != nil {
			if !fresh {
				fresh, err = true, nil // our copy may lag: decide on the bucket's
				continue
			}
			return
		}
		after.stampChanges(before, base)
		data := after.encode()
		ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
		if exists {
			rev, err = kv.Update(ctx, key, data, base)
		} else {
			rev, err = kv.Create(ctx, key, data)
		}
		cancel()
		switch {
		case err == nil:
			return before, after, base, rev, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			fresh = true // someone else wrote first: read again
		case !r.nc.IsConnected() || time.Now().After(deadline):
			return before, after, 0, 0, failed("write room", err)
		default:
			fresh, unsure = true, true // slow: see whether it was made
		}
	}
}

func newWriteID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// roomLocked returns this node's view of a room, making it if needed.
func (r *Registry) roomLocked(key, id string) *room {
	rm := r.rooms[key]
	if rm == nil {
		rm = &room{key: key, local: make(map[string]*local)}
		r.rooms[key] = rm
	}
	if id != "" {
		rm.id = id
	}
	return rm
}

// Create implements signaling.Registry.
func (r *Registry) Create(roomID string, p signaling.Peer, m signaling.Member) error {
	key := roomKey(roomID)
	if r.localRooms() >= r.opts.MaxRooms {
		return signaling.ErrTooManyRooms
	}
	rec := record{Members: []member{{Peer: p, Node: r.node}}}
	rec.announce(event{Peer: p.ID, Kind: evJoin})
	_, after, _, rev, err := r.write(key, func(cur *record, exists bool) error {
		// A record empty past empty_room_ttl is gone, as Join sees it, even
		// before the reaper deletes it: the signaling server opens a room
		// again by its signed id after a restart (docs/protocol.md §6).
		if exists && !cur.expired(r.opts.EmptyRoomTTL) {
			return signaling.ErrRoomExists
		}
		*cur = rec.clone()
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, errDown):
		if r.rooms[key] != nil {
			return signaling.ErrRoomExists
		}
		rm := r.roomLocked(key, roomID)
		rm.rec, rm.dirty = rec, true
		rm.gen++
		r.registerLocked(rm, p.ID, nil, m, 0, rec.Seq)
		return nil
	case err != nil:
		return err
	}
	rm := r.roomLocked(key, roomID)
	r.adoptLocked(rm, after, rev)
	r.registerLocked(rm, p.ID, nil, m, rev, after.Seq)
	return nil
}

func (r *Registry) localRooms() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rm := range r.rooms {
		for _, l := range rm.local {
			if l.fwd == "" && !l.pending {
				n++
				break
			}
		}
	}
	return n
}

// Join implements signaling.Registry. The room's size cap holds
// cluster-wide: the member is added by compare-and-set on the room's record.
// The joiner's end is registered first, so a relay that reaches this node
// as soon as the others see it join waits for it rather than being lost.
func (r *Registry) Join(roomID string, p signaling.Peer, m signaling.Member, announce []byte) ([]signaling.Peer, error) {
	key := roomKey(roomID)
	full := r.localRooms() >= r.opts.MaxRooms // an empty room would be one more in use
	joinTo := func(rec *record, exists bool) error {
		switch {
		case !exists:
			return signaling.ErrRoomNotFound
		case rec.expired(r.opts.EmptyRoomTTL):
			return signaling.ErrRoomNotFound
		case len(rec.Members) >= r.opts.MaxPeers:
			return signaling.ErrRoomFull
		case len(rec.Members) == 0 && full:
			return signaling.ErrTooManyRooms
		}
		if i := rec.find(p.ID); i >= 0 && rec.Members[i].Node == r.node {
			// This join's write was made already, though it was not
			// recognised as ours (an outage's merge clears the ids of
			// the writes): it is not made twice.
			return nil
		}
		rec.Members = append(rec.Members, member{Peer: p, Node: r.node})
		rec.Empty = time.Time{}
		rec.announce(event{Peer: p.ID, Kind: evJoin, Msg: announce})
		return nil
	}
	r.mu.Lock()
	arriving := r.arriveLocked(r.roomLocked(key, roomID), p.ID, m)
	r.mu.Unlock()
	_, after, _, rev, err := r.write(key, joinTo)
	if errors.Is(err, errSlow) {
		// It may have been made: take the place away again.
		go r.removeGone(key, map[string]string{p.ID: r.node})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.departLocked(key, p.ID, arriving)
	}
	if errors.Is(err, errDown) {
		// Cut off: only a room whose members are all here can grow.
		rm := r.rooms[key]
		if rm == nil || rm.rec.hasOther(r.node) {
			return nil, signaling.ErrUnavailable
		}
		if rm.rev == 0 && !rm.dirty && len(rm.rec.Members) == 0 {
			return nil, signaling.ErrUnavailable // never seen here
		}
		before := rm.rec
		after = rm.rec.clone()
		if err := joinTo(&after, true); err != nil {
			return nil, err
		}
		rm.id, rm.dirty = roomID, true
		rm.gen++
		r.applyLocked(rm, after, 0)
		r.registerLocked(rm, p.ID, nil, m, 0, after.Seq)
		return before.peers(), nil
	}
	if err != nil {
		return nil, err
	}
	rm := r.roomLocked(key, roomID)
	r.adoptLocked(rm, after, rev)
	if rm.local[p.ID] != arriving {
		arriving = nil // the room was forgotten and made anew meanwhile
	}
	// The roster is who joined before p (join order), p's cursor its own
	// join: the same as before.peers() and after.Seq, unless a write that
	// timed out was found made, with later changes on top.
	i := after.find(p.ID)
	roster := after.peers()[:max(i, 0)]
	r.registerLocked(rm, p.ID, arriving, m, rev, after.joinSeq(p.ID))
	return roster, nil
}

// Update implements signaling.Registry.
func (r *Registry) Update(roomID string, p signaling.Peer, msg []byte) error {
	key := roomKey(roomID)
	update := func(rec *record, exists bool) error {
		i := rec.find(p.ID)
		if !exists || i < 0 || rec.Members[i].Node != r.node {
			return signaling.ErrUnknownPeer
		}
		rec.Members[i].Peer = p
		rec.announce(event{Peer: p.ID, Kind: evState, Msg: msg})
		return nil
	}
	_, after, _, rev, err := r.write(key, update)
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[key]
	if errors.Is(err, errDown) {
		if rm == nil {
			return signaling.ErrRoomNotFound
		}
		next := rm.rec.clone()
		if err := update(&next, true); err != nil {
			return err
		}
		rm.dirty = true
		rm.gen++
		r.applyLocked(rm, next, 0)
		return nil
	}
	if err != nil {
		return err
	}
	if rm != nil {
		r.adoptLocked(rm, after, rev)
	}
	return nil
}

// Leave implements signaling.Registry. A peer that has moved to another
// node is not removed: it lives on there.
func (r *Registry) Leave(roomID, peer string, msg []byte) {
	key := roomKey(roomID)
	r.mu.Lock()
	rm := r.rooms[key]
	if rm != nil {
		if l := rm.local[peer]; l != nil {
			l.leaving = true
		}
	}
	r.mu.Unlock()
	leave := func(rec *record, exists bool) error {
		i := rec.find(peer)
		if !exists || i < 0 || rec.Members[i].Node != r.node {
			return errSkip
		}
		rec.remove(i)
		rec.announce(event{Peer: peer, Kind: evLeave, Msg: msg})
		return nil
	}
	_, after, _, rev, err := r.write(key, leave)
	if errors.Is(err, errSlow) {
		go r.removeGone(key, map[string]string{peer: r.node}) // try again, once
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rm = r.rooms[key]
	if rm == nil {
		return
	}
	if l := rm.local[peer]; l != nil && l.leaving {
		// It still gets the events before its leave that this node had
		// not applied yet: its place lasted until then.
		if err == nil {
			if evs, ok := after.since(l.seq); ok {
				r.deliverEventsLocked(l, peer, evs, rm.rev)
			}
		}
		delete(rm.local, peer)
	}
	switch {
	case errors.Is(err, errDown):
		next := rm.rec.clone()
		if leave(&next, true) == nil {
			rm.dirty = true
			rm.gen++
			r.applyLocked(rm, next, 0)
		}
	case err == nil:
		r.adoptLocked(rm, after, rev)
	case !errors.Is(err, errSkip):
		r.log.Warn("leaving a room", "err", err)
	}
}

// Send implements signaling.Registry: straight to a peer on this node, to
// the node serving any other, which acknowledges once it holds the message
// (or says where the peer moved). The acknowledgement keeps one sender's
// messages in order whatever their kind: its next room event is written
// only after its relay is held by the recipient's node.
func (r *Registry) Send(roomID, to string, msg []byte) error {
	key := roomKey(roomID)
	r.mu.Lock()
	rm := r.rooms[key]
	if rm == nil {
		r.mu.Unlock()
		return signaling.ErrUnknownPeer
	}
	if rm.dirty && r.nc.IsConnected() && rm.local[to] == nil {
		// What we did during an outage goes out first.
		r.mu.Unlock()
		if err := r.syncRoom(key); err != nil {
			return signaling.ErrUnavailable
		}
		r.mu.Lock()
		if rm = r.rooms[key]; rm == nil {
			r.mu.Unlock()
			return signaling.ErrUnknownPeer
		}
	}
	need, rev := rm.rec.Seq, max(rm.rev, rm.lastWrite)
	node, viaOld := "", false
	l := rm.local[to]
	switch {
	case l != nil && l.fwd == "" && !l.leaving && l.from == "":
		r.deliverRelayLocked(rm, l, msg, need, rm.rev)
		r.mu.Unlock()
		return nil
	case l != nil && l.from != "":
		// Being taken over from a node that still delivers the room's
		// events to it: the message takes its place among them there (and
		// comes back here if that node has let go meanwhile).
		node, viaOld = l.from, true
	case l != nil && l.fwd != "":
		node = l.fwd
	default:
		if i := rm.rec.find(to); i >= 0 && rm.rec.Members[i].Node != r.node {
			node = rm.rec.Members[i].Node
		}
	}
	r.mu.Unlock()
	if node == "" {
		return signaling.ErrUnknownPeer
	}
	err := r.sendRemote(node, key, to, need, rev, msg)
	if viaOld && (errors.Is(err, errNoNode) || errors.Is(err, signaling.ErrUnknownPeer)) {
		// The node it is taken over from is gone: the place is claimed
		// without it, and the message waits here.
		r.mu.Lock()
		if rm := r.rooms[key]; rm != nil && rm.local[to] == l && !l.leaving && l.fwd == "" {
			r.deliverRelayLocked(rm, l, msg, need, rm.rev)
			err = nil
		}
		r.mu.Unlock()
	}
	if errors.Is(err, errNoNode) {
		return nil // lost, as one to a dropped connection is
	}
	return err
}

// Roster implements signaling.Registry.
func (r *Registry) Roster(roomID string) ([]signaling.Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[roomKey(roomID)]
	if rm == nil || (len(rm.rec.Members) == 0 && rm.rev == 0 && !rm.dirty) {
		return nil, signaling.ErrRoomNotFound
	}
	return rm.rec.peers(), nil
}

// Counts implements signaling.Registry: the rooms with peers on this node,
// and those peers.
func (r *Registry) Counts() (rooms, peers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range r.rooms {
		n := 0
		for _, l := range rm.local {
			if l.fwd == "" && !l.leaving && !l.pending {
				n++
			}
		}
		if n > 0 {
			rooms++
			peers += n
		}
	}
	return rooms, peers
}

// applyEntry applies one update from the bucket watcher: a later revision
// than the one held; in the initial load after a (re)connect also an
// earlier one if the bucket was made anew (its history no longer reaches
// the one held). An earlier one from the same history is stale: the
// initial load may bring a room's value from before a write this node
// has made and applied since, and applying it would take the room back
// (its peers would see members leave and join again).
func (r *Registry) applyEntry(e jetstream.KeyValueEntry, initial bool) {
	key, rev := e.Key(), e.Revision()
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[key]
	if e.Operation() != jetstream.KeyValuePut {
		if rm == nil {
			return
		}
		if !rm.hasLocal() {
			delete(r.rooms, key)
			return
		}
		rm.rev, rm.dirty = 0, true // forgotten while we hold peers: write it back
		rm.gen++
		return
	}
	rec, err := decodeRecord(e.Value())
	if err != nil {
		r.log.Warn("undecodable room record", "key", key, "err", err)
		return
	}
	if rm == nil {
		rm = r.roomLocked(key, "")
	}
	if rev == rm.rev || (rev < rm.rev && (!initial || r.sameHistory)) {
		return
	}
	var lost []string
	if rm.dirty {
		rec, lost = merge(rec, rm.rec, r.node)
	}
	for _, id := range lost {
		if l := rm.local[id]; l != nil {
			delete(rm.local, id)
			go r.callHandOff(l.m)
		}
	}
	r.applyLocked(rm, rec, rev)
}

// loaded ends the watcher's initial load: rooms no longer in the bucket
// are forgotten, or written back if peers of ours are in them.
func (r *Registry) loaded(seen map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, rm := range r.rooms {
		if seen[key] {
			continue
		}
		if !rm.hasLocal() {
			delete(r.rooms, key)
			continue
		}
		rm.rev, rm.dirty = 0, true
		rm.gen++
	}
	r.ready = true
}
