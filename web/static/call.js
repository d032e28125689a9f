// @ts-check
// The call: the room as seen from this page. It turns signaling messages
// into Peer objects (one RTCPeerConnection per other participant, a mesh),
// sends our tracks to all of them, carries chat and files over their data
// channels, and keeps the roster. No DOM here: the UI listens to events.
//
// Events (detail): 'peer-added' (id), 'peer-removed' (id), 'peer-updated' (id),
// 'arrived' (id: someone joined after us), 'departed' ({id, name}: someone
// left), 'tracks' (id), 'levels' (Map id -> audio level 0..1, 'self' for
// us), 'chat' ({from, name, text, ts, self}), 'file' ({transfer, incoming,
// peerID}), 'self' (our roster entry changed), 'error' ({code, message}),
// 'ended' (reason: the call is over and everything is released).
//
// Ending and reconnecting are separate paths. While the signaling client
// reconnects (status 'reconnecting') the call keeps its peers and media:
// peer-to-peer media does not ride on signaling. end() is the one way out:
// whatever ends the call (leave, replaced, room gone, refusal, page hidden
// for good) calls it, and it stops every local track, closes every peer
// connection and data channel, and clears every timer of the call.

import { Peer } from './peer.js';
import { FileSend, FileReceive } from './files.js';
import { onlyTURN } from './netcheck.js';

/**
 * One other participant: its connection, what the server says of it, and
 * (after a restart of the server) the timer awaiting its return.
 * @typedef {object} CallPeer
 * @property {Peer} peer
 * @property {{id: string, name: string, state: Partial<PeerState>}} info
 * @property {ReturnType<typeof setTimeout>|0} [away]
 */

const MAX_CHAT = 4000; // characters per chat message
const LEVELS_MS = 300; // how often the speakers' audio levels are read
const AWAY_SLACK_MS = 10000; // after a server restart, how much longer than the grace a peer is awaited

/**
 * The RTCConfiguration of every peer connection. max-bundle puts audio,
 * video, the screen and the data channels on one transport and rtcp-mux
 * puts RTCP on the RTP port, so a connection gathers one candidate per
 * network and ICE server URL instead of one per media section and
 * component: with relay forced and TURN over UDP, TCP and TLS that is 3
 * TURN allocations per connection instead of 12 or more, which lets a full
 * room of 6 fit the per-user allocation quota with room to spare. Every
 * browser the page supports does BUNDLE and rtcp-mux.
 * @param {RTCIceServer[]} iceServers
 * @param {boolean} relayOnly
 * @returns {RTCConfiguration}
 */
export function rtcConfig(iceServers, relayOnly) {
  return {
    iceServers,
    iceTransportPolicy: relayOnly ? 'relay' : 'all',
    bundlePolicy: 'max-bundle',
    rtcpMuxPolicy: 'require',
  };
}

/**
 * Video budget per sender by number of other participants (mesh). While
 * the screen is shared the camera gets less and the screen, whose text
 * must stay legible, keeps its resolution.
 * @param {number} others
 * @param {boolean} [sharing]
 * @returns {{camera: RTCRtpEncodingParameters, screen: RTCRtpEncodingParameters|null}}
 */
export function videoCap(others, sharing = false) {
  let cam;
  if (others <= 1) cam = { maxBitrate: 1_500_000, scaleResolutionDownBy: 1 };
  else if (others <= 3) cam = { maxBitrate: 700_000, scaleResolutionDownBy: 1.5 };
  else cam = { maxBitrate: 350_000, scaleResolutionDownBy: 2 };
  if (!sharing) return { camera: cam, screen: null };
  return {
    camera: { maxBitrate: Math.min(cam.maxBitrate, 300_000), scaleResolutionDownBy: Math.max(cam.scaleResolutionDownBy, 2) },
    screen: { maxBitrate: others <= 1 ? 1_500_000 : others <= 3 ? 1_000_000 : 600_000, scaleResolutionDownBy: 1 },
  };
}

