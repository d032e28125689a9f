// The call: the room as seen from this page. It turns signaling messages
// into Peer objects (one RTCPeerConnection per other participant, a mesh),
// sends our tracks to all of them, carries chat and files over their data
// channels, and keeps the roster. No DOM here: the UI listens to events.
//
// Events (detail): 'peer-added' (id), 'peer-removed' (id), 'peer-updated' (id),
// 'tracks' (id), 'chat' ({from, name, text, ts, self}), 'file' ({transfer,
// incoming, peerID}), 'self' (our roster entry changed), 'error' ({code, message}).

import { Peer } from './peer.js';
import { FileSend, FileReceive } from './files.js';

const MAX_CHAT = 4000; // characters per chat message

/** Video budget per sender by number of other participants (mesh). */
export function videoCap(others) {
  if (others <= 1) return { maxBitrate: 1_500_000, scaleResolutionDownBy: 1 };
  if (others <= 3) return { maxBitrate: 700_000, scaleResolutionDownBy: 1.5 };
  return { maxBitrate: 350_000, scaleResolutionDownBy: 2 };
}

export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {import('./signaling.js').Signaling} o.signaling joined already
   * @param {boolean} o.relayOnly iceTransportPolicy "relay"
   * @param {MediaStream} o.stream our local stream (may have no tracks)
   * @param {object} o.state our initial public state
   * @param {string} o.name our display name
   */
  constructor({ signaling, relayOnly, stream, state, name }) {
    super();
    this.sig = signaling;
    this.relayOnly = !!relayOnly;
    this.stream = stream;
    this.tracks = { audio: stream.getAudioTracks()[0] || null, video: stream.getVideoTracks()[0] || null };
    this.state = { muted: false, cameraOff: false, sharing: false, recording: false, ...state };
    this.name = name;
    this.selfID = '';
    this.room = '';
    this.iceServers = [];
    this.limits = {};
    /** @type {Map<string, {peer: Peer, info: {id: string, name: string, state: object}}>} */
    this.peers = new Map();
    this.sig.addEventListener('message', (e) => this.onMessage(e.detail));
    this.sig.addEventListener('joined', (e) => this.onJoined(e.detail));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  config() {
    return { iceServers: this.iceServers, iceTransportPolicy: this.relayOnly ? 'relay' : 'all' };
  }

  /** Handles a joined message: the first one, a resume, or a rejoin under a new id. */
  onJoined(m) {
    this.room = m.room;
    this.iceServers = Array.isArray(m.iceServers) ? m.iceServers : [];
    this.limits = m.limits || this.limits;
    const present = new Map((m.peers || []).map((p) => [p.id, p]));
    if (m.resumed && m.id === this.selfID) {
      // Same identity: keep the connections that still have a peer.
      for (const id of [...this.peers.keys()]) if (!present.has(id)) this.removePeer(id);
      for (const [id, p] of present) {
        const e = this.peers.get(id);
        if (e) {
          e.peer.setConfiguration({ iceServers: this.iceServers });
          this.updateInfo(id, p);
          const st = e.peer.state;
          if (st === 'failed' || st === 'disconnected') e.peer.restart('signaling resumed');
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

  onMessage(m) {
    switch (m.type) {
      case 'peer-joined':
        if (m.peer && m.peer.id !== this.selfID) this.addPeer(m.peer, false);
        break;
      case 'peer-left':
        this.removePeer(m.id);
        break;
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
          for (const { peer } of this.peers.values()) peer.setConfiguration({ iceServers: this.iceServers });
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
   */
  addPeer(p, newcomer) {
    if (this.peers.has(p.id)) { this.updateInfo(p.id, p); return; }
    const peer = new Peer({ peerID: p.id, polite: !newcomer, waitForOffer: !newcomer, config: this.config() });
    const info = { id: p.id, name: cleanName(p.name), state: { ...(p.state || {}) } };
    this.peers.set(p.id, { peer, info });
    peer.addEventListener('signal', (e) => {
      const s = e.detail;
      if (s.description) this.sig.send({ type: s.description.type, to: p.id, sdp: s.description.sdp });
      else this.sig.send({ type: 'candidate', to: p.id, candidate: s.candidate });
    });
    peer.addEventListener('tracks', () => this.emit('tracks', p.id));
    peer.addEventListener('state', () => {
      if (peer.state === 'connected') this.applyCaps();
      this.emit('peer-updated', p.id);
    });
    peer.addEventListener('chat', (e) => this.onChat(p.id, e.detail));
    peer.addEventListener('datachannel', (e) => this.onChannel(p.id, e.detail));
    for (const kind of ['audio', 'video']) {
      const t = this.outgoing(kind);
      if (t) peer.setTrack(kind, t, this.stream);
    }
    this.emit('peer-added', p.id);
    this.applyCaps();
  }

  removePeer(id) {
    const e = this.peers.get(id);
    if (!e) return;
    this.peers.delete(id);
    e.peer.close();
    this.emit('peer-removed', id);
    this.applyCaps();
  }

  updateInfo(id, p) {
    const e = this.peers.get(id);
    if (!e) return;
    if (typeof p.name === 'string') e.info.name = cleanName(p.name);
    if (p.state && typeof p.state === 'object') e.info.state = { ...p.state };
    this.emit('peer-updated', id);
  }

  /** The track we send for a kind: the screen wins over the camera. */
  outgoing(kind) {
    if (kind === 'video') {
      if (this.screen) return this.screen;
      return this.state.cameraOff ? null : this.tracks.video;
    }
    return this.tracks.audio;
  }

  /** Replaces our camera or microphone track (device change), on every peer, without renegotiation. */
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

  pushTrack(kind) {
    const t = this.outgoing(kind);
    for (const { peer } of this.peers.values()) peer.setTrack(kind, t, this.stream);
  }

  setMuted(muted) {
    if (this.tracks.audio) this.tracks.audio.enabled = !muted;
    this.setState({ muted });
  }

  /** Camera off stops the track (the light goes out); on needs a fresh track. */
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

  setScreen(track) {
    if (this.screen && this.screen !== track) this.screen.stop();
    this.screen = track || null;
    this.setState({ sharing: !!track });
    this.pushTrack('video');
  }

  setRecording(on) { this.setState({ recording: on }); }

  setState(partial) {
    this.state = { ...this.state, ...partial };
    this.sig.sendState(this.state);
    this.emit('self');
  }

  setName(name) {
    this.name = cleanName(name);
    this.sig.sendState(this.state, this.name);
    this.emit('self');
  }

  /** Relay only: hides our address from the others; restarts ICE on every peer. */
  setRelayOnly(on) {
    this.relayOnly = !!on;
    for (const { peer } of this.peers.values()) peer.setConfiguration(this.config());
  }

  applyCaps() {
    const cap = videoCap(this.peers.size);
    for (const { peer } of this.peers.values()) peer.capVideo(cap);
  }

  /** Sends a chat message to everyone; returns it as shown locally. */
  sendChat(text) {
    text = String(text).slice(0, MAX_CHAT);
    if (!text.trim()) return;
    const msg = { type: 'chat', text, ts: Date.now() };
    for (const { peer } of this.peers.values()) peer.sendChat(msg);
    this.emit('chat', { from: this.selfID, name: this.name, text, ts: msg.ts, self: true });
  }

  onChat(from, m) {
    if (!m || m.type !== 'chat' || typeof m.text !== 'string') return;
    const e = this.peers.get(from);
    // The name is the one the server knows, not one the message claims.
    this.emit('chat', { from, name: e ? e.info.name : '', text: m.text.slice(0, MAX_CHAT), ts: Date.now(), self: false });
  }

  /** Sends file to one peer id, or to everyone when to is ''. */
  sendFile(file, to = '') {
    const targets = to ? [to] : [...this.peers.keys()];
    for (const id of targets) {
      const e = this.peers.get(id);
      if (!e) continue;
      const t = new FileSend(e.peer.createChannel('file'), file);
      this.emit('file', { transfer: t, incoming: false, peerID: id, name: file.name, size: file.size });
    }
  }

  onChannel(from, ch) {
    if (ch.label !== 'file') { ch.close(); return; }
    const t = new FileReceive(ch);
    t.addEventListener('meta', (e) => {
      this.emit('file', { transfer: t, incoming: true, peerID: from, name: e.detail.name, size: e.detail.size });
    }, { once: true });
  }

  /** Leaves the room and closes every connection. */
  leave() {
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    this.sig.leave();
    for (const t of this.stream.getTracks()) t.stop();
    if (this.screen) this.screen.stop();
  }
}

/** Names as the server allows them: at most 64 characters, no control characters. */
export function cleanName(s) {
  // eslint-disable-next-line no-control-regex
  return String(s || '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 64);
}
