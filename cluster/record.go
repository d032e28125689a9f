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
// join order, the change that made this revision, and the room's last
// events. Every write is a compare-and-set on the previous revision, so
// the room has one event order, on every node: Seq numbers its announced
// events (join, leave, state) and Log keeps the last logLen of them, so a
// node that missed revisions (a watcher that skipped some, a peer resuming
// from another node) delivers exactly the events it lacks.
type record struct {
	Members []member  `json:"members"`
	Ev      *event    `json:"ev,omitempty"`
	Empty   time.Time `json:"empty,omitzero"` // when the last member left
	Seq     uint64    `json:"seq,omitempty"`  // the room's last announced event
	Log     []event   `json:"log,omitempty"`  // events Seq-len(Log)+1 … Seq, in order
	W       string    `json:"w,omitempty"`    // id of the write that made this revision
}

// logLen bounds a record's event log. It covers the revisions a busy
// watcher skips and the events of a hand-over; past it, members are
// brought up to date by the roster's difference (a resync).
const logLen = 32

// member is one peer of a room and where it is served.
type member struct {
	Peer signaling.Peer `json:"peer"`
	Node string         `json:"node"`          // incarnation serving it
	Tok  string         `json:"tok,omitempty"` // SHA-256 (hex) of its resume token
	// At is one past the revision its last change (join, state, move)
	// was written on: a node that had applied revision R when it relayed
	// a message had seen that change if At <= R (a room's revisions
	// are ordered). 0: not known (a change made during an outage).
	At uint64 `json:"at,omitempty"`
}

// event is the change a revision made, with the message the signaling
// server built for it, so other nodes deliver exactly those bytes.
type event struct {
	Peer string          `json:"peer"`
	Kind string          `json:"kind"`
	Msg  json.RawMessage `json:"msg,omitempty"`
	Seq  uint64          `json:"seq,omitempty"` // in Log: the event's number in the room
	W    string          `json:"w,omitempty"`   // in Log: id of the write that announced it
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
	r.Log = slices.Clone(r.Log)
	return r
}

// announce makes ev this revision's change and the room's next event.
func (r *record) announce(ev event) {
	r.Seq++
	ev.Seq, ev.W = r.Seq, r.W
	r.Ev = &ev
	keep := r.Log[max(0, len(r.Log)-logLen+1):]
	r.Log = append(slices.Clone(keep), ev)
}

// wrote tells whether write id made this revision or one of its logged
// events.
func (r record) wrote(id string) bool {
	if r.W == id {
		return true
	}
	for _, ev := range r.Log {
		if ev.W == id {
			return true
		}
	}
	return false
}

// joinSeq is the number of peer's join event, or Seq if the log no longer
// has it.
func (r record) joinSeq(peer string) uint64 {
	for i := len(r.Log) - 1; i >= 0; i-- {
		if ev := r.Log[i]; ev.Kind == evJoin && ev.Peer == peer {
			return ev.Seq
		}
	}
	return r.Seq
}

// since returns the events after seq, in order; false when the log no
// longer reaches back that far.
func (r record) since(seq uint64) ([]event, bool) {
	switch {
	case seq >= r.Seq:
		return nil, true
	case len(r.Log) == 0 || r.Log[len(r.Log)-1].Seq != r.Seq:
		return nil, false
	}
	first := r.Log[0].Seq
	if seq+1 < first {
		return nil, false
	}
	return r.Log[seq+1-first:], true
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

// stampChanges sets At on the members that before (revision base) does
// not hold as they are in r: r is written on base.
func (r *record) stampChanges(before record, base uint64) {
	for i, m := range r.Members {
		j := before.find(m.Peer.ID)
		if j < 0 || before.Members[j].Peer != m.Peer || before.Members[j].Node != m.Node {
			r.Members[i].At = base + 1
		}
	}
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
	at   uint64 // its member's At (0 for a departure: after every held relay)
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
			out = append(out, change{id, msgFor(id, evLeave, func() []byte { return signaling.PeerGoneMessage(id) }), 0})
		}
	}
	for _, m := range next.Members {
		i := prev.find(m.Peer.ID)
		if i >= 0 && prev.Members[i].Peer != m.Peer {
			p := m.Peer
			out = append(out, change{p.ID, msgFor(p.ID, evState, func() []byte { return signaling.StateMessage(p) }), m.At})
		}
	}
	for _, m := range next.Members {
		if prev.find(m.Peer.ID) < 0 {
			p := m.Peer
			// A join not stamped (made in an outage, or by an older
			// node) still comes before its joiner's relays.
			out = append(out, change{p.ID, msgFor(p.ID, evJoin, func() []byte { return signaling.PeerJoinedMessage(p) }), max(m.At, 1)})
		}
	}
	return out
}

// merge is the room as this node sees it while its own changes have not
// reached the bucket: the bucket's members served elsewhere, then ours as
// we hold them. A peer the bucket shows served elsewhere though we hold
// it too was taken over there: it is returned in lost.
func merge(bucket, ours record, node string) (out record, lost []string) {
	// Both sides numbered their events alone: the merge starts a new
	// number with no log, so every node resyncs from the difference.
	out = record{Ev: bucket.Ev, Empty: bucket.Empty, Seq: max(bucket.Seq, ours.Seq)}
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
