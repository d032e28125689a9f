package signaling

import (
	"sync"
	"time"
)

// MemoryRegistry is the single-node Registry: rooms live in this process.
type MemoryRegistry struct {
	maxRooms, maxPeers int
	emptyTTL           time.Duration

	mu sync.Mutex
	// guarded by mu:
	rooms  map[string]*memRoom
	closed bool
}

// memRoom is one room. Its membership and every delivery of a room event
// happen under the registry mutex, so all members see events in one order
// and a joiner's roster is consistent with what follows it. Deliver only
// enqueues, so holding the lock is cheap.
type memRoom struct {
	members map[string]*memMember
	order   []string    // peer ids in join order, for a stable roster
	forget  *time.Timer // set while the room is empty
}

type memMember struct {
	peer Peer
	m    Member
}

// NewMemoryRegistry returns an in-memory Registry holding at most maxRooms
// rooms of maxPeers peers, forgetting empty rooms after emptyTTL.
func NewMemoryRegistry(maxRooms, maxPeers int, emptyTTL time.Duration) *MemoryRegistry {
	return &MemoryRegistry{
		maxRooms: maxRooms,
		maxPeers: maxPeers,
		emptyTTL: emptyTTL,
		rooms:    make(map[string]*memRoom),
	}
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
	if len(r.rooms) >= r.maxRooms {
		return ErrTooManyRooms
	}
	r.rooms[room] = &memRoom{
		members: map[string]*memMember{p.ID: {peer: p, m: m}},
		order:   []string{p.ID},
	}
	return nil
}

// armForgetLocked starts the timer that forgets an empty room.
func (r *MemoryRegistry) armForgetLocked(room string, rm *memRoom) {
	rm.forget = time.AfterFunc(r.emptyTTL, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if cur, ok := r.rooms[room]; ok && cur == rm && len(rm.members) == 0 {
			delete(r.rooms, room)
		}
	})
}

// Join implements Registry.
func (r *MemoryRegistry) Join(room string, p Peer, m Member, announce []byte) ([]Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		return nil, ErrRoomNotFound
	}
	if len(rm.members) >= r.maxPeers {
		return nil, ErrRoomFull
	}
	if rm.forget != nil {
		rm.forget.Stop()
		rm.forget = nil
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

// Leave implements Registry.
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
	if len(rm.members) == 0 && !r.closed {
		r.armForgetLocked(room, rm)
	}
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

// Roster implements Registry.
func (r *MemoryRegistry) Roster(room string) ([]Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[room]
	if !ok {
		return nil, ErrRoomNotFound
	}
	roster := make([]Peer, 0, len(rm.order))
	for _, id := range rm.order {
		roster = append(roster, rm.members[id].peer)
	}
	return roster, nil
}

// Counts implements Registry.
func (r *MemoryRegistry) Counts() (rooms, peers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range r.rooms {
		peers += len(rm.members)
	}
	return len(r.rooms), peers
}

// Close implements Registry.
func (r *MemoryRegistry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, rm := range r.rooms {
		if rm.forget != nil {
			rm.forget.Stop()
		}
	}
	return nil
}
