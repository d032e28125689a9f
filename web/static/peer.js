// @ts-check
// One RTCPeerConnection to one other participant, run with the W3C
// "perfect negotiation" pattern: either side may offer at any time; on an
// offer collision the polite side rolls back and the impolite side ignores
// the incoming offer. Candidates that arrive before the remote description
// are queued. A connection that fails, or stays disconnected, is restarted
// with an ICE restart. This module knows nothing of the page or of the
// signaling wire format: it emits 'signal' events with {description} or
// {candidate} and takes the other side's through handleSignal.

import { selectedPath } from './stats.js';

const DISCONNECTED_GRACE_MS = 4000;
const RESTART_BACKOFF_MS = 5000;
const FIRST_OFFER_WAIT_MS = 5000;
// A connection still not connected this long after the last offer or
// answer is restarted: a lost candidate or a browser that stopped
// gathering after a rollback must not leave a black tile for good.
const STUCK_MS = 12000;
// A connection that settled on a relayed pair while a direct pair to the
// same peer works is moved there with an ICE restart: relaying costs the
// server bandwidth and the call delay. Chrome's controlling side does not
// always leave the first pair that worked for a better one. Checked this
// long after connecting, at most DIRECT_TRIES times per connection.
const DIRECT_CHECK_MS = 4000;
const DIRECT_TRIES = 2;

