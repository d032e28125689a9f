// @ts-check
// The signaling client: one WebSocket to /ws speaking docs/protocol.md.
// It joins a room, keeps the connection alive with application pings,
// and after a drop reconnects with backoff and resumes with the resume
// token, so a short network cut does not end the call. In a cluster it
// fails over: when its node does not answer it tries the others welcome
// listed (docs/cluster.md), with the same token. Outgoing messages sent
// while disconnected are queued and flushed after a resume.
// Events: 'message' (every server message after the first joined, detail =
// the message), 'joined' (detail = joined message, also after a resume or
// rejoin), 'status' (detail = 'connecting'|'connected'|'reconnecting'|'closed'),
// 'fatal' (detail = reason).
// The messages' types are in web/types/protocol.d.ts (make jscheck).

const PING_MS = 10000; // app-level ping: browsers cannot see WS pings
const DEAD_MS = 25000; // no message for this long: the connection is dead
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
const QUEUE_MAX = 500;
const CONNECT_MS = 6000; // a reconnect not open by then tries the next node
const GIVE_UP_SLACK_MS = 30000; // no node reached for the resume grace and this long: the call ends
const NODES_MAX = 16;

// Set ?debug=1 (or window.__streamsyncDebug) to log the signaling traffic,
// without SDP and candidate bodies, on the console.
const DEBUG = globalThis.__streamsyncDebug || new URLSearchParams(location.search).has('debug');

/**
 * @param {'<-'|'->'} dir
 * @param {ServerMessage|ClientMessage} m
 */
function trace(dir, m) {
  if (!DEBUG) return;
  const { sdp, candidate, resumeToken, resume, password, iceServers, ...rest } = /** @type {any} */ (m);
  if (candidate && typeof candidate.candidate === 'string') rest.typ = /typ (\w+)/.exec(candidate.candidate)?.[1];
  console.debug('signaling', dir, JSON.stringify(rest));
}

/** Error returned by join when the server answers with an error message. */
export class SignalingError extends Error {
  /**
   * @param {string} code the protocol's error code, or 'connect'
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/** The WebSocket URL of the signaling endpoint for this page. */
export function signalingURL(loc = location) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/ws';
}

/**
 * The WebSocket URL of the signaling endpoint of a cluster node, from its
 * public URL ("https://b.example.com/call" gives "wss://b.example.com/call/ws"),
 * or '' when it is not an http(s) URL.
 * @param {string} base
 * @returns {string}
 */
export function nodeSignalingURL(base) {
  let u;
  try { u = new URL(base); } catch { return ''; }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || !u.host) return '';
  return (u.protocol === 'https:' ? 'wss://' : 'ws://') + u.host + u.pathname.replace(/\/+$/, '') + '/ws';
}

/**
 * The order a dropped page tries the nodes in: the one it was on, then
 * the one it came from, then the others in a random order (the pages of a
 * dead node spread over the rest). Each once.
 * @param {string} current
 * @param {string} home
 * @param {string[]} nodes
 * @returns {string[]}
 */
export function failoverOrder(current, home, nodes) {
  const others = nodes.filter((u) => u !== current && u !== home);
  for (let i = others.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [others[i], others[j]] = [others[j], others[i]];
  }
  return [...new Set([current, home, ...others])];
}

/**
 * Pre-flight: the welcome object (createPasswordRequired, limits) over
 * plain HTTP; with a room id, also room: {exists, peers} when the server
 * can tell.
 */
/** @returns {Promise<PreflightAnswer>} */
export async function preflight(room = '') {
  const q = room ? '?room=' + encodeURIComponent(room) : '';
  const r = await fetch('/ws' + q, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!r.ok) throw new Error('signaling pre-flight: HTTP ' + r.status);
  return r.json();
}

