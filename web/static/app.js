// @ts-check
// The page's UI: landing, pre-join check, the call screen. It wires the
// signaling client (signaling.js), the call (call.js, peer connections)
// and media (media.js) to the DOM. User text only ever goes in through
// textContent.

import { Signaling, SignalingError, preflight } from './signaling.js';
import { Call, cleanName } from './call.js';
import { openLocalMedia, openTrack, openScreen, listDevices, levelMeter, explain, explainScreen, canShareScreen } from './media.js';
import { selectedPath, bitrate, formatBitrate } from './stats.js';
import { startNetworkCheck } from './netcheck.js';
import { formatSize } from './files.js';
import { CallRecorder } from './recorder.js';

const $ = /** @type {AppLookup} */ ((id) => document.getElementById(id));
const NAME_KEY = 'streamsync.name';
const SOUNDS_KEY = 'streamsync.sounds';
// A room id as the signaling server makes them (internal/roomid, held to
// this by web/roomid_test.go): 32 characters of URL-safe base64. Anything
// else is not a meeting link.
const ROOM_RE = /^[A-Za-z0-9_-]{32}$/;
const STATS_MS = 2000;
const BEST_TURN_WAIT_MS = 7000; // at most this long before calling with every TURN URL
const PREJOIN_POLL_MS = 10000; // how often the pre-join screen re-counts the people in
const SPEAKING = 0.04; // audio level above which someone counts as speaking
const SPEAKER_HOLD_MS = 1500; // a speaker stays highlighted through short pauses
const narrow = matchMedia('(max-width: 720px)');

const ui = {
  room: '', // '' = create a new room on join
  /** @type {MediaStream|null} */
  stream: null,
  mediaReady: Promise.resolve(),
  stopMeter: () => {},
  devices: { audioinput: [], videoinput: [], audiooutput: [] },
  /** @type {Signaling|null} */
  sig: null,
  /** @type {Call|null} */
  call: null,
  /** @type {Map<string, HTMLElement>} */
  tiles: new Map(), // peer id ('self' for us) -> figure
  /** @type {Map<string, ReturnType<typeof selectedPath>>} */
  stats: new Map(), // peer id -> last selectedPath sample
  unread: 0,
  /** @type {CallRecorder|null} */
  recorder: null,
  stopRecorderFeed: () => {},
  speaker: '',
  blocked: { camera: false, microphone: false },
  preMuted: false,
  prejoinTimer: 0,
  statsTimer: 0,
  pinned: '', // tile id kept large by the person
  /** @type {string[]} */
  screens: [], // tile ids of shared screens, oldest first
  talker: { id: '', since: 0 },
  /** @type {AudioContext|null} */
  audioCtx: null,
  ended: false,
};

// ---------------------------------------------------------------- routing

function show(id) {
  for (const s of ['landing', 'problem', 'prejoin', 'call', 'ended']) $(s).hidden = s !== id;
}

/**
 * The meeting the URL names: {room} for a well-formed id, {bad: true} for
 * something that is not one (a mistyped or cut link), {} for none.
 */
export function linkFromURL(loc = location) {
  const m = /^\/r\/([^/]*)$/.exec(loc.pathname);
  const r = m ? decodeURIComponent(m[1]) : loc.hash.slice(1);
  if (r === '') return {};
  return ROOM_RE.test(r) ? { room: r } : { bad: true };
}

/** The invite link for a room: the id rides in the fragment, out of logs and Referer. */
export function inviteLink(room) {
  return `${location.origin}/#${room}`;
}

