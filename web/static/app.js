// The page's UI: landing, pre-join check, the call screen. It wires the
// signaling client (signaling.js), the call (call.js, peer connections)
// and media (media.js) to the DOM. User text only ever goes in through
// textContent.

import { Signaling, SignalingError, preflight } from './signaling.js';
import { Call, cleanName } from './call.js';
import { openLocalMedia, openTrack, openScreen, listDevices, levelMeter, explain } from './media.js';
import { selectedPath, bitrate, formatBitrate } from './stats.js';
import { checkNetwork } from './netcheck.js';
import { formatSize } from './files.js';
import { CallRecorder } from './recorder.js';

const $ = (id) => document.getElementById(id);
const NAME_KEY = 'streamsync.name';
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const STATS_MS = 2000;

const ui = {
  room: '', // '' = create a new room on join
  stream: null,
  mediaReady: Promise.resolve(),
  stopMeter: () => {},
  devices: { audioinput: [], videoinput: [], audiooutput: [] },
  sig: null,
  call: null,
  tiles: new Map(), // peer id ('self' for us) -> figure
  stats: new Map(), // peer id -> last selectedPath sample
  unread: 0,
  recorder: null,
  speaker: '',
};

// ---------------------------------------------------------------- routing

function show(id) {
  for (const s of ['landing', 'prejoin', 'call', 'ended']) $(s).hidden = s !== id;
}

function roomFromURL() {
  const m = /^\/r\/([^/]+)$/.exec(location.pathname);
  const r = m ? m[1] : location.hash.slice(1);
  return ROOM_RE.test(r) ? r : '';
}

/** The invite link for a room: the id rides in the fragment, out of logs and Referer. */
export function inviteLink(room) {
  return `${location.origin}/#${room}`;
}

/** Reads a meeting code out of a code or a pasted link. */
export function parseCode(s) {
  s = String(s).trim();
  const m = /(?:\/r\/|#)([A-Za-z0-9_-]{1,64})\s*$/.exec(s);
  if (m) return m[1];
  return ROOM_RE.test(s) ? s : '';
}

function start() {
  const params = new URLSearchParams(location.search);
  $('pre-relay').checked = params.get('relay') === '1';
  const room = roomFromURL();
  if (room) enterPrejoin(room);
  else enterLanding();
  addEventListener('hashchange', () => {
    if (!ui.call && roomFromURL()) enterPrejoin(roomFromURL());
  });
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
      $('landing-error').textContent = 'That is not a meeting code or link.';
      return;
    }
    history.pushState(null, '', '/#' + code);
    enterPrejoin(code);
  };
}

// ---------------------------------------------------------------- pre-join

async function enterPrejoin(room) {
  ui.room = room;
  show('prejoin');
  $('prejoin-title').textContent = room ? 'Ready to join?' : 'Start a new meeting';
  $('pre-name').value = localStorage.getItem(NAME_KEY) || '';
  $('join-button').textContent = room ? 'Join' : 'Start meeting';
  $('join-button').onclick = () => join();
  if (!room) {
    preflight().then((w) => { $('pre-password-row').hidden = !w.createPasswordRequired; })
      .catch(() => { /* the join will say what is wrong */ });
  }
  ui.mediaReady = openPreview();
  await ui.mediaReady;
  $('pre-camera').onchange = () => switchPreview('video', $('pre-camera').value);
  $('pre-mic').onchange = () => switchPreview('audio', $('pre-mic').value);
}

async function openPreview() {
  if (ui.stream) for (const t of ui.stream.getTracks()) t.stop();
  const { stream, warning } = await openLocalMedia();
  ui.stream = stream;
  $('media-warning').hidden = !warning;
  $('media-warning').textContent = warning;
  attachPreview();
  await refreshDevices();
}

function attachPreview() {
  $('preview').srcObject = ui.stream;
  $('preview-off').hidden = ui.stream.getVideoTracks().length > 0;
  ui.stopMeter();
  ui.stopMeter = levelMeter(ui.stream, $('mic-level'));
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
  fill($('pre-camera'), ui.devices.videoinput, cur.videoinput, 'Camera');
  fill($('pre-mic'), ui.devices.audioinput, cur.audioinput, 'Microphone');
  fill($('set-camera'), ui.devices.videoinput, cur.videoinput, 'Camera');
  fill($('set-mic'), ui.devices.audioinput, cur.audioinput, 'Microphone');
  fill($('set-speaker'), ui.devices.audiooutput, cur.audiooutput, 'Speaker');
}