export class Peer extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.peerID the other side's peer id
   * @param {boolean} o.polite whether we yield on an offer collision
   * @param {boolean} o.waitForOffer hold our first offer until the other side's
   *   arrives (or a few seconds pass): the side already in the room lets the
   *   newcomer offer first, as docs/protocol.md recommends, so a call starts
   *   without an offer collision
   * @param {RTCConfiguration} o.config iceServers and iceTransportPolicy
   */
  constructor({ peerID, polite, config, waitForOffer = false }) {
    super();
    this.id = peerID;
    this.polite = !!polite;
    this.awaitingOffer = !!waitForOffer;
    this.deferred = false; // negotiation held back while awaitingOffer
    if (this.awaitingOffer) {
      this.offerTimer = setTimeout(() => this.endWait(), FIRST_OFFER_WAIT_MS);
    }
    this.pc = new RTCPeerConnection(config);
    this.policy = config.iceTransportPolicy || 'all';
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.pending = []; // candidates received before a remote description
    this.chain = Promise.resolve(); // serialises incoming signals
    /** @type {{audio: RTCRtpSender|null, video: RTCRtpSender|null, screen: RTCRtpSender|null}} */
    this.senders = { audio: null, video: null, screen: null };
    // What the other side sends: its camera and microphone in one stream,
    // its shared screen (an extra video track) in another. The screen's
    // stream id comes over the chat channel ('media'); until it does, every
    // track counts as camera or microphone.
    this.remoteStream = new MediaStream();
    this.remoteScreen = new MediaStream();
    /** @type {Map<MediaStreamTrack, string>} */
    this.remoteTracks = new Map(); // MediaStreamTrack -> the sender's stream id
    this.remoteScreenID = '';
    this.localScreenID = '';
    this.closed = false;
    this.disconnectTimer = 0;
    this.lastRestart = 0;
    this.directTries = 0;
    /** @type {{energy: number, duration: number}|null} */
    this.audioMark = null; // the received audio's energy and duration at the last audioLevel
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.restartTimer = undefined; // a restart held back by the backoff
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.stuckTimer = undefined; // the stuck-connection watchdog (watch)
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.directTimer = undefined; // the look for a better, direct pair (onState, preferDirect)

    const pc = this.pc;
    // Chat rides one negotiated channel (same id on both sides): no race on
    // who creates it, and it is ready as soon as SCTP is up.
    this.chat = pc.createDataChannel('chat', { negotiated: true, id: 0 });
    this.chat.onmessage = (e) => this.onChannelMessage(parseJSON(e.data));
    this.chat.onopen = () => { this.announceMedia(); this.emit('chat-open'); };

    pc.onnegotiationneeded = () => this.negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.emit('signal', { candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams }) => {
      this.remoteTracks.set(track, streams[0]?.id || '');
      track.onended = () => { this.remoteTracks.delete(track); this.sortTracks(); };
      this.sortTracks();
    };
    pc.ondatachannel = ({ channel }) => this.emit('datachannel', channel);
    pc.onconnectionstatechange = () => this.onState();
    pc.oniceconnectionstatechange = () => this.onState();
  }

  /**
   * @param {string} type
   * @param {unknown} [detail]
   */
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  /** Chat-channel messages: 'media' is ours, the rest go to the call. */
  onChannelMessage(m) {
    if (m && m.type === 'media') {
      this.remoteScreenID = typeof m.screen === 'string' ? m.screen : '';
      this.sortTracks();
      return;
    }
    this.emit('chat', m);
  }

  /** Tells the other side which of our streams is the screen. */
  announceMedia() {
    if (this.localScreenID) this.sendChat({ type: 'media', screen: this.localScreenID });
  }

  /** Puts each remote track in remoteStream or remoteScreen; emits 'tracks' on a change. */
  sortTracks() {
    let changed = false;
    const live = new Set(this.remoteTracks.keys());
    for (const s of [this.remoteStream, this.remoteScreen]) {
      for (const t of s.getTracks()) {
        if (!live.has(t)) { s.removeTrack(t); changed = true; }
      }
    }
    for (const [t, id] of this.remoteTracks) {
      const screen = t.kind === 'video' && id !== '' && id === this.remoteScreenID;
      const want = screen ? this.remoteScreen : this.remoteStream;
      const other = screen ? this.remoteStream : this.remoteScreen;
      if (other.getTrackById(t.id)) { other.removeTrack(t); changed = true; }
      if (!want.getTrackById(t.id)) { want.addTrack(t); changed = true; }
    }
    if (changed) this.emit('tracks');
  }

  /**
   * The loudness (0..1) of the other side's audio since the last call: the
   * root mean square of the levels received meanwhile, from the inbound
   * audio's totalAudioEnergy and totalSamplesDuration (Chromium and
   * Firefox). A single packet's level (synchronization sources) would miss
   * a short sound between two readings; it stays the fallback where the
   * statistics lack energy.
   * @returns {Promise<number>}
   */
  async audioLevel() {
    if (this.closed) return 0;
    let energy = 0, duration = 0;
    try {
      const stats = await this.pc.getStats();
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
        energy += r.totalAudioEnergy || 0;
        duration += r.totalSamplesDuration || 0;
      });
    } catch { return 0; }
    const prev = this.audioMark;
    this.audioMark = { energy, duration };
    if (duration > 0) {
      if (!prev || duration <= prev.duration) return 0;
      return Math.min(1, Math.sqrt(Math.max(0, energy - prev.energy) / (duration - prev.duration)));
    }
    let level = 0;
    for (const r of this.pc.getReceivers()) {
      if (r.track?.kind !== 'audio' || !r.getSynchronizationSources) continue;
      // A source is listed for 10 s after its last packet; a muted
      // sender's packets carry the level of silence.
      for (const src of r.getSynchronizationSources()) level = Math.max(level, src.audioLevel || 0);
    }
    return level;
  }

  /** The connection state for people: new, connecting, connected, disconnected, failed, closed. */
  get state() { return this.pc.connectionState; }

  async negotiate() {
    if (this.closed) return;
    if (this.awaitingOffer) {
      this.deferred = true;
      return;
    }
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.emit('signal', { description: this.outgoing() });
      this.watch();
    } catch (err) {
      console.warn('peer', this.id, 'offer failed', err);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Takes a {description} or {candidate} from the other side.
   * @param {{description?: RTCSessionDescriptionInit, candidate?: any}} msg
   */
  handleSignal(msg) {
    this.chain = this.chain.then(() => this.applySignal(msg)).catch((err) => {
      console.warn('peer', this.id, 'signal failed', err);
    });
    return this.chain;
  }

  /** @param {{description?: RTCSessionDescriptionInit, candidate?: any}} msg */
  async applySignal({ description, candidate }) {
    if (this.closed) return;
    const pc = this.pc;
    if (description) {
      const readyForOffer = !this.makingOffer &&
        (pc.signalingState === 'stable' || this.settingRemoteAnswer);
      const collision = description.type === 'offer' && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) {
        // The polite side offered instead of answering ours: ours may
        // never have reached it (written into its socket as it died
        // unseen). It goes again; the polite side rolls back for it.
        this.resendOffer();
        return;
      }
      this.settingRemoteAnswer = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description); // rolls back our offer if needed
      } finally {
        this.settingRemoteAnswer = false;
      }
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.emit('signal', { description: this.outgoing() });
        if (this.awaitingOffer) this.endWait();
      }
      this.watch();
      const queued = this.pending.splice(0);
      for (const c of queued) await this.addCandidate(c);
    } else if (candidate) {
      if (!pc.remoteDescription) {
        this.pending.push(candidate);
        return;
      }
      await this.addCandidate(candidate);
    }
  }

  async addCandidate(c) {
    try {
      await this.pc.addIceCandidate(c);
    } catch (err) {
      // Candidates of an offer we ignored are expected to fail.
      if (!this.ignoreOffer) console.warn('peer', this.id, 'candidate failed', err);
    }
  }

  /** Arms the stuck-connection watchdog. */
  watch() {
    clearTimeout(this.stuckTimer);
    this.stuckTimer = setTimeout(() => {
      const st = this.pc.connectionState;
      if (st === 'new' || st === 'connecting') {
        this.lastRestart = 0;
        this.restart('not connected after ' + STUCK_MS / 1000 + ' s');
      }
    }, STUCK_MS);
  }

  /** Stops holding our offer back; offers now if we had something to say. */
  endWait() {
    clearTimeout(this.offerTimer);
    if (!this.awaitingOffer) return;
    this.awaitingOffer = false;
    if (this.deferred) {
      this.deferred = false;
      this.negotiate();
    }
  }

  onState() {
    const ice = this.pc.iceConnectionState;
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.directTimer);
    if (ice === 'connected' || ice === 'completed') {
      this.directTimer = setTimeout(() => this.preferDirect(), DIRECT_CHECK_MS);
    }
    if (ice === 'failed') this.restart('failed');
    if (ice === 'disconnected') {
      this.disconnectTimer = setTimeout(() => {
        if (this.pc.iceConnectionState === 'disconnected') this.restart('disconnected');
      }, DISCONNECTED_GRACE_MS);
    }
    this.emit('state', this.pc.connectionState);
  }

  /** Restarts ICE when a relayed pair is in use though a direct one works. */
  async preferDirect() {
    if (this.closed || this.policy === 'relay' || this.directTries >= DIRECT_TRIES) return;
    let stats;
    try { stats = await this.pc.getStats(); } catch { return; }
    let selected = null;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) selected = stats.get(r.selectedCandidatePairId);
    });
    const kind = (id) => (stats.get(id) || {}).candidateType;
    const relayed = (p) => kind(p.localCandidateId) === 'relay' || kind(p.remoteCandidateId) === 'relay';
    if (!selected || !relayed(selected)) return;
    let direct = false;
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && r.state === 'succeeded' && !relayed(r)) direct = true;
    });
    if (!direct) return;
    this.directTries++;
    this.lastRestart = 0;
    this.restart('a direct path works; leaving the relay');
  }

  /**
   * ICE restart: new ufrag/pwd and candidates, same media.
   * @param {string} reason for the console
   */
  restart(reason) {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.lastRestart < RESTART_BACKOFF_MS) {
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => this.restart(reason), RESTART_BACKOFF_MS);
      return;
    }
    this.lastRestart = now;
    console.info('peer', this.id, 'ICE restart:', reason);
    this.pc.restartIce();
  }

  /**
   * ICE restart if the connection goes through the relay (or is not
   * connected): after a restart of the server its allocations are gone.
   * A direct connection is left alone.
   * @param {string} reason for the console
   */
  async restartIfRelayed(reason) {
    if (this.closed) return;
    let relayed = this.policy === 'relay' || this.pc.iceConnectionState !== 'connected' && this.pc.iceConnectionState !== 'completed';
    if (!relayed) {
      let stats;
      try { stats = await this.pc.getStats(); } catch { return; }
      relayed = selectedPath(stats)?.kind === 'relay'; // Chromium and Firefox
    }
    if (!relayed || this.closed) return;
    this.lastRestart = 0;
    this.restart(reason);
  }

  /**
   * Sends our pending offer again: the other side was away (the server
   * restarted) when it went, so the server could not deliver it.
   */
  resendOffer() {
    if (this.closed || this.makingOffer || this.pc.signalingState !== 'have-local-offer' || !this.pc.localDescription) return;
    this.emit('signal', { description: this.outgoing() });
    this.watch();
  }

  /**
   * Our local description as the other side gets it. A later offer says
   * the DTLS role we already hold (RFC 8842 allows an offer "active" or
   * "passive") instead of "actpass": Firefox answers an ICE-restart offer
   * of "actpass" by taking the role anew ("active"), and Chromium, which
   * keeps its DTLS association across an ICE restart, then refuses the
   * answer ("Failed to set SSL role for the transport"), so a Chromium
   * page could never restart ICE towards a Firefox page that had offered
   * first. Our own local description keeps "actpass"; the answer to the
   * role we name completes it to the same association.
   * @returns {RTCSessionDescriptionInit}
   */
  outgoing() {
    const desc = this.pc.localDescription.toJSON();
    const role = desc.type === 'offer' ? dtlsRole(this.pc) : '';
    if (role) desc.sdp = desc.sdp.replace(/^a=setup:actpass\r?$/gm, (line) => line.replace('actpass', role));
    return desc;
  }

  /**
   * Applies fresh iceServers or a new transport policy; a policy change restarts ICE.
   * @param {RTCConfiguration} config
   */
  setConfiguration(config) {
    const cur = this.pc.getConfiguration();
    this.pc.setConfiguration({ ...cur, ...config });
    const policy = config.iceTransportPolicy || cur.iceTransportPolicy || 'all';
    if (policy !== this.policy) {
      this.policy = policy;
      this.lastRestart = 0;
      this.restart('transport policy ' + policy);
    }
  }

  /**
   * Sends track as this side's audio or video (kind). The first track of a
   * kind adds a sender (one renegotiation); later ones replace the sender's
   * track in place, which needs none. A null track sends nothing.
   * @param {'audio'|'video'|'screen'} kind
   * @param {MediaStreamTrack|null} track
   * @param {MediaStream} stream the stream the other side files it under
   */
  async setTrack(kind, track, stream) {
    if (this.closed) return;
    if (kind === 'screen' && stream && stream.id !== this.localScreenID) {
      this.localScreenID = stream.id;
      this.announceMedia();
    }
    const s = this.senders[kind];
    if (s) {
      await s.replaceTrack(track);
      return;
    }
    if (!track) return;
    this.senders[kind] = this.pc.addTrack(track, stream);
  }

  /**
   * Caps the video we send to this peer (mesh budget) on the camera or screen sender.
   * @param {RTCRtpEncodingParameters} cap
   * @param {'video'|'screen'} [kind]
   */
  async capVideo({ maxBitrate, scaleResolutionDownBy }, kind = 'video') {
    const s = this.senders[kind];
    if (!s) return;
    const p = s.getParameters();
    if (!p.encodings || p.encodings.length === 0) return; // not negotiated yet
    let changed = false;
    for (const e of p.encodings) {
      if (e.maxBitrate !== maxBitrate || e.scaleResolutionDownBy !== scaleResolutionDownBy) changed = true;
      e.maxBitrate = maxBitrate;
      e.scaleResolutionDownBy = scaleResolutionDownBy;
    }
    if (changed) await s.setParameters(p).catch((err) => console.warn('capVideo', err));
  }

  /**
   * Sends a chat-channel message (an object, JSON encoded).
   * @param {object} obj
   * @returns {boolean} false when the channel is not open
   */
  sendChat(obj) {
    if (this.chat.readyState !== 'open') return false;
    this.chat.send(JSON.stringify(obj));
    return true;
  }

  /**
   * Opens a new data channel, e.g. for a file.
   * @param {string} label
   */
  createChannel(label) { return this.pc.createDataChannel(label, { ordered: true }); }

  stats() { return this.pc.getStats(); }

  close() {
    clearTimeout(this.directTimer);
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.restartTimer);
    clearTimeout(this.offerTimer);
    clearTimeout(this.stuckTimer);
    this.chat.close();
    this.pc.close(); // closes every data channel, file transfers' included
    this.emit('closed');
  }
}

function parseJSON(s) {
  try { return JSON.parse(s); } catch { return null; }
}

/**
 * The "a=setup" value of the DTLS role pc holds from its last completed
 * negotiation ("active" is the DTLS client), or '' before there is one.
 * @param {RTCPeerConnection} pc
 */
export function dtlsRole(pc) {
  const local = pc.currentLocalDescription;
  const remote = pc.currentRemoteDescription;
  if (!local || !remote) return '';
  const setup = (/** @type {string} */ sdp) => (/^a=setup:(active|passive|actpass)\r?$/m.exec(sdp) || [])[1] || '';
  if (local.type === 'answer') {
    const mine = setup(local.sdp);
    return mine === 'active' || mine === 'passive' ? mine : '';
  }
  const theirs = setup(remote.sdp);
  return theirs === 'active' ? 'passive' : theirs === 'passive' ? 'active' : '';
}
