package cluster

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamsync/streamsync/signaling"
)

// IssueToken implements signaling.Roaming. The token names its room and
// peer, so any node finds the record; the record keeps only its hash.
func (r *Registry) IssueToken(roomID, peer string) string {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	token := roomID + "." + peer + "." + base64.RawURLEncoding.EncodeToString(secret)
	h := tokenHash(token)
	key := roomKey(roomID)
	set := func(rec *record, exists bool) error {
		i := rec.find(peer)
		if !exists || i < 0 || rec.Members[i].Node != r.node {
			return errSkip
		}
		rec.Members[i].Tok = h
		rec.Ev = &event{Peer: peer, Kind: evToken}
		return nil
	}
	_, after, _, rev, err := r.write(key, set)
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[key]
	switch {
	case rm == nil:
	case errors.Is(err, errDown):
		next := rm.rec.clone()
		if set(&next, true) == nil {
			rm.dirty = true
			rm.gen++
			r.applyLocked(rm, next, 0)
		}
	case err == nil:
		r.adoptLocked(rm, after, rev)
	default:
		r.log.Warn("recording a resume token", "err", err)
	}
	return token
}

func parseToken(token string) (roomID, peer string, ok bool) {
	roomID, rest, ok1 := strings.Cut(token, ".")
	peer, secret, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || roomID == "" || peer == "" || secret == "" || len(token) > 128 {
		return "", "", false
	}
	return roomID, peer, true
}

// Takeover implements signaling.Roaming: the node holding the peer hands
// it over (with what it queued for it and the last room event it
// delivered); a node that does not answer is dead and the place is claimed
// without it. Either way the room's record then names this node, by
// compare-and-set, so only one node wins, and the peer gets from here the
// room events its old node had not delivered. Transient failures (a write
// conflict, a slow old node, NATS reconnecting) are retried for
// takeoverFor.
func (r *Registry) Takeover(token string, newMember func(room string, p signaling.Peer) signaling.Member) ([][]byte, error) {
	roomID, peer, ok := parseToken(token)
	if !ok {
		return nil, signaling.ErrResumeFailed
	}
	key := roomKey(roomID)
	deadline := time.Now().Add(takeoverFor)
	rec, recRev, err := r.readRoom(key, deadline)
	if err != nil {
		return nil, err
	}
	i := rec.find(peer)
	if i < 0 {
		return nil, signaling.ErrResumeFailed
	}
	place := rec.Members[i]
	if place.Tok == "" || subtle.ConstantTimeCompare([]byte(tokenHash(token)), []byte(place.Tok)) != 1 || place.Node == r.node {
		return nil, signaling.ErrResumeFailed
	}

	m := newMember(roomID, place.Peer)
	r.mu.Lock()
	rm := r.roomLocked(key, roomID)
	r.adoptLocked(rm, rec, recRev)
	arriving := r.arriveLocked(rm, peer, m) // relays wait for it from now on
	// Until the old node lets go it still delivers the room's events:
	// relays from this node's peers go there too, or they would be held
	// here behind events delivered there (docs/cluster.md, delivery).
	arriving.from = place.Node
	// The place may take a while to write (a busy room's record is
	// contended): the events meanwhile are kept for it, as the record's
	// log holds only the last few (catchUpLocked).
	arriving.early = append(make([]event, 0, len(rm.rec.Log)), rm.rec.Log...)
	r.mu.Unlock()
	depart := func() {
		r.mu.Lock()
		r.departLocked(key, peer, arriving)
		r.mu.Unlock()
	}

	if r.takeoverHookForTest != nil {
		r.takeoverHookForTest("asking")
	}
	ho, handed, err := r.askHandOff(place.Node, key, peer, deadline)
	r.mu.Lock()
	arriving.from = "" // it delivers nothing more: relays wait here
	r.mu.Unlock()
	if err != nil {
		depart()
		return nil, err
	}
	claim := func(rec *record, exists bool) error {
		i := rec.find(peer)
		switch {
		case !exists || i < 0:
			return signaling.ErrResumeFailed
		case rec.Members[i].Node == r.node && rec.Members[i].Tok == "":
			// Ours already: a claim that timed out was made after all.
		case rec.Members[i].Node != place.Node || rec.Members[i].Tok != place.Tok:
			return signaling.ErrResumeFailed
		}
		rec.Members[i].Node, rec.Members[i].Tok = r.node, ""
		rec.Ev = &event{Peer: peer, Kind: evMove}
		return nil
	}
	if r.takeoverHookForTest != nil {
		r.takeoverHookForTest("claiming")
	}
	var after record
	var rev uint64
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		_, after, _, rev, err = r.write(key, claim)
		if err == nil || errors.Is(err, signaling.ErrResumeFailed) || r.ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			break
		}
		time.Sleep(wait) // a conflict storm or NATS reconnecting: try again
	}
	if err != nil {
		depart()
		if handed {
			// The other node let go: remove the place rather than leave
			// one nobody serves.
			r.removeGone(key, map[string]string{peer: place.Node})
		}
		if errors.Is(err, errDown) {
			return nil, signaling.ErrUnavailable
		}
		return nil, err
	}
	r.mu.Lock()
	rm = r.roomLocked(key, roomID)
	r.adoptLocked(rm, after, rev)
	cursor := after.Seq // a dead node's cursor is unknown: the resumed roster stands for it
	if handed {
		cursor = ho.Cursor
		var early []held
		for _, h := range ho.Held {
			early = append(early, held{msg: h.Msg, need: h.Need, rev: h.Rev, at: time.Now()})
		}
		arriving.held = append(early, arriving.held...)
	}
	if rm.local[peer] != arriving {
		arriving = nil // the room was forgotten and made anew meanwhile
	}
	replayed, _ := r.registerLocked(rm, peer, arriving, m, rev, cursor)
	r.stats.replayed.Add(int64(replayed))
	r.mu.Unlock()
	queued := ho.queuedMessages()
	r.log.Info("peer taken over", "from", place.Node, "peer", peer, "handed", handed, "queued", len(queued), "replayed", replayed)
	return queued, nil
}

