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
	_, after, base, rev, err := r.write(key, set)
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
		r.adoptLocked(rm, after, base, rev)
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
// it over (with what it queued for it); a node that does not answer is
// dead and the place is claimed without it. Either way the room's record
// then names this node, by compare-and-set, so only one node wins.
func (r *Registry) Takeover(token string, newMember func(room string, p signaling.Peer) signaling.Member) ([][]byte, error) {
	roomID, peer, ok := parseToken(token)
	if !ok {
		return nil, signaling.ErrResumeFailed
	}
	key := roomKey(roomID)
	kv, err := r.bucket()
	if err != nil {
		return nil, signaling.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, signaling.ErrResumeFailed
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
	}
	rec, err := decodeRecord(e.Value())
	if err != nil {
		return nil, fmt.Errorf("decode room: %w", err)
	}
	i := rec.find(peer)
	if i < 0 {
		return nil, signaling.ErrResumeFailed
	}
	held := rec.Members[i]
	if held.Tok == "" || subtle.ConstantTimeCompare([]byte(tokenHash(token)), []byte(held.Tok)) != 1 || held.Node == r.node {
		return nil, signaling.ErrResumeFailed
	}

	m := newMember(roomID, held.Peer)
	r.mu.Lock()
	rm := r.roomLocked(key, roomID)
	if rm.rev == 0 && !rm.dirty {
		rm.rec, rm.rev = rec, e.Revision()
	}
	rm.local[peer] = &local{m: m, since: pendingSince} // receives relays from now on
	r.mu.Unlock()
	unregister := func() {
		r.mu.Lock()
		if l := rm.local[peer]; l != nil && l.m == m {
			delete(rm.local, peer)
		}
		r.mu.Unlock()
	}

	queued, handed, err := r.askHandOff(held.Node, key, peer)
	if err != nil {
		unregister()
		return nil, err
	}
	claim := func(rec *record, exists bool) error {
		i := rec.find(peer)
		if !exists || i < 0 || rec.Members[i].Node != held.Node || rec.Members[i].Tok != held.Tok {
			return signaling.ErrResumeFailed
		}
		rec.Members[i].Node, rec.Members[i].Tok = r.node, ""
		rec.Ev = &event{Peer: peer, Kind: evMove}
		return nil
	}
	_, after, base, rev, err := r.write(key, claim)
	if err != nil {
		unregister()
		if handed {
			// The other node let go: remove the place rather than leave
			// one nobody serves.
			r.removeGone(key, map[string]string{peer: held.Node})
		}
		if errors.Is(err, errDown) {
			return nil, signaling.ErrUnavailable
		}
		return nil, err
	}
	r.mu.Lock()
	r.adoptLocked(rm, after, base, rev)
	r.registerLocked(rm, peer, m, after, rev)
	r.mu.Unlock()
	r.log.Info("peer taken over", "from", held.Node, "peer", peer, "handed", handed, "queued", len(queued))
	return queued, nil
}

// askHandOff asks node to give peer up. handed is false when the node did
// not answer (it is dead, or cut off from NATS); an error when it refused.
func (r *Registry) askHandOff(node, key, peer string) (queued [][]byte, handed bool, err error) {
	req, _ := json.Marshal(handOffReq{Room: key, Peer: peer, To: r.node})
	msg, err := r.nc.Request(r.subject("handoff", node), req, opTimeout/2)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%w: hand-off request: %w", signaling.ErrUnavailable, err)
	}
	var resp handOffResp
	if json.Unmarshal(msg.Data, &resp) != nil || !resp.OK {
		return nil, false, signaling.ErrResumeFailed
	}
	return resp.Queued, true, nil
}