/** Reads a meeting code out of a code or a pasted link. */
export function parseCode(s) {
  s = String(s).trim();
  const m = /(?:\/r\/|#)([A-Za-z0-9_-]+)\s*$/.exec(s);
  const code = m ? m[1] : s;
  return ROOM_RE.test(code) ? code : '';
}

const problems = {
  bad: ['This link does not work',
    'It is not a meeting link: a meeting code has 32 letters, digits, dashes or underscores. Check that the whole link was copied, or ask for it again.'],
  gone: ['This meeting does not exist',
    'Nobody is in it, and it has ended or never existed. Check the link, ask for a new one, or start a new meeting.'],
};

/** Says what is wrong with a link, on a page of its own, before any camera opens. */
function showProblem(which) {
  clearInterval(ui.prejoinTimer);
  const [title, text] = problems[which];
  $('problem-title').textContent = title;
  $('problem-text').textContent = text;
  $('problem').dataset.problem = which;
  $('problem-new').onclick = () => { history.pushState(null, '', '/'); enterPrejoin(''); };
  show('problem');
}

function route() {
  const link = linkFromURL();
  if (link.bad) showProblem('bad');
  else if (link.room) enterPrejoin(link.room);
  else enterLanding();
}

function start() {
  const params = new URLSearchParams(location.search);
  $('pre-relay').checked = params.get('relay') === '1';
  route();
  addEventListener('hashchange', () => { if (!ui.call) route(); });
}

// ---------------------------------------------------------------- landing

function enterLanding() {
  show('landing');
  $('name').value = localStorage.getItem(NAME_KEY) || '';
  $('name').addEventListener('change', () => localStorage.setItem(NAME_KEY, cleanName($('name').value)));
  $('new-meeting').onclick = () => {
    localStorage.setItem(NAME_KEY, cleanName($('name').value));
    enterPrejoin('');
  };
  $('join-form').onsubmit = (e) => {
    e.preventDefault();
    localStorage.setItem(NAME_KEY, cleanName($('name').value));
    const code = parseCode($('join-code').value);
    if (!code) {
      $('landing-error').textContent = 'That is not a meeting link or code. A code has 32 letters and digits: check that it was copied whole.';
      return;
    }
    history.pushState(null, '', '/#' + code);
    enterPrejoin(code);
  };
}

// ---------------------------------------------------------------- pre-join

async function enterPrejoin(room) {
  ui.room = room;
  clearInterval(ui.prejoinTimer);
  $('prejoin-count').textContent = '';
  if (room) {
    // Whether the meeting exists, asked before the camera opens: a dead
    // link is said at once, and nobody's light goes on for nothing.
    const info = await roomInfo(room);
    if (info && !info.exists) { showProblem('gone'); return; }
    showCount(info);
    ui.prejoinTimer = setInterval(async () => {
      if ($('prejoin').hidden) { clearInterval(ui.prejoinTimer); return; }
      showCount(await roomInfo(room));
    }, PREJOIN_POLL_MS);
  }
  show('prejoin');
  $('prejoin-title').textContent = room ? 'Ready to join?' : 'Start a new meeting';
  $('pre-name').value = localStorage.getItem(NAME_KEY) || '';
  $('join-button').textContent = room ? 'Join' : 'Start meeting';
  $('join-button').onclick = () => join();
  $('pre-mic-toggle').onclick = togglePreMic;
  $('pre-cam-toggle').onclick = togglePreCamera;
  if (!room) {
    preflight().then((w) => { $('pre-password-row').hidden = !w.createPasswordRequired; })
      .catch(() => { /* the join will say what is wrong */ });
  }
  ui.mediaReady = openPreview();
  await ui.mediaReady;
  $('pre-camera').onchange = () => switchPreview('video', $('pre-camera').value);
  $('pre-mic').onchange = () => switchPreview('audio', $('pre-mic').value);
}

/** The pre-flight's word on a room ({exists, peers}, with the room cap), or null when it cannot tell. */
async function roomInfo(room) {
  try {
    const w = await preflight(room);
    ui.limits = w.limits || {};
    return w.room ? { ...w.room, max: w.limits?.maxPeersPerRoom || 0 } : null;
  } catch {
    return null;
  }
}

function showCount(info) {
  let text = '';
  if (info) {
    const n = info.peers;
    if (info.max && n >= info.max) text = `This meeting is full: ${n} of ${info.max} people. You can join when someone leaves.`;
    else if (n === 0) text = 'No one else is here yet.';
    else if (n === 1) text = '1 person is in this meeting.';
    else text = `${n} people are in this meeting.`;
  }
  $('prejoin-count').textContent = text;
  $('prejoin-count').dataset.peers = info ? String(info.peers) : '';
}

async function openPreview() {
  if (ui.stream) for (const t of ui.stream.getTracks()) t.stop();
  const { stream, warning, blocked } = await openLocalMedia();
  ui.stream = stream;
  ui.blocked = blocked;
  $('media-warning').hidden = !warning;
  $('media-warning').textContent = warning;
  for (const t of stream.getAudioTracks()) t.enabled = !ui.preMuted;
  attachPreview();
  await refreshDevices();
}

function togglePreMic() {
  const t = ui.stream?.getAudioTracks()[0];
  if (!t) return;
  ui.preMuted = !ui.preMuted;
  t.enabled = !ui.preMuted;
  showPreToggles();
}

async function togglePreCamera() {
  if (!ui.stream) return;
  const cur = ui.stream.getVideoTracks()[0];
  if (cur) {
    // Off means off: the track stops and the camera's light goes out.
    ui.stream.removeTrack(cur);
    cur.stop();
    attachPreview();
    return;
  }
  try {
    ui.stream.addTrack(await openTrack('video', $('pre-camera').value));
    attachPreview();
  } catch (err) {
    $('media-warning').hidden = false;
    $('media-warning').textContent = explain('camera', err);
  }
}

function showPreToggles() {
  const mic = ui.stream?.getAudioTracks()[0], cam = ui.stream?.getVideoTracks()[0];
  const m = $('pre-mic-toggle'), c = $('pre-cam-toggle');
  m.disabled = !mic;
  m.setAttribute('aria-pressed', String(!mic || ui.preMuted));
  m.setAttribute('aria-label', mic && !ui.preMuted ? 'Turn microphone off' : 'Turn microphone on');
  c.disabled = !cam && ui.blocked.camera;
  c.setAttribute('aria-pressed', String(!cam));
  c.setAttribute('aria-label', cam ? 'Turn camera off' : 'Turn camera on');
}

function attachPreview() {
  $('preview').srcObject = ui.stream;
  $('preview-off').hidden = ui.stream.getVideoTracks().length > 0;
  $('preview-off').textContent = ui.blocked.camera ? 'Camera blocked' : 'Camera off';
  ui.stopMeter();
  ui.stopMeter = levelMeter(ui.stream, $('mic-level'));
  showPreToggles();
}

async function switchPreview(kind, deviceID) {
  try {
    const t = await openTrack(kind, deviceID);
    for (const old of kind === 'video' ? ui.stream.getVideoTracks() : ui.stream.getAudioTracks()) {
      ui.stream.removeTrack(old);
      old.stop();
    }
    ui.stream.addTrack(t);
    attachPreview();
  } catch (err) {
    $('media-warning').hidden = false;
    $('media-warning').textContent = explain(kind === 'video' ? 'camera' : 'microphone', err);
  }
}

async function refreshDevices() {
  ui.devices = await listDevices();
  const cur = {
    videoinput: ui.stream?.getVideoTracks()[0]?.getSettings().deviceId,
    audioinput: ui.stream?.getAudioTracks()[0]?.getSettings().deviceId,
    audiooutput: ui.speaker,
  };
  fill($('pre-camera'), ui.devices.videoinput, cur.videoinput, 'Camera', ui.blocked.camera);
  fill($('pre-mic'), ui.devices.audioinput, cur.audioinput, 'Microphone', ui.blocked.microphone);
  fill($('set-camera'), ui.devices.videoinput, cur.videoinput, 'Camera', ui.blocked.camera);
  fill($('set-mic'), ui.devices.audioinput, cur.audioinput, 'Microphone', ui.blocked.microphone);
  fill($('set-speaker'), ui.devices.audiooutput, cur.audiooutput, 'Speaker', false);
}

function fill(select, list, current, label, blocked) {
  select.replaceChildren();
  if (list.length === 0) {
    // A blocked device is not a missing one: browsers list no devices
    // until the page may use them.
    select.append(new Option(blocked ? `${label} blocked` : `No ${label.toLowerCase()} found`, ''));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  list.forEach((d, i) => select.append(new Option(d.label || `${label} ${i + 1}`, d.deviceId, false, d.deviceId === current)));
}

const joinErrors = {
  'room-not-found': 'This meeting does not exist, or it ended a while ago. Check the link, or start a new meeting.',
  'room-full': 'This meeting is full.',
  'bad-password': 'The create password is wrong.',
  'too-many-rooms': 'The server holds as many meetings as it may right now. Try again later.',
  'rate-limited': 'Too many attempts from your network. Wait a moment and try again.',
  'bad-message': 'The server did not accept that: try a shorter name without special characters.',
  unavailable: 'The server cannot take this meeting right now. Try again in a moment.',
  connect: 'Cannot reach the server. Check your connection and try again.',
};
const joinErrorDefault = 'The meeting could not be joined. Try again in a moment.';

async function join() {
  const name = cleanName($('pre-name').value);
  localStorage.setItem(NAME_KEY, name);
  $('join-button').disabled = true;
  $('join-error').textContent = '';
  await ui.mediaReady; // a quick click may come before the camera answered
  const sig = new Signaling();
  const state = {
    muted: ui.preMuted || ui.stream.getAudioTracks().length === 0,
    cameraOff: ui.stream.getVideoTracks().length === 0,
    sharing: false,
    recording: false,
  };
  let joined;
  try {
    joined = await sig.join({ room: ui.room, name, password: $('pre-password').value, state });
  } catch (err) {
    const code = err instanceof SignalingError ? err.code : 'connect';
    let msg = joinErrors[code] || joinErrorDefault;
    if (code === 'room-full') msg += ' It holds at most ' + (sig.limits?.maxPeersPerRoom || 'a few') + ' people.';
    $('join-error').textContent = msg;
    $('join-button').disabled = false;
    return;
  }
  ui.stopMeter();
  clearInterval(ui.prejoinTimer);
  ui.sig = sig;
  ui.call = new Call({ signaling: sig, relayOnly: $('pre-relay').checked, stream: ui.stream, state, name });
  if (!ui.room) {
    ui.room = joined.room;
    history.replaceState(null, '', '/#' + joined.room);
  }
  enterCall();
  // The network check first says which TURN transport works best; the
  // connections then use that one only (one allocation per network).
  const check = startNetworkCheck(joined.iceServers);
  showNetworkCheck(check.all);
  const best = await Promise.race([check.best, new Promise((r) => setTimeout(() => r(''), BEST_TURN_WAIT_MS))]);
  if (!ui.call.ended) ui.call.start(joined, best);
}

// ---------------------------------------------------------------- call

function enterCall() {
  show('call');
  const call = ui.call;
  ui.ended = false;
  $('set-relay').checked = call.relayOnly;
  $('set-name').value = call.name;
  $('set-sounds').checked = localStorage.getItem(SOUNDS_KEY) !== 'off';
  $('copy-link').dataset.link = inviteLink(ui.room);
  $('btn-share').hidden = !canShareScreen();
  addTile('self');
  updateSelf();
  updateCount();

  call.addEventListener('peer-added', (/** @type {CustomEvent} */ e) => { addTile(e.detail); renderPerson(e.detail); updateRoster(); });
  call.addEventListener('peer-removed', (/** @type {CustomEvent} */ e) => { removeTile(e.detail); removeTile(e.detail + ':screen'); updateRoster(); });
  call.addEventListener('peer-updated', (/** @type {CustomEvent} */ e) => { renderPerson(e.detail); updateTile(e.detail); updateScreenTile(e.detail); updateRecording(); });
  call.addEventListener('tracks', (/** @type {CustomEvent} */ e) => { updateTile(e.detail); updateScreenTile(e.detail); });
  call.addEventListener('arrived', (/** @type {CustomEvent} */ e) => announce(e.detail, 'joined'));
  call.addEventListener('departed', (/** @type {CustomEvent} */ e) => announce(e.detail.id, 'left', e.detail.name));
  call.addEventListener('levels', (/** @type {CustomEvent} */ e) => showSpeaker(e.detail));
  call.addEventListener('self', () => updateSelf());
  call.addEventListener('chat', (/** @type {CustomEvent} */ e) => addChat(e.detail));
  call.addEventListener('file', (/** @type {CustomEvent} */ e) => addTransfer(e.detail));
  call.addEventListener('error', (/** @type {CustomEvent} */ e) => serverError(e.detail));

  ui.sig.addEventListener('status', (/** @type {CustomEvent} */ e) => setStatus(e.detail));
  ui.sig.addEventListener('fatal', (/** @type {CustomEvent} */ e) => endCall(e.detail));
  setStatus('connected');

  $('btn-mic').onclick = toggleMic;
  $('btn-cam').onclick = toggleCamera;
  $('btn-share').onclick = toggleShare;
  $('btn-record').onclick = () => { closeMore(); toggleRecording(); };
  $('btn-leave').onclick = () => { call.leave(); };
  $('btn-settings').onclick = () => { closeMore(); refreshDevices(); $('settings').showModal(); };
  $('btn-people').onclick = () => togglePanel('people');
  $('btn-chat').onclick = () => togglePanel('chat');
  $('btn-files').onclick = () => { closeMore(); openPanel('files'); };
  $('btn-more').onclick = () => setMore($('btn-more').getAttribute('aria-expanded') !== 'true');
  $('tab-people').onclick = () => openPanel('people');
  $('tab-chat').onclick = () => openPanel('chat');
  $('tab-files').onclick = () => openPanel('files');
  $('panel-close').onclick = () => { $('panel').hidden = true; };
  $('copy-link').onclick = copyLink;
  $('alone-copy').onclick = copyLink;
  $('chat-form').onsubmit = (e) => {
    e.preventDefault();
    call.sendChat($('chat-input').value);
    $('chat-input').value = '';
  };
  $('file-form').onsubmit = (e) => {
    e.preventDefault();
    const f = $('file-input').files[0];
    if (!f) return;
    call.sendFile(f, $('file-to').value);
    $('file-input').value = '';
  };
  $('set-camera').onchange = () => changeDevice('video', $('set-camera').value);
  $('set-mic').onchange = () => changeDevice('audio', $('set-mic').value);
  $('set-speaker').onchange = () => setSpeaker($('set-speaker').value);
  $('set-relay').onchange = () => call.setRelayOnly($('set-relay').checked);
  $('set-sounds').onchange = () => localStorage.setItem(SOUNDS_KEY, $('set-sounds').checked ? 'on' : 'off');
  $('set-name').onchange = () => { call.setName($('set-name').value); localStorage.setItem(NAME_KEY, call.name); };
  document.addEventListener('keydown', onKey);
  narrow.addEventListener('change', onNarrow);
  ui.statsTimer = setInterval(pollStats, STATS_MS);
  if (!narrow.matches) openPanel('people');
  else $('panel').hidden = true;
  layout();
}

/**
 * The signaling connection's state. 'reconnecting' is not an end: the
 * call, its peers and its media go on while the client resumes its place
 * (signaling.js); only 'fatal' ends the call (endCall).
 */
function setStatus(s) {
  const words = { connected: 'Connected', reconnecting: 'Reconnecting…', connecting: 'Connecting…', closed: 'Disconnected' };
  $('conn-status').textContent = words[s] || s;
  $('conn-status').dataset.status = s;
  $('conn-status').className = 'pill ' + (s === 'connected' ? 'good' : 'bad');
  if (s === 'reconnecting') onReconnecting();
}

/** The link to the server dropped: say so; the call itself goes on. */
function onReconnecting() {
  notice('The connection to the server dropped. Reconnecting; the call goes on meanwhile.');
}

/**
 * Ends the call, whatever the reason (left, opened elsewhere, the meeting
 * is gone, the server refused, the page was closed): the one way out.
 * A recording in progress is stopped and saved; the call stops every
 * track and closes every connection (Call.end); the page's own timers and
 * listeners go.
 */
function endCall(reason) {
  if (ui.ended || !ui.call) return;
  ui.ended = true;
  clearInterval(ui.statsTimer);
  if (ui.recorder) stopRecording();
  ui.call.end(reason);
  ui.sig.leave(); // already stopped when it ended the call; says goodbye otherwise
  for (const id of [...ui.tiles.keys()]) removeTile(id);
  document.removeEventListener('keydown', onKey);
  narrow.removeEventListener('change', onNarrow);
  clearTimeout(notice.timer);
  ui.audioCtx?.close();
  ui.audioCtx = null;
  if ($('settings').open) $('settings').close();
  show('ended');
  $('ended-reason').textContent = reason;
  $('rejoin').onclick = () => location.reload();
}

function notice(text) {
  const n = $('call-notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 8000);
}
/** @type {ReturnType<typeof setTimeout>|undefined} */
notice.timer = undefined; // hides the notice

/** Server errors during the call, in words; the call goes on. */
function serverError({ code }) {
  const words = {
    'rate-limited': 'You are doing that too fast; wait a moment. The call goes on.',
    'ice-unavailable': 'The server could not renew the relay credentials; the call goes on and it will try again.',
    unavailable: 'The server cannot reach part of this meeting right now; the call goes on.',
  };
  if (code === 'unknown-peer') return; // someone left while a message to them was on its way
  notice(words[code] || 'The server could not do that; the call goes on.');
}

// Presence -------------------------------------------------------------------

function nameOf(id) {
  return ui.call.peers.get(id)?.info.name || 'Guest';
}

/** A join or leave notice, and a short sound when they are on. */
function announce(id, what, name = nameOf(id)) {
  const li = document.createElement('li');
  li.textContent = `${name || 'Guest'} ${what}`;
  li.dataset.what = what;
  $('toasts').append(li);
  setTimeout(() => li.remove(), 5000);
  while ($('toasts').children.length > 3) $('toasts').firstElementChild.remove();
  if ($('set-sounds').checked) chime(what === 'joined');
}

function chime(up) {
  if (typeof AudioContext === 'undefined') return;
  try {
    const ctx = ui.audioCtx ||= new AudioContext();
    const t0 = ctx.currentTime;
    for (const [i, f] of (up ? [523, 784] : [784, 523]).entries()) {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t0 + i * 0.12);
      g.gain.exponentialRampToValueAtTime(0.15, t0 + i * 0.12 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.12 + 0.11);
      o.connect(g).connect(ctx.destination);
      o.start(t0 + i * 0.12);
      o.stop(t0 + i * 0.12 + 0.12);
    }
  } catch { /* no sound is fine */ }
}

function updateCount() {
  const n = ui.call.peers.size + 1;
  const text = n === 1 ? '1 person' : `${n} people`;
  $('count').textContent = text;
  $('count').dataset.count = String(n);
  $('count').setAttribute('aria-label', `${text} in the call`);
  $('people-count').textContent = String(n);
}

/** Highlights who is speaking: the loudest above a threshold, held through short pauses. */
function showSpeaker(levels) {
  const now = performance.now();
  let best = '', max = SPEAKING;
  for (const [id, l] of levels) if (l > max) { max = l; best = id; }
  const t = ui.talker;
  if (best) {
    t.id = best;
    t.since = now;
  } else if (t.id && now - t.since > SPEAKER_HOLD_MS) {
    t.id = '';
  }
  for (const [id, f] of ui.tiles) f.classList.toggle('speaking', id === t.id);
  $('grid').dataset.speaker = t.id;
}

// Tiles -----------------------------------------------------------------

function addTile(id) {
  if (ui.tiles.has(id)) return;
  const fig = /** @type {HTMLElement} */ ($('tile-template').content.firstElementChild.cloneNode(true));
  fig.dataset.peer = id;
  const video = fig.querySelector('video');
  if (id === 'self' || id === 'self:screen') {
    fig.classList.add('self');
    video.muted = true;
    if (id === 'self') video.srcObject = ui.call.stream;
  }
  if (id.endsWith(':screen')) {
    fig.classList.add('screen');
    video.muted = true; // a screen carries no sound of its own
    ui.screens.push(id);
  }
  if (ui.speaker && video.setSinkId) video.setSinkId(ui.speaker).catch(() => {});
  /** @type {HTMLButtonElement} */ (fig.querySelector('.pin')).onclick = () => { ui.pinned = ui.pinned === id ? '' : id; layout(); };
  /** @type {HTMLButtonElement} */ (fig.querySelector('.fullscreen')).onclick = () => fullscreen(fig);
  /** @type {HTMLButtonElement} */ (fig.querySelector('.fullscreen')).hidden = !(fig.requestFullscreen || fig.webkitRequestFullscreen);
  ui.tiles.set(id, fig);
  $('grid').insertBefore(fig, $('strip'));
  updateTile(id);
  layout();
}

function removeTile(id) {
  const fig = ui.tiles.get(id);
  if (!fig) return;
  fig.querySelector('video').srcObject = null;
  fig.remove();
  ui.tiles.delete(id);
  ui.stats.delete(id);
  ui.screens = ui.screens.filter((s) => s !== id);
  if (ui.pinned === id) ui.pinned = '';
  document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`)?.remove();
  layout();
}

function fullscreen(fig) {
  if (document.fullscreenElement === fig) { document.exitFullscreen(); return; }
  const req = fig.requestFullscreen || fig.webkitRequestFullscreen;
  Promise.resolve(req.call(fig)).catch(() => notice('This browser did not allow full screen here.'));
}

/** The window became phone-sized or wide: the panel would cover the tiles on a phone. */
function onNarrow() {
  if (narrow.matches) $('panel').hidden = true;
  closeMore();
  layout();
}

/**
 * Places the tiles. 'solo': only us. 'duo': one other person large and us
 * small in a corner. 'grid': everyone alike. 'spotlight': one tile large
 * (the pinned one, else the newest shared screen) and the rest in a strip.
 * On a narrow screen our own tile is small in a corner whenever others fill
 * the grid.
 */
function layout() {
  if (!ui.call) return;
  const grid = $('grid');
  let featured = ui.pinned && ui.tiles.has(ui.pinned) ? ui.pinned : '';
  if (!featured) featured = ui.screens.filter((id) => ui.tiles.has(id)).at(-1) || '';
  const people = [...ui.tiles.keys()].filter((id) => !id.endsWith(':screen'));
  let mode;
  if (featured) mode = 'spotlight';
  else if (people.length <= 1) mode = 'solo';
  else if (people.length === 2) mode = 'duo';
  else mode = 'grid';
  grid.dataset.layout = mode;
  const pip = mode === 'duo' || (mode === 'grid' && narrow.matches);
  let inGrid = 0;
  for (const [id, fig] of ui.tiles) {
    const isFeatured = id === featured;
    const isPip = pip && id === 'self';
    fig.classList.toggle('featured', isFeatured);
    fig.classList.toggle('pip', isPip);
    fig.querySelector('.pin').setAttribute('aria-pressed', String(ui.pinned === id));
    fig.querySelector('.pin').setAttribute('aria-label', ui.pinned === id ? 'Unpin' : 'Pin');
    const parent = mode === 'spotlight' && !isFeatured ? $('strip') : grid;
    if (fig.parentElement !== parent) {
      if (parent === grid) grid.insertBefore(fig, $('strip'));
      else parent.append(fig);
    }
    if (parent === grid && !isPip) inGrid++;
  }
  grid.dataset.count = String(inGrid);
  $('alone').hidden = mode !== 'solo';
}

function updateTile(id) {
  const fig = ui.tiles.get(id);
  if (!fig) return;
  const call = ui.call;
  let name, state, stream;
  if (id === 'self') {
    name = (call.name || 'You') + ' (you)';
    state = call.state;
    stream = call.stream;
    const v = fig.querySelector('video');
    if (v.srcObject !== call.stream) v.srcObject = call.stream;
  } else {
    const e = call.peers.get(id);
    if (!e) return;
    name = e.info.name || 'Guest';
    state = e.info.state || {};
    stream = e.peer.remoteStream;
    play(fig.querySelector('video'), stream);
  }
  const hasVideo = stream.getVideoTracks().length > 0 && !state.cameraOff;
  fig.classList.toggle('nocam', !hasVideo);
  fig.querySelector('.name').textContent = name;
  fig.querySelector('.avatar').textContent = initials(name);
  const flags = [];
  if (state.muted) flags.push('muted');
  if (state.sharing) flags.push('sharing');
  if (state.recording) flags.push('recording');
  fig.querySelector('.flags').textContent = flags.join(' · ');
  fig.setAttribute('aria-label', name);
}

/** The tile of someone's shared screen: there while they share and its track is here. */
function updateScreenTile(id) {
  const sid = id + ':screen';
  let stream = null, name = '';
  if (id === 'self') {
    if (ui.call.screen) stream = new MediaStream([ui.call.screen]);
    name = 'Your screen';
  } else {
    const e = ui.call.peers.get(id);
    if (e && e.info.state?.sharing && e.peer.remoteScreen.getVideoTracks().length > 0) stream = e.peer.remoteScreen;
    name = `${e?.info.name || 'Guest'}'s screen`;
  }
  if (!stream) { removeTile(sid); return; }
  addTile(sid);
  const fig = ui.tiles.get(sid);
  const v = fig.querySelector('video');
  if (id === 'self') {
    if (/** @type {MediaStream|null} */ (v.srcObject)?.getVideoTracks()[0] !== ui.call.screen) v.srcObject = stream;
  } else {
    play(v, stream);
  }
  fig.querySelector('.name').textContent = name;
  fig.querySelector('.avatar').textContent = '';
  fig.setAttribute('aria-label', name);
}

function play(v, stream) {
  if (v.srcObject !== stream) v.srcObject = stream;
  v.play().catch((err) => {
    if (err.name !== 'NotAllowedError') return; // interrupted by a newer load: fine
    // Autoplay with sound refused: play muted and ask for a click.
    v.muted = true;
    v.play().catch(() => {});
    notice('Your browser held back the sound: click anywhere to hear the others.');
    document.addEventListener('click', () => {
      for (const [tid, f] of ui.tiles) if (!tid.startsWith('self') && !tid.endsWith(':screen')) f.querySelector('video').muted = false;
    }, { once: true });
  });
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}

// People ------------------------------------------------------------------

function renderPerson(id) {
  const e = ui.call.peers.get(id);
  if (!e) return;
  let li = /** @type {HTMLLIElement} */ (document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`));
  if (!li) {
    li = document.createElement('li');
    li.dataset.peer = id;
    for (const c of ['name', 'conn', 'path', 'rtt', 'rate']) {
      const s = document.createElement('span');
      s.className = c;
      li.append(s);
    }
    li.querySelector('.path').textContent = '–';
    $('people').append(li);
  }
  li.querySelector('.name').textContent = e.info.name || 'Guest';
  const st = e.peer.state;
  const conn = li.querySelector('.conn');
  conn.textContent = st;
  conn.className = 'conn ' + st;
  li.dataset.state = st;
}

function updateRoster() {
  const sel = $('file-to');
  const cur = sel.value;
  sel.replaceChildren(new Option('Everyone', ''));
  for (const [id, e] of ui.call.peers) sel.append(new Option(e.info.name || 'Guest', id, false, id === cur));
  const max = ui.call.limits?.maxPeersPerRoom;
  if (max && ui.call.peers.size + 1 >= max) notice(`This meeting is full: ${max} of ${max} people. Nobody else can join.`);
  updateCount();
  updateRecording();
}

async function pollStats() {
  if (!ui.call || ui.ended) return;
  for (const [id, e] of ui.call.peers) {
    const li = /** @type {HTMLLIElement} */ (document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`));
    if (!li) continue;
    let cur = null;
    try { cur = selectedPath(await e.peer.stats()); } catch { /* closed meanwhile */ }
    renderPerson(id);
    const prev = ui.stats.get(id);
    ui.stats.set(id, cur);
    li.querySelector('.path').textContent = cur ? cur.path : '–';
    li.dataset.path = cur ? cur.kind : '';
    li.querySelector('.rtt').textContent = cur && cur.rttMs != null ? `${cur.rttMs} ms` : '';
    li.querySelector('.rate').textContent = cur ? formatBitrate(bitrate(prev, cur)) : '';
  }
}