export class Signaling extends EventTarget {
  constructor(url = signalingURL()) {
    super();
    this.url = url; // the node in use
    this.home = url; // the page's own node
    /** @type {string[]} */
    this.nodes = []; // the cluster's nodes' signaling URLs, from welcome
    /** @type {string[]} */
    this.rotation = []; // the nodes to try, in order, while reconnecting
    this.joinedURL = ''; // the node of the last joined
    this.moved = false; // the last joined came from another node than the one before
    this.downSince = 0; // when the connection dropped (0 while connected)
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {JoinedMessage|null} */
    this.joinedMsg = null; // last joined
    this.resumeToken = '';
    /** @type {JoinMessage|null} */
    this.joinRequest = null; // what to send to (re)join when resume fails
    /** @type {string|undefined} */
    this.name = undefined; // our name, once changed in the call (else joinRequest's)
    /** @type {ClientMessage[]} */
    this.queue = [];
    this.stopped = false;
    this.attempt = 0;
    this.timer = 0;
    this.pingTimer = 0;
    this.lastHeard = 0;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.openTimer = undefined; // a reconnect not open in time tries the next node (connect)
    /** @type {'connecting'|'connected'|'reconnecting'|'closed'} */
    this.status = 'closed';
    /**
     * The join waiting for its first joined, set by join().
     * @type {{resolve: (m: JoinedMessage) => void, reject: (err: Error) => void}|null|undefined}
     */
    this.pendingJoin = undefined;
    /**
     * The server's limits, from welcome and joined.
     * @type {Partial<ServerLimits>|undefined}
     */
    this.limits = undefined;
    /**
     * Our public state as last sent (sendState), for a rejoin.
     * @type {PeerState|undefined}
     */
    this.state = undefined;
    this.pagehide = () => this.leave();
    addEventListener('pagehide', this.pagehide);
    // The network changed (Wi-Fi to cellular, a new address): the socket
    // may be bound to an address that is gone, and nothing will tell us
    // for a long while. Reconnect now; the resume token keeps our place.
    this.netchange = () => {
      if (this.ws && this.joinedMsg && !this.stopped) this.abandon(this.ws, 4002, 'network changed');
    };
    addEventListener('online', this.netchange);
    if (navigator.connection) navigator.connection.addEventListener('change', this.netchange);
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  /** @param {Signaling['status']} s */
  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  /**
   * Connects and joins (or creates, with room '') a room. Resolves with the
   * joined message; rejects with a SignalingError (code from the protocol).
   * @param {{room?: string, name?: string, password?: string, state?: PeerState}} request
   * @returns {Promise<JoinedMessage>}
   */
  join({ room = '', name = '', password = '', state }) {
    this.joinRequest = { type: 'join', room, name, password, state };
    return new Promise((resolve, reject) => {
      this.pendingJoin = { resolve, reject };
      this.connect();
    });
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.setStatus(this.joinedMsg ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      // A URL the page may not open (Firefox throws for a node its policy
      // does not name): while reconnecting, on to the next node.
      if (this.joinedMsg) this.onClose(4004, String(err));
      else this.failJoin(new SignalingError('connect', String(err)));
      return;
    }
    this.ws = ws;
    clearTimeout(this.openTimer);
    if (this.joinedMsg) {
      // A node that is gone may not even refuse (its machine is off):
      // try the next one rather than wait for the browser to give up.
      this.openTimer = setTimeout(() => {
        if (this.ws === ws && ws.readyState === WebSocket.CONNECTING) this.drop(ws, 4003, 'connect timeout');
      }, CONNECT_MS);
    }
    ws.onopen = () => {
      clearTimeout(this.openTimer);
      this.lastHeard = Date.now();
      if (this.resumeToken) {
        // Name and state go along: a server restarted since the token was
        // issued takes them for the place it gives back (protocol §6).
        const r = this.joinRequest || /** @type {Partial<JoinMessage>} */ ({});
        this.raw({ type: 'join', resume: this.resumeToken, name: this.name ?? r.name ?? '', state: this.state || r.state });
      } else {
        this.raw(this.joinRequest);
      }
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepalive(ws), PING_MS);
    };
    ws.onmessage = (e) => {
      this.lastHeard = Date.now();
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m && typeof m.type === 'string') { trace('<-', m); this.onMessage(m); }
    };
    ws.onclose = (e) => {
      if (DEBUG) console.debug('signaling closed', e.code, e.reason);
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      this.onClose(e.code, e.reason);
    };
  }

  /** @param {WebSocket} ws */
  keepalive(ws) {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > DEAD_MS) {
      this.abandon(ws, 4001, 'no answer');
      return;
    }
    ws.send(JSON.stringify({ type: 'ping' }));
  }

  /**
   * Gives up on a socket at once: a socket whose address vanished may take
   * minutes to report its close, and the call cannot wait for it.
   * @param {WebSocket} ws
   * @param {number} code
   * @param {string} reason
   */
  abandon(ws, code, reason) {
    if (this.ws === ws) this.attempt = 0;
    this.drop(ws, code, reason);
  }

  /**
   * Closes a socket without waiting for it and goes on as if it had closed.
   * @param {WebSocket} ws
   * @param {number} code
   * @param {string} reason
   */
  drop(ws, code, reason) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch { /* already closing */ }
    if (this.ws !== ws) return;
    clearInterval(this.pingTimer);
    this.ws = null;
    this.onClose(code, reason);
  }

  /** @param {ServerMessage} m */
  onMessage(m) {
    switch (m.type) {
      case 'welcome':
        this.limits = m.limits || {};
        if (Array.isArray(m.nodes)) {
          this.nodes = m.nodes.slice(0, NODES_MAX).map((n) => (typeof n === 'string' ? nodeSignalingURL(n) : '')).filter(Boolean);
        }
        return;
      case 'pong':
        return;
      case 'joined':
        this.attempt = 0;
        this.downSince = 0;
        this.moved = this.joinedURL !== '' && this.joinedURL !== this.url;
        this.joinedURL = this.url;
        this.joinedMsg = m;
        this.limits = m.limits || this.limits;
        this.resumeToken = m.resumeToken || '';
        this.setStatus('connected');
        if (this.pendingJoin) {
          this.pendingJoin.resolve(m);
          this.pendingJoin = null;
        } else {
          this.emit('joined', m);
        }
        if (m.resumed) this.flush();
        else this.queue = []; // a new identity: old messages are meaningless
        return;
      case 'error':
        if (m.code === 'resume-failed' && this.joinRequest) {
          // Our place is gone: join the room again as a new peer.
          this.resumeToken = '';
          const room = this.joinedMsg ? this.joinedMsg.room : this.joinRequest.room;
          this.raw({ ...this.joinRequest, room, state: this.state || this.joinRequest.state });
          return;
        }
        if (this.pendingJoin && (m.refType === 'join' || !m.refType)) {
          this.failJoin(new SignalingError(m.code, m.message));
          return;
        }
        if (!this.pendingJoin && m.refType === 'join' && this.status !== 'connected') {
          // Rejoining after a failed resume did not work either: give up.
          const why = {
            'room-not-found': 'The meeting ended while you were disconnected.',
            'room-full': 'The meeting filled up while you were disconnected.',
          }[m.code] || 'The server did not let you back into the meeting. Rejoin to try again.';
          if (this.ws) this.ws.close(1000);
          this.stop(why);
          return;
        }
        break;
    }
    this.emit('message', m);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  onClose(code, reason) {
    if (this.stopped) { this.setStatus('closed'); return; }
    if (code === 1000 || code === 4000) {
      this.stop(code === 4000 ? 'This call was opened again elsewhere.' : 'Disconnected.');
      return;
    }
    if (!this.joinedMsg) {
      // Never joined: the server refused (Origin, limits) or is not there.
      this.failJoin(new SignalingError('connect', reason || 'cannot reach the server'));
      return;
    }
    this.setStatus('reconnecting');
    const now = Date.now();
    if (!this.downSince) this.downSince = now;
    // No node answered for longer than any of them keeps our place.
    if (now - this.downSince > (this.limits?.resumeGraceMs || 20000) + GIVE_UP_SLACK_MS) {
      this.stop('The connection to the server was lost. Rejoin to try again.');
      return;
    }
    // The node we were on first (a short cut), then the others, one after
    // the other; the backoff grows with each round over the list.
    if (this.attempt === 0) this.rotation = failoverOrder(this.url, this.home, this.nodes);
    const round = Math.floor(this.attempt / this.rotation.length);
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** round) * (0.75 + Math.random() / 2);
    this.url = this.rotation[this.attempt % this.rotation.length];
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** @param {SignalingError} err */
  failJoin(err) {
    if (this.pendingJoin) {
      this.pendingJoin.reject(err);
      this.pendingJoin = null;
    }
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    clearInterval(this.pingTimer);
    this.setStatus('closed');
  }

  /**
   * Sends a message; while reconnecting it is queued for the resumed connection.
   * @param {ClientMessage} m
   */
  send(m) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.status === 'connected') {
      this.raw(m);
    } else if (!this.stopped && this.queue.length < QUEUE_MAX) {
      this.queue.push(m);
    }
  }

  /** @param {ClientMessage} m */
  raw(m) {
    trace('->', m);
    this.ws.send(JSON.stringify(m));
  }

  flush() {
    const q = this.queue.splice(0);
    for (const m of q) this.raw(m);
  }

  /**
   * Our public state; remembered so a rejoin after a failed resume keeps it.
   * @param {PeerState} state
   * @param {string} [name] our new name; absent: unchanged
   */
  sendState(state, name) {
    this.state = state;
    if (name !== undefined) this.name = name;
    /** @type {StateUpdate} */
    const m = { type: 'state', state };
    if (name !== undefined) m.name = name;
    this.send(m);
  }

  /** Leaves the room and stops reconnecting. */
  leave() {
    if (this.stopped) return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      try { this.raw({ type: 'leave' }); } catch { /* closing */ }
      this.ws.close(1000);
    }
    this.stop('You left the call.');
  }

  /** @param {string} reason what the person is told */
  stop(reason) {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.openTimer);
    clearInterval(this.pingTimer);
    removeEventListener('pagehide', this.pagehide);
    removeEventListener('online', this.netchange);
    if (navigator.connection) navigator.connection.removeEventListener('change', this.netchange);
    this.setStatus('closed');
    this.emit('fatal', reason);
  }
}
