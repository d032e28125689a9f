// Local media: camera and microphone with fallbacks, device lists, the
// microphone level meter and screen capture. No DOM besides what callers
// pass in.

/**
 * Asks for camera and microphone (as wanted), falling back to what is
 * allowed and present: both, else microphone only, else camera only, else
 * nothing (receive-only). Returns the stream (possibly without tracks) and,
 * when something was not obtained, a sentence that says why.
 */
export async function openLocalMedia({ audioID = '', videoID = '', audio = true, video = true } = {}) {
  const stream = new MediaStream();
  const problems = [];
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream, warning: 'This browser gives the page no camera or microphone (the page needs HTTPS). You can still join to watch and listen.' };
  }
  const a = audio ? (audioID ? { deviceId: { exact: audioID } } : true) : false;
  const v = video ? videoConstraints(videoID) : false;
  if (a && v) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: a, video: v });
      return { stream: s, warning: '' };
    } catch (err) {
      // Fall through: try each kind alone to learn which one is refused.
    }
  }
  for (const [kind, c] of [['microphone', a], ['camera', v]]) {
    if (!c) continue;
    try {
      const s = await navigator.mediaDevices.getUserMedia(kind === 'camera' ? { video: c } : { audio: c });
      s.getTracks().forEach((t) => stream.addTrack(t));
    } catch (err) {
      problems.push(explain(kind, err));
    }
  }
  let warning = problems.join(' ');
  if (problems.length && stream.getTracks().length === 0) {
    warning += ' You can still join: others will see and hear you once you allow it, and you will see and hear them.';
  } else if (problems.length) {
    warning += ' You can still join with what works.';
  }
  return { stream, warning };
}

export function videoConstraints(deviceID) {
  const c = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (deviceID) c.deviceId = { exact: deviceID };
  return c;
}

/** Opens one kind ('audio'|'video') on a chosen device and returns its track. */
export async function openTrack(kind, deviceID) {
  const c = kind === 'video' ? { video: videoConstraints(deviceID) }
    : { audio: deviceID ? { deviceId: { exact: deviceID } } : true };
  const s = await navigator.mediaDevices.getUserMedia(c);
  return s.getTracks()[0];
}

/** A sentence for people about why a device could not be used. */
export function explain(kind, err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Permission to use the ${kind} was denied: allow it in the browser's site settings and reload.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${kind} was found.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${kind} is in use by another application or could not be started.`;
    default:
      return `The ${kind} could not be opened (${err && err.name ? err.name : err}).`;
  }
}

/** Devices grouped by kind: {audioinput:[], videoinput:[], audiooutput:[]}. */
export async function listDevices() {
  const out = { audioinput: [], videoinput: [], audiooutput: [] };
  if (!navigator.mediaDevices?.enumerateDevices) return out;
  for (const d of await navigator.mediaDevices.enumerateDevices()) {
    if (out[d.kind] && d.deviceId) out[d.kind].push(d);
  }
  return out;
}

/** Screen capture; resolves with a video track or rejects. */
export async function openScreen() {
  const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  return s.getVideoTracks()[0];
}

/**
 * Drives a <meter> with the level of the stream's audio track. Returns a
 * stop function.
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