export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {import('./signaling.js').Signaling} o.signaling joined already
   * @param {boolean} o.relayOnly iceTransportPolicy "relay"
   * @param {MediaStream} o.stream our local stream (may have no tracks)
   * @param {Partial<PeerState>} [o.state] our initial public state
   * @param {string} o.name our display name
   */
  constructor({ signaling, relayOnly, stream, state, name }) {
    super();
    this.sig = signaling;
    this.relayOnly = !!relayOnly;
    this.stream = stream;
    /** @type {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} */
    this.tracks = { audio: stream.getAudioTracks()[0] || null, video: stream.getVideoTracks()[0] || null };
    this.state = { muted: false, cameraOff: false, sharing: false, recording: false, ...state };
    this.name = name;
    this.selfID = '';
    this.room = '';
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {Partial<ServerLimits>} */
    this.limits = {};
    /** @type {Map<string, CallPeer>} */
    this.peers = new Map();
    // The one TURN URL connections use ('' = all), chosen by the network
    // check before the first connection: with UDP, TCP and TLS offered a
    // connection would otherwise hold three allocations per network.
    this.turnURL = '';
    this.started = false; // onJoined has run; signaling messages wait until then
    /** @type {ServerMessage[]} */
    this.early = [];
    /** @type {MediaStreamTrack|null} */
    this.screen = null;
    this.screenStream = new MediaStream(); // its id tells the others which track is the screen
    this.ended = false;
    this.onSigMessage = (/** @type {CustomEvent<ServerMessage>} */ e) => this.onMessage(e.detail);
    this.onSigJoined = (/** @type {CustomEvent<JoinedMessage>} */ e) => this.onJoined(e.detail);
    this.sig.addEventListener('message', this.onSigMessage);
    this.sig.addEventListener('joined', this.onSigJoined);
    this.readingLevels = false; // a readLevels is waiting for statistics
    this.levelTimer = setInterval(() => this.readLevels(), LEVELS_MS);
    this.localLevel = localLevelReader();
  }

  /**
   * @param {string} type
   * @param {unknown} [detail]
   */
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  config() { return rtcConfig(onlyTURN(this.iceServers, this.turnURL), this.relayOnly); }

  /**
   * Starts the call: the first joined message, with the TURN URL the
   * network check found best ('' = all). Room events that came meanwhile
   * are handled now, in order.
   * @param {JoinedMessage} joined
   * @param {string} [turnURL]
   */
  start(joined, turnURL = '') {
    this.turnURL = turnURL;
    this.onJoined(joined);
    this.started = true;
    for (const m of this.early.splice(0)) this.onMessage(m);
  }

  /**
   * Handles a joined message: the first one, a resume, or a rejoin under a new id.
   * @param {JoinedMessage} m
   */
  onJoined(m) {
    this.room = m.room;
    this.iceServers = Array.isArray(m.iceServers) ? m.iceServers : [];
    this.limits = m.limits || this.limits;
    const present = new Map((m.peers || []).map((p) => [p.id, p]));
    if (m.resumed && m.id === this.selfID) {
      // Same identity: keep the connections that still have a peer. After
      // a restart of the server (restarted) the roster holds only those
      // back already: the others keep their connection while they may
      // still come back (awaitReturn).
      const iceServers = onlyTURN(this.iceServers, this.turnURL);
      for (const [id, e] of [...this.peers]) {
        if (present.has(id)) continue;
        if (m.restarted) {
          e.peer.setConfiguration({ iceServers });
          this.awaitReturn(id);
        } else {
          this.removePeer(id);
        }
      }
      for (const [id, p] of present) {
        const e = this.peers.get(id);
        if (e) {
          this.returned(id);
          e.peer.setConfiguration({ iceServers });
          this.updateInfo(id, p);
          const st = e.peer.state;
          // The relay's allocations died with the server's process (or
          // with the node we failed over from): a relayed connection
          // restarts ICE on the fresh credentials; a direct one is left
          // alone (its media never stopped). An offer of ours that went
          // into a socket which had died silently (a network change)
          // never arrived, and no answer or ICE restart can come while it
          // is pending: it goes again.
          e.peer.resendOffer();
          if (m.restarted) e.peer.restartIfRelayed('the server restarted');
          else if (this.sig.moved) e.peer.restartIfRelayed('moved to another node');
          else if (st === 'failed' || st === 'disconnected') e.peer.restart('signaling resumed');
        } else {
          this.addPeer(p, true);
        }
      }
      return;
    }
    // A new identity: everything starts over, and we are the newcomer.
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    this.selfID = m.id;
    this.emit('self');
    this.sig.sendState(this.state);
    for (const p of present.values()) this.addPeer(p, true);
  }

  /** @param {ServerMessage} m a room event */
  onMessage(m) {
    if (this.ended) return;
    if (!this.started) { this.early.push(m); return; }
    switch (m.type) {
      case 'peer-joined': {
        if (!m.peer || m.peer.id === this.selfID) break;
        const e = this.peers.get(m.peer.id);
        if (e) {
          // Back under its old id after a restart of the server: keep the
          // connection. It restarts ICE if it needs to (it sees us in its
          // roster); an offer of ours it may have missed while away goes again.
          this.returned(m.peer.id);
          this.updateInfo(m.peer.id, m.peer);
          e.peer.resendOffer();
          break;
        }
        this.addPeer(m.peer, false);
        this.emit('arrived', m.peer.id);
        break;
      }
      case 'peer-left': {
        const name = this.peers.get(m.id)?.info.name;
        if (name === undefined) break;
        this.removePeer(m.id);
        this.emit('departed', { id: m.id, name });
        break;
      }
      case 'state':
        if (this.peers.has(m.from)) this.updateInfo(m.from, m);
        break;
      case 'offer':
      case 'answer': {
        const e = this.peers.get(m.from);
        if (e && typeof m.sdp === 'string') e.peer.handleSignal({ description: { type: m.type, sdp: m.sdp } });
        break;
      }
      case 'candidate': {
        const e = this.peers.get(m.from);
        if (e && m.candidate) e.peer.handleSignal({ candidate: m.candidate });
        break;
      }
      case 'ice-servers':
        if (Array.isArray(m.iceServers)) {
          this.iceServers = m.iceServers;
          for (const { peer } of this.peers.values()) peer.setConfiguration({ iceServers: onlyTURN(this.iceServers, this.turnURL) });
        }
        break;
      case 'error':
        this.emit('error', { code: m.code, message: m.message });
        break;
    }
  }

  /**
   * Adds a connection to p. The newcomer (we, for peers listed in joined)
   * is impolite and offers first; perfect negotiation sorts out the rest.
   * @param {RosterPeer} p
   * @param {boolean} newcomer
   */
  addPeer(p, newcomer) {
    if (this.ended) return;
    if (this.peers.has(p.id)) { this.updateInfo(p.id, p); return; }
    const peer = new Peer({ peerID: p.id, polite: !newcomer, waitForOffer: !newcomer, config: this.config() });
    const info = { id: p.id, name: cleanName(p.name), state: { ...(p.state || {}) } };
    this.peers.set(p.id, { peer, info });
    peer.addEventListener('signal', (/** @type {CustomEvent} */ e) => {
      const s = e.detail;
      if (s.description) this.sig.send({ type: s.description.type, to: p.id, sdp: s.description.sdp });
      else this.sig.send({ type: 'candidate', to: p.id, candidate: s.candidate });
    });
    peer.addEventListener('tracks', () => this.emit('tracks', p.id));
    peer.addEventListener('state', () => {
      if (peer.state === 'connected') this.applyCaps();
      // A connection that failed on the chosen TURN URL gets all of them
      // for its ICE restart: the network may have changed under it.
      if (peer.state === 'failed' && this.turnURL) peer.setConfiguration({ iceServers: this.iceServers });
      this.emit('peer-updated', p.id);
    });
    peer.addEventListener('chat', (/** @type {CustomEvent} */ e) => this.onChat(p.id, e.detail));
    peer.addEventListener('datachannel', (/** @type {CustomEvent<RTCDataChannel>} */ e) => this.onChannel(p.id, e.detail));
    for (const kind of /** @type {const} */ (['audio', 'video', 'screen'])) {
      const t = this.outgoing(kind);
      if (t) peer.setTrack(kind, t, kind === 'screen' ? this.screenStream : this.stream);
    }
    this.emit('peer-added', p.id);
    this.applyCaps();
  }

  /**
   * After a restart of the server, a peer not back yet keeps its
   * connection for the resume grace (and a little more: it may have
   * reconnected later than we did); gone if it does not return by then.
   * @param {string} id
   */
  awaitReturn(id) {
    const e = this.peers.get(id);
    if (!e || e.away) return;
    const wait = (this.limits.resumeGraceMs || 20000) + AWAY_SLACK_MS;
    e.away = setTimeout(() => {
      const name = this.peers.get(id)?.info.name;
      if (name === undefined) return;
      this.removePeer(id);
      this.emit('departed', { id, name });
    }, wait);
  }

  /**
   * A peer awaited after a restart is back.
   * @param {string} id
   */
  returned(id) {
    const e = this.peers.get(id);
    if (!e || !e.away) return;
    clearTimeout(e.away);
    e.away = 0;
  }

  removePeer(id) {
    const e = this.peers.get(id);
    if (!e) return;
    clearTimeout(e.away);
    this.peers.delete(id);
    e.peer.close();
    this.emit('peer-removed', id);
    this.applyCaps();
  }

  /**
   * @param {string} id
   * @param {{name?: string, state?: Partial<PeerState>}} p a roster entry or a state event
   */
  updateInfo(id, p) {
    const e = this.peers.get(id);
    if (!e) return;
    if (typeof p.name === 'string') e.info.name = cleanName(p.name);
    if (p.state && typeof p.state === 'object') e.info.state = { ...p.state };
    this.emit('peer-updated', id);
  }

  /**
   * The track we send for a kind: 'audio', 'video' (the camera) or 'screen'.
   * @param {'audio'|'video'|'screen'} kind
   * @returns {MediaStreamTrack|null}
   */
  outgoing(kind) {
    if (kind === 'screen') return this.screen;
    if (kind === 'video') return this.state.cameraOff ? null : this.tracks.video;
    return this.tracks.audio;
  }

  /**
   * Replaces our camera or microphone track (device change), on every peer, without renegotiation.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  setLocalTrack(kind, track) {
    const old = this.tracks[kind];
    if (old && old !== track) { this.stream.removeTrack(old); old.stop(); }
    this.tracks[kind] = track;
    if (track) {
      this.stream.addTrack(track);
      if (kind === 'audio') track.enabled = !this.state.muted;
    }
    this.pushTrack(kind);
  }

  /** @param {'audio'|'video'|'screen'} kind */
  pushTrack(kind) {
    const t = this.outgoing(kind);
    const stream = kind === 'screen' ? this.screenStream : this.stream;
    for (const { peer } of this.peers.values()) peer.setTrack(kind, t, stream);
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    if (this.tracks.audio) this.tracks.audio.enabled = !muted;
    this.setState({ muted });
  }

  /**
   * Camera off stops the track (the light goes out); on needs a fresh track.
   * @param {boolean} off
   * @param {MediaStreamTrack|null} [track]
   */
  setCameraOff(off, track) {
    this.setState({ cameraOff: off });
    if (off) {
      const old = this.tracks.video;
      if (old) { this.stream.removeTrack(old); old.stop(); }
      this.tracks.video = null;
      this.pushTrack('video');
    } else if (track) {
      this.setLocalTrack('video', track);
    }
  }

  /**
   * Shares a screen track (null stops): an extra video track next to the
   * camera, which keeps going. The first share adds a sender (one
   * renegotiation); later ones replace its track.
   * @param {MediaStreamTrack|null} track
   */
  setScreen(track) {
    if (this.screen && this.screen !== track) {
      this.screenStream.removeTrack(this.screen);
      this.screen.stop();
    }
    this.screen = track || null;
    if (track) {
      track.contentHint = 'detail';
      this.screenStream.addTrack(track);
    }
    this.setState({ sharing: !!track });
    this.pushTrack('screen');
    this.applyCaps();
  }

  /** @param {boolean} on */
  setRecording(on) { this.setState({ recording: on }); }

  /** @param {Partial<PeerState>} partial */
  setState(partial) {
    this.state = { ...this.state, ...partial };
    this.sig.sendState(this.state);
    this.emit('self');
  }

  /** @param {string} name */
  setName(name) {
    this.name = cleanName(name);
    this.sig.sendState(this.state, this.name);
    this.emit('self');
  }

  /**
   * Relay only: hides our address from the others; restarts ICE on every peer.
   * @param {boolean} on
   */
  setRelayOnly(on) {
    this.relayOnly = !!on;
    for (const { peer } of this.peers.values()) peer.setConfiguration(this.config());
  }

  applyCaps() {
    const cap = videoCap(this.peers.size, !!this.screen);
    for (const { peer } of this.peers.values()) {
      peer.capVideo(cap.camera, 'video');
      if (cap.screen) peer.capVideo(cap.screen, 'screen');
    }
  }

  /** Emits 'levels': each peer's audio level, and ours ('self') unless muted. */
  async readLevels() {
    if (this.readingLevels) return; // a slow getStats: skip a turn
    this.readingLevels = true;
    try {
      /** @type {Map<string, number>} */
      const levels = new Map();
      await Promise.all([...this.peers].map(async ([id, { peer, info }]) => {
        const level = await peer.audioLevel();
        levels.set(id, info.state?.muted ? 0 : level);
      }));
      levels.set('self', this.state.muted ? 0 : this.localLevel.read(this.tracks.audio));
      if (!this.ended) this.emit('levels', levels);
    } finally {
      this.readingLevels = false;
    }
  }

  /**
   * Sends a chat message to everyone and shows it here ('chat', self).
   * @param {string} text
   */
  sendChat(text) {
    text = String(text).slice(0, MAX_CHAT);
    if (!text.trim()) return;
    const msg = { type: 'chat', text, ts: Date.now() };
    for (const { peer } of this.peers.values()) peer.sendChat(msg);
    this.emit('chat', { from: this.selfID, name: this.name, text, ts: msg.ts, self: true });
  }

  /**
   * @param {string} from peer id
   * @param {any} m what the peer's chat channel carried
   */
  onChat(from, m) {
    if (!m || m.type !== 'chat' || typeof m.text !== 'string') return;
    const e = this.peers.get(from);
    // The name is the one the server knows, not one the message claims.
    this.emit('chat', { from, name: e ? e.info.name : '', text: m.text.slice(0, MAX_CHAT), ts: Date.now(), self: false });
  }

  /**
   * Sends file to one peer id, or to everyone when to is ''.
   * @param {File} file
   * @param {string} [to]
   */
  sendFile(file, to = '') {
    const targets = to ? [to] : [...this.peers.keys()];
    for (const id of targets) {
      const e = this.peers.get(id);
      if (!e) continue;
      const t = new FileSend(e.peer.createChannel('file'), file);
      this.emit('file', { transfer: t, incoming: false, peerID: id, name: file.name, size: file.size });
    }
  }

  /**
   * @param {string} from peer id
   * @param {RTCDataChannel} ch a channel the peer opened
   */
  onChannel(from, ch) {
    if (ch.label !== 'file') { ch.close(); return; }
    const t = new FileReceive(ch);
    t.addEventListener('meta', (/** @type {CustomEvent<{name: string, size: number}>} */ e) => {
      this.emit('file', { transfer: t, incoming: true, peerID: from, name: e.detail.name, size: e.detail.size });
    }, { once: true });
  }

  /** Leaves the room (the server tells the others at once), then ends the call. */
  leave() {
    this.sig.leave();
    this.end('You left the call.');
  }

  /**
   * Ends the call for whatever reason: closes every peer connection (and
   * with it every data channel and file transfer), stops every local
   * track (camera, microphone, screen: the lights go out), clears the
   * call's timers and stops listening to signaling. Safe to call twice.
   * @param {string} [reason] what the person is told
   */
  end(reason = '') {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.levelTimer);
    this.localLevel.close();
    this.sig.removeEventListener('message', this.onSigMessage);
    this.sig.removeEventListener('joined', this.onSigJoined);
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    for (const t of this.stream.getTracks()) t.stop();
    for (const t of Object.values(this.tracks)) t?.stop();
    if (this.screen) this.screen.stop();
    this.emit('ended', reason);
  }
}

/**
 * Reads the loudness of our own microphone (0..1) with an analyser; the
 * audio graph is built lazily for the current track and rebuilt when the
 * track changes.
 * @returns {{read: (t: MediaStreamTrack|null) => number, close: () => void}}
 */
function localLevelReader() {
  let ctx = null, an = null, track = null, buf = null;
  return {
    read(t) {
      if (!t || t.readyState !== 'live' || typeof AudioContext === 'undefined') return 0;
      if (t !== track) {
        track = t;
        ctx ||= new AudioContext();
        an = ctx.createAnalyser();
        an.fftSize = 512;
        buf = new Float32Array(an.fftSize);
        ctx.createMediaStreamSource(new MediaStream([t])).connect(an);
      }
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      return Math.min(1, Math.sqrt(sum / buf.length) * 4);
    },
    close() { ctx?.close(); ctx = null; track = null; },
  };
}

/**
 * Names as the server allows them: at most 64 characters, no control characters.
 * @param {unknown} s
 * @returns {string}
 */
export function cleanName(s) {
  // eslint-disable-next-line no-control-regex
  return String(s || '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 64);
}