function fill(select, list, current, label) {
  select.replaceChildren();
  if (list.length === 0) {
    select.append(new Option(`No ${label.toLowerCase()}`, ''));
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
  'bad-message': 'The server refused the request (is the name too long?).',
  unavailable: 'The server cannot take this meeting right now. Try again in a moment.',
  connect: 'Cannot reach the server. Check your connection and try again.',
};

async function join() {
  const name = cleanName($('pre-name').value);
  localStorage.setItem(NAME_KEY, name);
  $('join-button').disabled = true;
  $('join-error').textContent = '';
  await ui.mediaReady; // a quick click may come before the camera answered
  const sig = new Signaling();
  const state = {
    muted: false,
    cameraOff: ui.stream.getVideoTracks().length === 0,
    sharing: false,
    recording: false,
  };
  let joined;
  try {
    joined = await sig.join({ room: ui.room, name, password: $('pre-password').value, state });
  } catch (err) {
    const code = err instanceof SignalingError ? err.code : 'connect';
    let msg = joinErrors[code] || `The server said: ${err.message}`;
    if (code === 'room-full') msg += ' It holds at most ' + (sig.limits?.maxPeersPerRoom || 'a few') + ' people.';
    $('join-error').textContent = msg;
    $('join-button').disabled = false;
    return;
  }
  ui.stopMeter();
  ui.sig = sig;
  ui.call = new Call({ signaling: sig, relayOnly: $('pre-relay').checked, stream: ui.stream, state, name });
  if (!ui.room) {
    ui.room = joined.room;
    history.replaceState(null, '', '/#' + joined.room);
  }
  enterCall();
  ui.call.onJoined(joined);
  runNetworkCheck(joined.iceServers);
}

// ---------------------------------------------------------------- call

function enterCall() {
  show('call');
  const call = ui.call;
  $('set-relay').checked = call.relayOnly;
  $('set-name').value = call.name;
  $('copy-link').dataset.link = inviteLink(ui.room);
  addTile('self');
  updateSelf();

  call.addEventListener('peer-added', (e) => { addTile(e.detail); renderPerson(e.detail); updateRoster(); });
  call.addEventListener('peer-removed', (e) => { removeTile(e.detail); updateRoster(); });
  call.addEventListener('peer-updated', (e) => { renderPerson(e.detail); updateTile(e.detail); updateRecording(); });
  call.addEventListener('tracks', (e) => updateTile(e.detail));
  call.addEventListener('self', () => updateSelf());
  call.addEventListener('chat', (e) => addChat(e.detail));
  call.addEventListener('file', (e) => addTransfer(e.detail));
  call.addEventListener('error', (e) => notice(`Server: ${e.detail.message || e.detail.code}`));

  ui.sig.addEventListener('status', (e) => setStatus(e.detail));
  ui.sig.addEventListener('fatal', (e) => endCall(e.detail));
  setStatus('connected');

  $('btn-mic').onclick = toggleMic;
  $('btn-cam').onclick = toggleCamera;
  $('btn-share').onclick = toggleShare;
  $('btn-record').onclick = toggleRecording;
  $('btn-leave').onclick = () => { call.leave(); };
  $('btn-settings').onclick = () => { refreshDevices(); $('settings').showModal(); };
  $('btn-people').onclick = () => openPanel('people');
  $('btn-chat').onclick = () => openPanel('chat');
  $('btn-files').onclick = () => openPanel('files');
  $('tab-people').onclick = () => openPanel('people');
  $('tab-chat').onclick = () => openPanel('chat');
  $('tab-files').onclick = () => openPanel('files');
  $('panel-close').onclick = () => { $('panel').hidden = true; };
  $('copy-link').onclick = copyLink;
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
  $('set-name').onchange = () => { call.setName($('set-name').value); localStorage.setItem(NAME_KEY, call.name); };
  document.addEventListener('keydown', onKey);
  setInterval(pollStats, STATS_MS);
  openPanel('people');
  if (innerWidth < 720) $('panel').hidden = true;
}

function setStatus(s) {
  const words = { connected: 'Connected', reconnecting: 'Reconnecting…', connecting: 'Connecting…', closed: 'Disconnected' };
  $('conn-status').textContent = words[s] || s;
  $('conn-status').dataset.status = s;
  $('conn-status').className = 'pill ' + (s === 'connected' ? 'good' : 'bad');
}

function endCall(reason) {
  if (ui.recorder) toggleRecording();
  for (const id of [...ui.tiles.keys()]) removeTile(id);
  document.removeEventListener('keydown', onKey);
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

// Tiles -----------------------------------------------------------------

function addTile(id) {
  if (ui.tiles.has(id)) return;
  const fig = $('tile-template').content.firstElementChild.cloneNode(true);
  fig.dataset.peer = id;
  const video = fig.querySelector('video');
  if (id === 'self') {
    fig.classList.add('self');
    video.muted = true;
    video.srcObject = ui.call.stream;
  }
  if (ui.speaker && video.setSinkId) video.setSinkId(ui.speaker).catch(() => {});
  ui.tiles.set(id, fig);
  $('grid').append(fig);
  $('grid').dataset.count = String(ui.tiles.size);
  updateTile(id);
}

function removeTile(id) {
  const fig = ui.tiles.get(id);
  if (!fig) return;
  fig.querySelector('video').srcObject = null;
  fig.remove();
  ui.tiles.delete(id);
  ui.stats.delete(id);
  $('grid').dataset.count = String(ui.tiles.size);
  document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`)?.remove();
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
    if (call.screen) {
      if (v.srcObject?.getVideoTracks()[0] !== call.screen) v.srcObject = new MediaStream([call.screen]);
    } else if (v.srcObject !== call.stream) {
      v.srcObject = call.stream;
    }
  } else {
    const e = call.peers.get(id);
    if (!e) return;
    name = e.info.name || 'Guest';
    state = e.info.state || {};
    stream = e.peer.remoteStream;
    const v = fig.querySelector('video');
    if (v.srcObject !== stream) v.srcObject = stream;
    v.play().catch((err) => {
      if (err.name !== 'NotAllowedError') return; // interrupted by a newer load: fine
      // Autoplay with sound refused: play muted and ask for a click.
      v.muted = true;
      v.play().catch(() => {});
      notice('Your browser held back the sound: click anywhere to hear the others.');
      document.addEventListener('click', () => { for (const f of ui.tiles.values()) if (f.dataset.peer !== 'self') f.querySelector('video').muted = false; }, { once: true });
    });
  }
  const hasVideo = id === 'self' ? (!!call.screen || (!state.cameraOff && stream.getVideoTracks().length > 0))
    : (stream.getVideoTracks().length > 0 && (!state.cameraOff || state.sharing));
  fig.classList.toggle('nocam', !hasVideo);
  fig.classList.toggle('screen', !!state.sharing);
  fig.querySelector('.name').textContent = name;
  fig.querySelector('.avatar').textContent = initials(name);
  const flags = [];
  if (state.muted) flags.push('muted');
  if (state.sharing) flags.push('sharing');
  if (state.recording) flags.push('recording');
  fig.querySelector('.flags').textContent = flags.join(' · ');
  fig.setAttribute('aria-label', name);
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}

// People ------------------------------------------------------------------

function renderPerson(id) {
  const e = ui.call.peers.get(id);
  if (!e) return;
  let li = document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`);
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
  updateRecording();
}

async function pollStats() {
  if (!ui.call) return;
  for (const [id, e] of ui.call.peers) {
    const li = document.querySelector(`#people li[data-peer="${CSS.escape(id)}"]`);
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
    status.textContent = `Failed: ${e.detail}`;
  });
  if (incoming && ($('panel').hidden || $('files-pane').hidden)) notice(`${who} is sending you a file: ${name}. See Files.`);
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
    t.addEventListener('ended', () => { if (call.screen === t) call.setScreen(null); });
    call.setScreen(t);
  } catch (err) {
    if (err && err.name !== 'NotAllowedError') notice(`Screen sharing failed: ${err.message || err}`);
  }
}

async function toggleRecording() {
  const call = ui.call;
  if (ui.recorder) {
    const rec = ui.recorder;
    ui.recorder = null;
    call.setRecording(false);
    const { blob, filename } = await rec.stop();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    return;
  }
  const rec = new CallRecorder(() => [...ui.tiles.values()].map((f) => f.querySelector('video')));
  rec.start();
  rec.addAudio(call.stream);
  for (const e of call.peers.values()) rec.addAudio(e.peer.remoteStream);
  call.addEventListener('tracks', (e) => { const p = call.peers.get(e.detail); if (p && ui.recorder === rec) rec.addAudio(p.peer.remoteStream); });
  ui.recorder = rec;
  call.setRecording(true);
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
    if (v.setSinkId) v.setSinkId(id).catch((err) => notice(`Cannot use that speaker: ${err.message}`));
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

async function runNetworkCheck(iceServers) {
  const pill = $('net-verdict');
  pill.textContent = 'Checking network…';
  const r = await checkNetwork(iceServers);
  pill.textContent = r.verdict;
  pill.className = 'pill ' + (r.good === false ? 'bad' : 'good');
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