function updateSelf() {
  const s = ui.call.state;
  setPressed('btn-mic', s.muted, s.muted ? 'Unmute' : 'Mute');
  setPressed('btn-cam', s.cameraOff, s.cameraOff ? 'Camera on' : 'Camera off');
  setPressed('btn-share', s.sharing, s.sharing ? 'Stop sharing' : 'Share');
  setPressed('btn-record', s.recording, s.recording ? 'Stop recording' : 'Record');
  $('btn-record').hidden = !CallRecorder.supported();
  updateTile('self');
  updateScreenTile('self');
  updateRecording();
}

function setPressed(id, on, label) {
  const b = $(id);
  b.setAttribute('aria-pressed', String(!!on));
  b.querySelector('span').textContent = label;
  b.setAttribute('aria-label', label);
}

function updateRecording() {
  const who = [];
  if (ui.call.state.recording) who.push('you');
  for (const e of ui.call.peers.values()) if (e.info.state?.recording) who.push(e.info.name || 'Guest');
  const el = $('recording-indicator');
  el.hidden = who.length === 0;
  el.textContent = `Recording: ${who.join(', ')}`;
}

function openPanel(which) {
  $('panel').hidden = false;
  for (const p of ['people', 'chat', 'files']) {
    $(`${p}-pane`).hidden = p !== which;
    $(`tab-${p}`).setAttribute('aria-selected', String(p === which));
  }
  if (which === 'chat') {
    ui.unread = 0;
    showUnread();
    $('chat-input').focus();
  }
}

