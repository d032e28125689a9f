package signaling

import (
	"sync"
	"time"
)

// EmptyRoomsPerRoom sizes how many empty rooms a Registry remembers (so
// their links keep working for empty_room_ttl): this many per max_rooms;
// past it the oldest empty room is forgotten first.
const EmptyRoomsPerRoom = 10

// MemoryRegistry is the single-node Registry: rooms live in this process.
//
// A room in use (a peer in it, connected or held for resume) counts toward
// maxRooms. A room nobody is in does not: it is only remembered, as its id
// and the time it emptied (about 150 bytes), for emptyTTL, so its link
// still works. At most EmptyRoomsPerRoom × maxRooms are remembered, the
// oldest forgotten first: creating and leaving rooms cannot fill the
// server, and the rooms people are in are never the ones forgotten.
type MemoryRegistry struct {
	maxRooms, maxPeers, maxEmpty int
	emptyTTL                     time.Duration

	mu sync.Mutex
	// guarded by mu:
	rooms      map[string]*memRoom  // rooms in use
	empty      map[string]time.Time // empty rooms remembered: when they emptied
	emptyOrder []emptyRoom          // the same, oldest first; stale entries skipped
	sweep      *time.Timer          // set while empty rooms wait to be forgotten
	closed     bool
}

// memRoom is one room in use. Its membership and every delivery of a room
// event happen under the registry mutex, so all members see events in one
// order and a joiner's roster is consistent with what follows it. Deliver
// only enqueues, so holding the lock is cheap.
type memRoom struct {
	members map[string]*memMember
	order   []string // peer ids in join order, for a stable roster
}

type memMember struct {
	peer Peer
	m    Member
}

// emptyRoom is a room that emptied at a time; stale when the room has been
// in use since (empty holds another time, or nothing).
type emptyRoom struct {
	id string
	at time.Time
}

// NewMemoryRegistry returns an in-memory Registry holding at most maxRooms
// rooms in use, of maxPeers peers each, and remembering empty rooms for
// emptyTTL.
func NewMemoryRegistry(maxRooms, maxPeers int, emptyTTL time.Duration) *MemoryRegistry {
	return &MemoryRegistry{
		maxRooms: maxRooms,
		maxPeers: maxPeers,
		maxEmpty: EmptyRoomsPerRoom * maxRooms,
		emptyTTL: emptyTTL,
		rooms:    make(map[string]*memRoom),
		empty:    make(map[string]time.Time),
	}
}

func newMemRoom(p Peer, m Member) *memRoom {
	return &memRoom{members: map[string]*memMember{p.ID: {peer: p, m: m}}, order: []string{p.ID}}
}

// Create implements Registry.
func (r *MemoryRegistry) Create(room string, p Peer, m Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrTooManyRooms
	}
	if _, ok := r.rooms[room]; ok {
		return ErrRoomExists
	}
	if _, ok := r.empty[room]; ok {
		return ErrRoomExists
	}
	if len(r.rooms) >= r.maxRooms {
		return ErrTooManyRooms
	}
	r.rooms[room] = newMemRoom(p, m)
	return nil
}

// Join implements Registry. Joining an empty room puts it in use again,
// so it needs a free place under maxRooms.
func (r *MemoryRegistry) Join(room string, p Peer, m Member, announce []byte) ([]Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		if _, ok := r.empty[room]; !ok || r.closed {
			return nil, ErrRoomNotFound
		}
		if len(r.rooms) >= r.maxRooms {
			return nil, ErrTooManyRooms
		}
		delete(r.empty, room)
		r.rooms[room] = newMemRoom(p, m)
		return []Peer{}, nil
	}
	if len(rm.members) >= r.maxPeers {
		return nil, ErrRoomFull
	}
	roster := make([]Peer, 0, len(rm.order))
	for _, id := range rm.order {
		mm := rm.members[id]
		roster = append(roster, mm.peer)
		mm.m.Deliver(announce)
	}
	rm.members[p.ID] = &memMember{peer: p, m: m}
	rm.order = append(rm.order, p.ID)
	return roster, nil
}

// Update implements Registry.
func (r *MemoryRegistry) Update(room string, p Peer, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		return ErrRoomNotFound
	}
	mm, ok := rm.members[p.ID]
	if !ok {
		return ErrUnknownPeer
	}
	mm.peer = p
	r.broadcastLocked(rm, p.ID, msg)
	return nil
}

