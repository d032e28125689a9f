package signaling

import "errors"

// Errors a Registry returns; the server maps them to protocol error codes.
var (
	// ErrRoomNotFound means the room id is unknown (never created, or forgotten).
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomFull means the room already holds its maximum of peers.
	ErrRoomFull = errors.New("room full")
	// ErrTooManyRooms means no room can be created until one is forgotten.
	ErrTooManyRooms = errors.New("too many rooms")
	// ErrUnknownPeer means the target peer is not in the room.
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrRoomExists means Create was given an id already in use.
	ErrRoomExists = errors.New("room exists")
)

// Member is the local end of one peer: where a Registry delivers the
// messages addressed to it. Deliver must not block and must not call back
// into the Registry; it may be called with Registry locks held, which is
// how a room's events reach every member in one order.
type Member interface {
	Deliver(msg []byte)
}

// Registry holds rooms and their rosters and delivers messages between
// peers. The in-memory one (NewMemoryRegistry) serves a single node; an
// implementation spanning nodes keeps the same contract: per-room event
// order, targeted delivery, and a roster including remote peers.
//
// Messages are opaque, already-marshalled JSON; the Registry never parses
// them.
type Registry interface {
	// Create makes a new room with p (delivered through m) as its only
	// member. ErrRoomExists if the id is taken. A room left empty is
	// forgotten after the registry's empty-room delay.
	Create(room string, p Peer, m Member) error

	// Join adds peer p (delivered through m) to an existing room and sends
	// announce to everyone already there, atomically with respect to other
	// membership changes in the room. It returns the roster before p.
	Join(room string, p Peer, m Member, announce []byte) ([]Peer, error)

	// Update replaces p's roster entry and sends msg to the others in the
	// room, in room order.
	Update(room string, p Peer, msg []byte) error

	// Leave removes peer from room and sends msg to the others, in room
	// order. Leaving twice is harmless.
	Leave(room, peer string, msg []byte)

	// Send delivers msg to exactly one peer of the room, or returns
	// ErrUnknownPeer.
	Send(room, to string, msg []byte) error

	// Roster returns the peers of a room in join order, or ErrRoomNotFound.
	Roster(room string) ([]Peer, error)

	// Counts reports the rooms and peers held (on this node for a
	// distributed registry).
	Counts() (rooms, peers int)

	// Close stops the registry's timers. Rooms are not announced.
	Close() error
}
