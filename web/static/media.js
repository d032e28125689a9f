// @ts-check
// Local media: camera and microphone with fallbacks, device lists, the
// microphone level meter and screen capture. No DOM besides what callers
// pass in.

/**
 * Asks for camera and microphone (as wanted), falling back to what is
 * allowed and present: both, else microphone only, else camera only, else
 * nothing (receive-only). Returns the stream (possibly without tracks) and,
 * when something was not obtained, a sentence that says why.
 * @param {{audioID?: string, videoID?: string, audio?: boolean, video?: boolean}} [want]
 * @returns {Promise<{stream: MediaStream, blocked: {camera: boolean, microphone: boolean}, warning: string}>}
 */
export async function openLocalMedia({ audioID = '', videoID = '', audio = true, video = true } = {}) {
  const stream = new MediaStream();
  const problems = [];
  const blocked = { camera: false, microphone: false };
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream, blocked, warning: 'This page cannot use a camera or microphone here: it needs an HTTPS address. You can still join to watch and listen.' };
  }
  const a = audio ? (audioID ? { deviceId: { exact: audioID } } : true) : false;
  const v = video ? videoConstraints(videoID) : false;
  if (a && v) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: a, video: v });
      return { stream: s, blocked, warning: '' };
    } catch (err) {
      // Fall through: try each kind alone to learn which one is refused.
    }
  }
  for (const [kind, c] of /** @type {['microphone'|'camera', boolean|MediaTrackConstraints][]} */ ([['microphone', a], ['camera', v]])) {
    if (!c) continue;
    try {
      const s = await navigator.mediaDevices.getUserMedia(kind === 'camera' ? { video: c } : { audio: c });
      s.getTracks().forEach((t) => stream.addTrack(t));
    } catch (err) {
      if (isBlocked(err)) blocked[kind] = true;
      problems.push(explain(kind, err));
    }
  }
  let warning = problems.join(' ');
  if (problems.length) warning += ' You can join anyway.';
  return { stream, blocked, warning };
}

/** Whether an error means the person (or the browser's settings) refused the device. */
export function isBlocked(err) {
  return err?.name === 'NotAllowedError' || err?.name === 'SecurityError';
}

/**
 * The camera constraints: 720p at 30 fps, on deviceID when given.
 * @param {string} [deviceID]
 * @returns {MediaTrackConstraints}
 */
export function videoConstraints(deviceID) {
  const c = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (deviceID) c.deviceId = { exact: deviceID };
  return c;
}

/**
 * Opens one kind ('audio'|'video') on a chosen device and returns its track.
 * @param {'audio'|'video'} kind
 * @param {string} deviceID
 * @returns {Promise<MediaStreamTrack>}
 */
export async function openTrack(kind, deviceID) {
  const c = kind === 'video' ? { video: videoConstraints(deviceID) }
    : { audio: deviceID ? { deviceId: { exact: deviceID } } : true };
  const s = await navigator.mediaDevices.getUserMedia(c);
  return s.getTracks()[0];
}

/**
 * A short sentence for people about why a device could not be used, with
 * what to do. Never the browser's own message: it is written for
 * developers ("The object can not be found here.").
 * @param {'camera'|'microphone'} kind
 * @param {any} err what getUserMedia rejected with
 * @returns {string}
 */
export function explain(kind, err) {
  const K = kind.charAt(0).toUpperCase() + kind.slice(1);
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `${K} blocked: allow it in the site settings next to the address bar, then reload.`;
    case 'NotFoundError':
      return `No ${kind} found: plug one in, then reload.`;
    case 'OverconstrainedError':
      return `The chosen ${kind} is not available: pick another in Settings.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${kind} is busy: close the other app using it, then reload.`;
    default:
      return `The ${kind} could not be started: reload the page to try again.`;
  }
}

/**
 * A sentence for a failed screen share, or '' when the person cancelled.
 * @param {any} err what getDisplayMedia rejected with
 * @returns {string}
 */
export function explainScreen(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
      return ''; // cancelled in the picker, or refused: nothing to say
    case 'NotFoundError':
      return 'There is nothing to share: no screen or window was offered. Try again and pick one.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The screen could not be captured: the system refused. Check its screen-recording permission, then try again.';
    case 'TypeError':
    case 'NotSupportedError':
    case 'InvalidStateError':
      return 'This browser cannot share the screen. Try a desktop browser.';
    default:
      return 'Screen sharing could not start. Try again.';
  }
}

/** Whether this browser can share a screen at all (phones cannot). */
export function canShareScreen() {
  return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/**
 * Devices grouped by kind: {audioinput:[], videoinput:[], audiooutput:[]}.
 * @returns {Promise<Record<MediaDeviceKind, MediaDeviceInfo[]>>}
 */
export async function listDevices() {
  const out = { audioinput: [], videoinput: [], audiooutput: [] };
  if (!navigator.mediaDevices?.enumerateDevices) return out;
  for (const d of await navigator.mediaDevices.enumerateDevices()) {
    if (out[d.kind] && d.deviceId) out[d.kind].push(d);
  }
  return out;
}

/**
 * Screen capture; resolves with a video track or rejects.
 * @returns {Promise<MediaStreamTrack>}
 */
export async function openScreen() {
  const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  return s.getVideoTracks()[0];
}

/**
 * Drives a <meter> with the level of the stream's audio track. Returns a
 * stop function.
 * @param {MediaStream} stream
 * @param {HTMLMeterElement} meter
 * @returns {() => void}
 */
export function levelMeter(stream, meter) {
  const track = stream.getAudioTracks()[0];
  if (!track || typeof AudioContext === 'undefined') {
    meter.value = 0;
    return () => {};
  }
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  let raf = 0;
  const tick = () => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const rms = Math.sqrt(sum / buf.length);
    meter.value = Math.min(1, rms * 4);
    raf = requestAnimationFrame(tick);
  };
  tick();
  return () => { cancelAnimationFrame(raf); ctx.close(); };
}