// Leave implements Registry. The last one out leaves the room empty: it
// stops counting toward maxRooms and is remembered for emptyTTL.
func (r *MemoryRegistry) Leave(room, peer string, msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		return
	}
	if _, ok := rm.members[peer]; !ok {
		return
	}
	delete(rm.members, peer)
	for i, id := range rm.order {
		if id == peer {
			rm.order = append(rm.order[:i], rm.order[i+1:]...)
			break
		}
	}
	r.broadcastLocked(rm, peer, msg)
	if len(rm.members) == 0 {
		delete(r.rooms, room)
		r.rememberEmptyLocked(room)
	}
}

// rememberEmptyLocked keeps an empty room's id for emptyTTL, forgetting
// the oldest empty rooms past maxEmpty.
func (r *MemoryRegistry) rememberEmptyLocked(room string) {
	if r.closed || r.emptyTTL <= 0 {
		return
	}
	now := time.Now()
	r.empty[room] = now
	r.emptyOrder = append(r.emptyOrder, emptyRoom{room, now})
	for len(r.empty) > r.maxEmpty {
		r.popEmptyLocked()
	}
	if len(r.emptyOrder) > 2*len(r.empty)+64 {
		r.compactEmptyLocked()
	}
	if r.sweep == nil {
		r.sweep = time.AfterFunc(r.emptyTTL, r.forgetExpired)
	}
}

// popEmptyLocked forgets the oldest empty room still remembered.
func (r *MemoryRegistry) popEmptyLocked() {
	for len(r.emptyOrder) > 0 {
		e := r.emptyOrder[0]
		r.emptyOrder[0] = emptyRoom{}
		r.emptyOrder = r.emptyOrder[1:]
		if at, ok := r.empty[e.id]; ok && at.Equal(e.at) {
			delete(r.empty, e.id)
			return
		}
	}
}

// compactEmptyLocked drops the stale entries of emptyOrder.
func (r *MemoryRegistry) compactEmptyLocked() {
	live := make([]emptyRoom, 0, len(r.empty))
	for _, e := range r.emptyOrder {
		if at, ok := r.empty[e.id]; ok && at.Equal(e.at) {
			live = append(live, e)
		}
	}
	r.emptyOrder = live
}

// forgetExpired runs on the sweep timer: empty rooms past emptyTTL are
// forgotten, and the timer is set for the next one.
func (r *MemoryRegistry) forgetExpired() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep = nil
	if r.closed {
		return
	}
	now := time.Now()
	for len(r.emptyOrder) > 0 {
		e := r.emptyOrder[0]
		if at, ok := r.empty[e.id]; !ok || !at.Equal(e.at) {
			r.emptyOrder[0] = emptyRoom{}
			r.emptyOrder = r.emptyOrder[1:]
			continue // stale
		}
		if wait := e.at.Add(r.emptyTTL).Sub(now); wait > 0 {
			r.sweep = time.AfterFunc(wait, r.forgetExpired)
			return
		}
		r.popEmptyLocked()
	}
	r.emptyOrder = nil
}

func (r *MemoryRegistry) broadcastLocked(rm *memRoom, except string, msg []byte) {
	for _, id := range rm.order {
		if id != except {
			rm.members[id].m.Deliver(msg)
		}
	}
}

// Send implements Registry. The target is looked up under the lock and
// delivered to outside it: one sender's messages stay in order because the
// sender's reader is sequential.
func (r *MemoryRegistry) Send(room, to string, msg []byte) error {
	r.mu.Lock()
	var m Member
	if rm, ok := r.rooms[room]; ok {
		if mm, ok := rm.members[to]; ok {
			m = mm.m
		}
	}
	r.mu.Unlock()
	if m == nil {
		return ErrUnknownPeer
	}
	m.Deliver(msg)
	return nil
}

// Roster implements Registry. An empty room's roster is empty.
func (r *MemoryRegistry) Roster(room string) ([]Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		if _, ok := r.empty[room]; ok {
			return []Peer{}, nil
		}
		return nil, ErrRoomNotFound
	}
	roster := make([]Peer, 0, len(rm.order))
	for _, id := range rm.order {
		roster = append(roster, rm.members[id].peer)
	}
	return roster, nil
}

// Counts implements Registry: rooms in use, and their peers.
func (r *MemoryRegistry) Counts() (rooms, peers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range r.rooms {
		peers += len(rm.members)
	}
	return len(r.rooms), peers
}

// emptyRooms returns the number of empty rooms remembered.
func (r *MemoryRegistry) emptyRooms() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.empty)
}

// Close implements Registry.
func (r *MemoryRegistry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.sweep != nil {
		r.sweep.Stop()
		r.sweep = nil
	}
	return nil
}
