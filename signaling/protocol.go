package signaling

import (
	"encoding/json"
	"time"

	"github.com/streamsync/streamsync/ice"
)

// ProtocolVersion is the version of docs/protocol.md this package speaks.
const ProtocolVersion = 1

// maxNameLength is the longest display name, in characters.
const maxNameLength = 64

// Message types, as in docs/protocol.md.
const (
	typeWelcome    = "welcome"
	typeJoin       = "join"
	typeJoined     = "joined"
	typePeerJoined = "peer-joined"
	typePeerLeft   = "peer-left"
	typeState      = "state"
	typeOffer      = "offer"
	typeAnswer     = "answer"
	typeCandidate  = "candidate"
	typeICEServers = "ice-servers"
	typeLeave      = "leave"
	typePing       = "ping"
	typePong       = "pong"
	typeError      = "error"
)

// Error codes sent in "error" messages (docs/protocol.md §8).
const (
	codeBadJSON        = "bad-json"
	codeBadMessage     = "bad-message"
	codeUnknownType    = "unknown-type"
	codeNotJoined      = "not-joined"
	codeAlreadyJoined  = "already-joined"
	codeUnknownPeer    = "unknown-peer"
	codeRoomNotFound   = "room-not-found"
	codeRoomFull       = "room-full"
	codeTooManyRooms   = "too-many-rooms"
	codeBadPassword    = "bad-password"
	codeRateLimited    = "rate-limited"
	codeResumeFailed   = "resume-failed"
	codeICEUnavailable = "ice-unavailable"
	codeUnavailable    = "unavailable"
	codeInternal       = "internal"
)

// WebSocket close codes and reasons (docs/protocol.md §9, RFC 6455 §7.4.1).
const (
	closeNormal    = 1000
	closeGoingAway = 1001
	closeBadData   = 1007 // RFC 6455 §7.4.1: e.g. a text frame not in UTF-8
	closePolicy    = 1008
	closeTooBig    = 1009
	closeInternal  = 1011
	closeReplaced  = 4000
)

// Peer-left reasons.
const (
	leftReasonLeft = "left"
	leftReasonGone = "gone"
)

// State is a peer's small public state, kept by the server and shown to
// the whole room.
type State struct {
	Muted     bool `json:"muted"`
	CameraOff bool `json:"cameraOff"`
	Sharing   bool `json:"sharing"`
	Recording bool `json:"recording"`
}

// Peer is one roster entry.
type Peer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State State  `json:"state"`
}

// limits is what a client is told about the server's limits.
type limits struct {
	MaxPeersPerRoom int     `json:"maxPeersPerRoom"`
	MaxMessageBytes int64   `json:"maxMessageBytes"`
	MessageRate     float64 `json:"messageRate"`
	MessageBurst    int     `json:"messageBurst"`
	JoinTimeoutMs   int64   `json:"joinTimeoutMs"`
	ResumeGraceMs   int64   `json:"resumeGraceMs"`
	MaxNameLength   int     `json:"maxNameLength"`
}

// inbound is every field a client message may carry; each handler reads
// the ones of its type. Opaque payloads stay raw.
type inbound struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	Room      string          `json:"room"`
	Name      *string         `json:"name"`
	Password  string          `json:"password"`
	Resume    string          `json:"resume"`
	State     *State          `json:"state"`
	To        string          `json:"to"`
	SDP       json.RawMessage `json:"sdp"`
	Candidate json.RawMessage `json:"candidate"`
}

// welcomeMsg is sent on connect, and (without type) to a plain GET.
type welcomeMsg struct {
	Type                   string `json:"type,omitempty"`
	Version                int    `json:"version"`
	CreatePasswordRequired bool   `json:"createPasswordRequired"`
	Limits                 limits `json:"limits"`
	// Nodes are the public URLs of the cluster's live nodes, this one
	// first, for a page to fail over to (docs/cluster.md); absent on a
	// single node.
	Nodes []string `json:"nodes,omitempty"`
}

type joinedMsg struct {
	Type               string       `json:"type"`
	Room               string       `json:"room"`
	ID                 string       `json:"id"`
	Name               string       `json:"name"` // ours, as the others see it
	Peers              []Peer       `json:"peers"`
	ICEServers         []ice.Server `json:"iceServers"`
	ICEServersExpireAt *time.Time   `json:"iceServersExpireAt,omitempty"`
	ResumeToken        string       `json:"resumeToken,omitempty"`
	Resumed            bool         `json:"resumed"`
	Restarted          bool         `json:"restarted,omitempty"`
	Limits             limits       `json:"limits"`
}

type peerJoinedMsg struct {
	Type string `json:"type"`
	Peer Peer   `json:"peer"`
}

type peerLeftMsg struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

type stateMsg struct {
	Type  string `json:"type"`
	From  string `json:"from"`
	Name  string `json:"name"`
	State State  `json:"state"`
}

// relayMsg is an offer, answer or candidate on its way to its target.
type relayMsg struct {
	Type      string          `json:"type"`
	From      string          `json:"from"`
	SDP       json.RawMessage `json:"sdp,omitempty"`
	Candidate json.RawMessage `json:"candidate,omitempty"`
}

type iceServersMsg struct {
	Type               string       `json:"type"`
	ICEServers         []ice.Server `json:"iceServers"`
	ICEServersExpireAt *time.Time   `json:"iceServersExpireAt,omitempty"`
}

type errorMsg struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Ref     json.RawMessage `json:"ref,omitempty"`
	RefType string          `json:"refType,omitempty"`
}

// protoError is a client mistake answered with an "error" message.
type protoError struct {
	code, msg string
}

func (e *protoError) Error() string { return e.code + ": " + e.msg }

func perr(code, msg string) *protoError { return &protoError{code: code, msg: msg} }

// mustMarshal marshals a message built from our own types, which cannot fail.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("signaling: marshal " + err.Error()) // a bug in this package
	}
	return b
}

// iceFields returns the JSON form of an ice.Config: never-null servers and
// an optional expiry.
func iceFields(c ice.Config) ([]ice.Server, *time.Time) {
	servers := c.Servers
	if servers == nil {
		servers = []ice.Server{}
	}
	if c.ExpiresAt.IsZero() {
		return servers, nil
	}
	t := c.ExpiresAt.UTC()
	return servers, &t
}

// PeerJoinedMessage is the "peer-joined" event for p, for a Registry that
// has to announce a change it did not get the message for (a peer on
// another node, seen only after a backplane outage).
func PeerJoinedMessage(p Peer) []byte {
	return mustMarshal(peerJoinedMsg{Type: typePeerJoined, Peer: p})
}

// PeerGoneMessage is the "peer-left" event, reason "gone", for peer id: a
// peer whose node died and who did not resume within the grace period.
func PeerGoneMessage(id string) []byte {
	return mustMarshal(peerLeftMsg{Type: typePeerLeft, ID: id, Reason: leftReasonGone})
}

// StateMessage is the "state" event announcing p's name and state.
func StateMessage(p Peer) []byte {
	return mustMarshal(stateMsg{Type: typeState, From: p.ID, Name: p.Name, State: p.State})
}
