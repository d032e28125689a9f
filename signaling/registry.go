package signaling

import "errors"

// Errors a Registry returns; the server maps them to protocol error codes.
var (
	// ErrRoomNotFound means the room id is unknown (never created, or forgotten).
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomFull means the room already holds its maximum of peers.
	ErrRoomFull = errors.New("room full")
	// ErrTooManyRooms means the rooms in use are at their cap: no room can
	// be created, nor an empty one joined, until one empties.
	ErrTooManyRooms = errors.New("too many rooms")
	// ErrUnknownPeer means the target peer is not in the room.
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrRoomExists means Create was given an id already in use.
	ErrRoomExists = errors.New("room exists")
	// ErrUnavailable means the room involves other nodes that cannot be
	// reached now (a distributed registry's backplane is down).
	ErrUnavailable = errors.New("cluster unavailable")
	// ErrResumeFailed means a resume token names no peer held anywhere.
	ErrResumeFailed = errors.New("nothing to resume")
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
//
// Room caps: a room is in use while it has a member (connected, or held
// for resume: the server keeps a held peer's Member registered). Rooms in
// use count toward max_rooms; an empty room does not, and is remembered
// only for the empty-room delay, at most EmptyRoomsPerRoom × max_rooms of
// them, the oldest forgotten first.
type Registry interface {
	// Create makes a new room with p (delivered through m) as its only
	// member. ErrRoomExists if the id is taken, ErrTooManyRooms if the
	// rooms in use are at the cap. A room left empty is forgotten after
	// the registry's empty-room delay.
	Create(room string, p Peer, m Member) error

	// Join adds peer p (delivered through m) to an existing room and sends
	// announce to everyone already there, atomically with respect to other
	// membership changes in the room. It returns the roster before p.
	// Joining an empty room puts it in use: ErrTooManyRooms at the cap.
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

	// Counts reports the rooms in use and their peers (on this node for a
	// distributed registry).
	Counts() (rooms, peers int)

	// Close stops the registry's timers. Rooms are not announced.
	Close() error
}

// Roaming is implemented by a Registry spanning several nodes, where a
// client whose connection dropped may resume on another node than the one
// holding its place (the node died, or a load balancer chose another).
// The in-memory registry does not implement it, so a single node pays
// nothing for it.
type Roaming interface {
	Registry

	// IssueToken returns a fresh resume token for a peer of room, findable
	// from every node; the peer's previous token stops working.
	IssueToken(room, peer string) string

	// Takeover moves the peer a token names from the node holding it to
	// this one. newMember makes the peer's local end, which the registry
	// delivers to from then on; it is called at most once, without
	// registry locks held. Takeover returns the messages that were queued
	// for the peer on the other node, to be delivered before anything
	// newMember has received. ErrResumeFailed when the token names no
	// peer held on another node.
	Takeover(token string, newMember func(room string, p Peer) Member) (queued [][]byte, err error)

	// SetHandOff installs the function the registry calls when another
	// node takes over a peer delivered here through m: it detaches m
	// without announcing anything to the room and returns what was queued
	// for it, or false when m is not held any more.
	SetHandOff(func(m Member) (queued [][]byte, ok bool))
}