// readRoom reads a room's record from the bucket, retrying transient
// failures until deadline.
func (r *Registry) readRoom(key string, deadline time.Time) (record, uint64, error) {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		kv, err := r.bucket()
		if err == nil {
			ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
			var e jetstream.KeyValueEntry
			e, err = kv.Get(ctx, key)
			cancel()
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
				return record{}, 0, signaling.ErrResumeFailed
			case err == nil:
				rec, derr := decodeRecord(e.Value())
				if derr != nil {
					return record{}, 0, fmt.Errorf("decode room: %w", derr)
				}
				return rec, e.Revision(), nil
			}
		}
		if r.ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return record{}, 0, fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
		}
		time.Sleep(wait)
	}
}

// askHandOff asks node to give peer up. handed is false when the node is
// gone (no responders) or dead (no answer, and no heartbeat for
// node_timeout); a live node that is slow to answer is asked again until
// deadline. The request is idempotent: a repeat gets the first
// answer. An error when it refused.
func (r *Registry) askHandOff(node, key, peer string, deadline time.Time) (resp handOffResp, handed bool, err error) {
	req, _ := json.Marshal(handOffReq{Room: key, Peer: peer, To: r.node})
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		ctx, cancel := r.linkContext(max(time.Until(deadline), 100*time.Millisecond) / 2)
		msg, err := r.nc.RequestWithContext(ctx, r.subject("handoff", node), req)
		timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		cancel()
		switch {
		case err == nil:
			if json.Unmarshal(msg.Data, &resp) != nil || !resp.OK {
				return handOffResp{}, false, signaling.ErrResumeFailed
			}
			return resp, true, nil
		case errors.Is(err, nats.ErrNoResponders):
			return handOffResp{}, false, nil // its connection is gone
		case timedOut:
			if !r.alive(node) || time.Now().Add(wait).After(deadline) {
				return handOffResp{}, false, nil
			}
		case time.Now().Add(wait).After(deadline) || r.ctx.Err() != nil:
			return handOffResp{}, false, fmt.Errorf("%w: hand-off request: %w", signaling.ErrUnavailable, err)
		}
		time.Sleep(wait)
	}
}

// alive tells whether incarnation inc has been heard from within
// node_timeout and has not said goodbye.
func (r *Registry) alive(inc string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, dead := r.deadSinceLocked(inc, time.Now())
	return !dead
}
