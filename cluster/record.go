package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// record is the value stored in the bucket for one room: its members in
// join order and the change that made this revision. Every write is a
// compare-and-set on the previous revision, so the revisions of a room
// are its one event order, on every node.
type record struct {
	Members []member  `json:"members"`
	Ev      *event    `json:"ev,omitempty"`
	Empty   time.Time `json:"empty,omitzero"` // when the last member left
}

// member is one peer of a room and where it is served.
type member struct {
	Peer signaling.Peer `json:"peer"`
	Node string         `json:"node"`          // incarnation serving it
	Tok  string         `json:"tok,omitempty"` // SHA-256 (hex) of its resume token
}

// event is the change a revision made, with the message the signaling
// server built for it, so other nodes deliver exactly those bytes.
type event struct {
	Peer string          `json:"peer"`
	Kind string          `json:"kind"`
	Msg  json.RawMessage `json:"msg,omitempty"`
}

// Event kinds.
const (
	evJoin  = "join"
	evLeave = "leave"
	evState = "state"
	evMove  = "move" // a peer resumed on another node: nothing to announce
	evToken = "token"
)

func (r record) clone() record {
	r.Members = slices.Clone(r.Members)
	return r
}

func (r record) find(id string) int {
	for i, m := range r.Members {
		if m.Peer.ID == id {
			return i
		}
	}
	return -1
}

func (r record) peers() []signaling.Peer {
	out := make([]signaling.Peer, 0, len(r.Members))
	for _, m := range r.Members {
		out = append(out, m.Peer)
	}
	return out
}

func (r record) hasOther(node string) bool {
	for _, m := range r.Members {
		if m.Node != node {
			return true
		}
	}
	return false
}

func (r *record) remove(i int) {
	r.Members = slices.Delete(r.Members, i, i+1)
	if len(r.Members) == 0 {
		r.Empty = time.Now().UTC()
	}
}

func (r record) encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("cluster: marshal record: " + err.Error()) // only our own types
	}
	return b
}

func decodeRecord(b []byte) (record, error) {
	var r record
	err := json.Unmarshal(b, &r)
	return r, err
}

// change is one room event for the peers that did not cause it.
type change struct {
	peer string // the peer it is about; not told to itself
	msg  []byte
}

// diff lists the events that turn prev into next: departures, then state
// changes, then arrivals. The message of next's event is used for the
// change it describes; other changes (several revisions seen at once,
// after an outage or a reaping) get a message built here.
func diff(prev, next record) []change {
	ev := next.Ev
	msgFor := func(id, kind string, build func() []byte) []byte {
		if ev != nil && ev.Peer == id && ev.Kind == kind && len(ev.Msg) > 0 {
			return ev.Msg
		}
		return build()
	}
	var out []change
	for _, m := range prev.Members {
		if next.find(m.Peer.ID) < 0 {
			id := m.Peer.ID
			out = append(out, change{id, msgFor(id, evLeave, func() []byte { return signaling.PeerGoneMessage(id) })})
		}
	}
	for _, m := range next.Members {
		i := prev.find(m.Peer.ID)
		if i >= 0 && prev.Members[i].Peer != m.Peer {
			p := m.Peer
			out = append(out, change{p.ID, msgFor(p.ID, evState, func() []byte { return signaling.StateMessage(p) })})
		}
	}
	for _, m := range next.Members {
		if prev.find(m.Peer.ID) < 0 {
			p := m.Peer
			out = append(out, change{p.ID, msgFor(p.ID, evJoin, func() []byte { return signaling.PeerJoinedMessage(p) })})
		}
	}
	return out
}

// merge is the room as this node sees it while its own changes have not
// reached the bucket: the bucket's members served elsewhere, then ours as
// we hold them. A peer the bucket shows served elsewhere though we hold
// it too was taken over there: it is returned in lost.
func merge(bucket, ours record, node string) (out record, lost []string) {
	out = record{Ev: bucket.Ev, Empty: bucket.Empty}
	for _, m := range bucket.Members {
		if m.Node != node {
			out.Members = append(out.Members, m)
		}
	}
	for _, m := range ours.Members {
		if m.Node != node {
			continue
		}
		if out.find(m.Peer.ID) >= 0 {
			lost = append(lost, m.Peer.ID)
			continue
		}
		out.Members = append(out.Members, m)
	}
	if len(out.Members) > 0 {
		out.Empty = time.Time{}
	} else if out.Empty.IsZero() {
		out.Empty = time.Now().UTC()
	}
	return out, lost
}

// roomKey is a room's key in the bucket: the SHA-256 of its id, so the
// bucket's contents do not hand out the links (room ids are capabilities).
func roomKey(room string) string {
	sum := sha256.Sum256([]byte(room))
	return hex.EncodeToString(sum[:16])
}

// tokenHash is what the bucket keeps of a resume token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// expired reports whether the room has been empty for longer than ttl:
// forgotten, though the reaper may not have deleted its record yet.
func (rec *record) expired(ttl time.Duration) bool {
	return len(rec.Members) == 0 && !rec.Empty.IsZero() && time.Since(rec.Empty) > ttl
}
