// The signaling message envelope (docs/protocol.md, signaling/protocol.go)
// as the page sees it: global types for the JSDoc of web/static/*.js, read
// by the type check only (make jscheck; not embedded, never served).
// Server messages are what the server sends; client messages what the
// page may send. Fields the server relays untouched from another client
// (sdp, candidate) are unknown until the page checks them.

/** A peer's public state (§3), kept by the server and shown to the room. */
interface PeerState {
  muted: boolean;
  cameraOff: boolean;
  sharing: boolean;
  recording: boolean;
}

/** One roster entry (§3). */
interface RosterPeer {
  id: string;
  name: string;
  state: PeerState;
}

/** The server's limits, in welcome and joined (§10). */
interface ServerLimits {
  maxPeersPerRoom: number;
  maxMessageBytes: number;
  messageRate: number;
  messageBurst: number;
  joinTimeoutMs: number;
  resumeGraceMs: number;
  maxNameLength: number;
}

/** Sent on connect (§1). */
interface WelcomeMessage {
  type: 'welcome';
  version: number;
  createPasswordRequired: boolean;
  limits: ServerLimits;
  /** In a cluster only: the live nodes' public URLs, this one first (docs/cluster.md). */
  nodes?: string[];
}

/** The pre-flight answer to a plain GET /ws[?room=id] (§1): welcome without type. */
interface PreflightAnswer {
  version: number;
  createPasswordRequired: boolean;
  limits: ServerLimits;
  nodes?: string[];
  /** Absent when the id is malformed, over the join rate, or the server cannot tell. */
  room?: { exists: boolean; peers: number };
}

/** The answer to a join or a resume (§2, §6). */
interface JoinedMessage {
  type: 'joined';
  room: string;
  id: string;
  /** Ours, as the others see it. */
  name: string;
  peers: RosterPeer[];
  iceServers: RTCIceServer[];
  /** RFC 3339; absent when the credentials do not expire. */
  iceServersExpireAt?: string;
  resumeToken?: string;
  resumed: boolean;
  /** The resume took a place back after a restart of the server. */
  restarted?: boolean;
  limits: ServerLimits;
}

interface PeerJoinedMessage {
  type: 'peer-joined';
  peer: RosterPeer;
}

interface PeerLeftMessage {
  type: 'peer-left';
  id: string;
  /** 'left' or 'gone'; clients must accept other values. */
  reason: string;
}

/** Another peer's name and state, stamped by the server (§3). */
interface StateEvent {
  type: 'state';
  from: string;
  name: string;
  state: PeerState;
}

/** An offer or answer relayed from another peer (§4); sdp is that peer's JSON. */
interface RelayedDescription {
  type: 'offer' | 'answer';
  from: string;
  sdp: unknown;
}

/** A candidate relayed from another peer (§4): normally RTCIceCandidateInit, null at the end. */
interface RelayedCandidate {
  type: 'candidate';
  from: string;
  candidate: unknown;
}

/** Fresh ICE servers (§5), pushed before the old ones expire or asked for. */
interface IceServersMessage {
  type: 'ice-servers';
  iceServers: RTCIceServer[];
  iceServersExpireAt?: string;
}

interface PongMessage {
  type: 'pong';
}

/** A refused message (§8); the connection and the membership live on. */
interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  /** The id of the offending message, as sent. */
  ref?: string | number;
  /** The type of the offending message, when known. */
  refType?: string;
}

/** Every message the server sends, by type. */
type ServerMessage =
  | WelcomeMessage
  | JoinedMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | StateEvent
  | RelayedDescription
  | RelayedCandidate
  | IceServersMessage
  | PongMessage
  | ErrorMessage;

/** Join or create a room (room ''), or take a place back (resume) (§2, §6). */
interface JoinMessage {
  type: 'join';
  room?: string;
  name?: string;
  password?: string;
  resume?: string;
  state?: PeerState;
  id?: string | number;
}

/** Our name and state; each optional (absent = unchanged) (§3). */
interface StateUpdate {
  type: 'state';
  name?: string;
  state?: PeerState;
}

/** An offer or answer for one peer (§4). */
interface DescriptionOut {
  type: 'offer' | 'answer';
  to: string;
  sdp: string;
}

/** A candidate for one peer (§4); null ends the candidates. */
interface CandidateOut {
  type: 'candidate';
  to: string;
  candidate: RTCIceCandidateInit | null;
}

/** Every message the page sends, by type (ice-servers asks for a fresh set, §5). */
type ClientMessage =
  | JoinMessage
  | StateUpdate
  | DescriptionOut
  | CandidateOut
  | { type: 'ice-servers' }
  | { type: 'leave' }
  | { type: 'ping' };