/** The People and Chat buttons open their pane, or close the panel when it shows already. */
function togglePanel(which) {
  closeMore();
  if (!$('panel').hidden && !$(`${which}-pane`).hidden) { $('panel').hidden = true; return; }
  openPanel(which);
}

/** The phone's More menu (Record, Files, Settings); on a wide screen they sit in the row. */
function setMore(open) {
  $('btn-more').setAttribute('aria-expanded', String(open));
  $('more-menu').classList.toggle('open', open);
}

function closeMore() { setMore(false); }

// Chat --------------------------------------------------------------------

function addChat({ name, text, ts, self }) {
  const li = document.createElement('li');
  if (self) li.className = 'self';
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = `${self ? 'You' : (name || 'Guest')} · ${new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(meta, body);
  $('chat-log').append(li);
  li.scrollIntoView({ block: 'end' });
  if (!self && ($('panel').hidden || $('chat-pane').hidden)) {
    ui.unread++;
    showUnread();
  }
}

function showUnread() {
  for (const id of ['unread', 'unread2']) {
    $(id).hidden = ui.unread === 0;
    $(id).textContent = String(ui.unread);
  }
}

// Files ---------------------------------------------------------------------

const transferWords = {
  cancelled: 'Cancelled.',
  'cancelled by the receiver': 'The receiver cancelled it.',
  'cancelled by the sender': 'The sender cancelled it.',
  'connection closed': 'The connection closed before the file was through. Send it again.',
  'checksum mismatch at the receiver': 'The file arrived damaged and was thrown away. Send it again.',
  'checksum mismatch: file discarded': 'The file arrived damaged and was thrown away. Ask for it again.',
  'more data than announced': 'The file arrived damaged and was thrown away. Ask for it again.',
  'data before file header': 'The file arrived damaged and was thrown away. Ask for it again.',
  'bad file header': 'The file arrived damaged and was thrown away. Ask for it again.',
};

function addTransfer({ transfer, incoming, peerID, name, size }) {
  const li = document.createElement('li');
  li.className = incoming ? 'in' : 'out';
  const title = document.createElement('span');
  const who = ui.call.peers.get(peerID)?.info.name || 'Guest';
  title.textContent = `${incoming ? '⬇ from' : '⬆ to'} ${who}: ${name} (${formatSize(size)})`;
  const bar = document.createElement('progress');
  bar.max = size || 1;
  bar.value = 0;
  const status = document.createElement('span');
  status.className = 'status';
  status.textContent = incoming ? 'Receiving…' : 'Waiting for the channel…';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.onclick = () => transfer.cancel();
  li.append(title, bar, status, cancel);
  $('transfers').prepend(li);
  transfer.addEventListener('progress', (e) => {
    const n = incoming ? e.detail.received : e.detail.sent;
    bar.value = n;
    status.textContent = `${formatSize(n)} of ${formatSize(size)}`;
  });
  transfer.addEventListener('done', (e) => {
    cancel.remove();
    bar.value = bar.max;
    status.className = 'status ok';
    li.dataset.sha256 = e.detail.sha256;
    if (incoming) {
      status.textContent = 'Received, SHA-256 verified. ';
      const a = document.createElement('a');
      a.href = e.detail.url;
      a.download = name;
      a.className = 'download';
      a.textContent = `Save ${name}`;
      status.append(a);
    } else {
      status.textContent = 'Delivered, SHA-256 verified by the receiver.';
    }
  });
  transfer.addEventListener('error', (e) => {
    cancel.remove();
    status.className = 'status bad';
    status.textContent = transferWords[e.detail] || 'The transfer failed. Send the file again.';
  });
  if (incoming && ($('panel').hidden || $('files-pane').hidden)) notice(`${who} is sending you a file: ${name}. Open Files to save it.`);
}

// Controls ------------------------------------------------------------------

async function toggleMic() {
  const call = ui.call;
  if (!call.tracks.audio) {
    try {
      call.setLocalTrack('audio', await openTrack('audio', $('set-mic').value));
      call.setMuted(false);
    } catch (err) {
      notice(explain('microphone', err));
    }
    return;
  }
  call.setMuted(!call.state.muted);
}

async function toggleCamera() {
  const call = ui.call;
  if (!call.state.cameraOff) {
    call.setCameraOff(true);
    return;
  }
  try {
    call.setCameraOff(false, await openTrack('video', $('set-camera').value));
  } catch (err) {
    notice(explain('camera', err));
  }
}

async function toggleShare() {
  const call = ui.call;
  if (call.screen) {
    call.setScreen(null);
    return;
  }
  try {
    const t = await openScreen();
    if (ui.ended) { t.stop(); return; }
    t.addEventListener('ended', () => { if (call.screen === t) call.setScreen(null); });
    call.setScreen(t);
  } catch (err) {
    const words = explainScreen(err);
    if (words) notice(words);
  }
}

/** Starts recording, or stops it and saves the file. */
function toggleRecording() {
  if (ui.recorder) { stopRecording(); return; }
  const call = ui.call;
  const rec = new CallRecorder(() => [...ui.tiles.values()].filter((f) => !f.classList.contains('nocam')).map((f) => f.querySelector('video')));
  rec.start().catch((err) => { console.warn('recording', err); notice('The recording could not start. Try again.'); });
  rec.addAudio(call.stream);
  for (const e of call.peers.values()) rec.addAudio(e.peer.remoteStream);
  // New voices join the mix; the listener goes with the recording.
  const onTracks = (e) => { const p = call.peers.get(e.detail); if (p) rec.addAudio(p.peer.remoteStream); };
  call.addEventListener('tracks', onTracks);
  ui.stopRecorderFeed = () => call.removeEventListener('tracks', onTracks);
  ui.recorder = rec;
  call.setRecording(true);
}

/** Stops the recording and offers the file (with its duration and cues) for download. */
async function stopRecording() {
  const rec = ui.recorder;
  if (!rec) return;
  ui.recorder = null;
  ui.stopRecorderFeed();
  ui.stopRecorderFeed = () => {};
  if (!ui.call.ended) ui.call.setRecording(false);
  const { blob, filename } = await rec.stop();
  if (blob.size === 0) {
    if (!ui.ended) notice('Nothing was recorded: the recording stopped before its first frame. Record a little longer.');
    return;
  }
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.className = 'recording';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

async function changeDevice(kind, deviceID) {
  try {
    const t = await openTrack(kind, deviceID);
    if (kind === 'video' && ui.call.state.cameraOff) { t.stop(); return; }
    ui.call.setLocalTrack(kind, t);
    updateTile('self');
  } catch (err) {
    notice(explain(kind === 'video' ? 'camera' : 'microphone', err));
  }
}

function setSpeaker(id) {
  ui.speaker = id;
  for (const f of ui.tiles.values()) {
    const v = f.querySelector('video');
    if (v.setSinkId) v.setSinkId(id).catch(() => notice('That speaker cannot be used right now: pick another in Settings.'));
  }
}

async function copyLink() {
  const link = $('copy-link').dataset.link;
  try {
    await navigator.clipboard.writeText(link);
    notice('Invite link copied: ' + link);
  } catch {
    notice('Invite link: ' + link);
  }
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || $('settings').open) return;
  const k = e.key.toLowerCase();
  if (k === 'm') toggleMic();
  else if (k === 'v') toggleCamera();
  else if (k === 's') toggleShare();
  else return;
  e.preventDefault();
}

// Network check -----------------------------------------------------------

async function showNetworkCheck(all) {
  const pill = $('net-verdict');
  pill.textContent = 'Checking network…';
  const r = await all;
  if (ui.ended) return;
  pill.textContent = r.verdict;
  pill.className = 'pill verdict-pill ' + (r.good === false ? 'bad' : 'good');
  $('net-verdict-long').textContent = r.verdict;
  const list = $('net-results');
  list.replaceChildren();
  for (const x of r.results) {
    const li = document.createElement('li');
    li.className = x.ok ? 'ok' : 'fail';
    li.textContent = `TURN over ${x.transport.toUpperCase()}: ${x.ok ? `works (${x.ms} ms)` : 'blocked'}`;
    list.append(li);
  }
}

start();
