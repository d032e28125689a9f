// @ts-check
// Local recording of the call: the visible tiles drawn onto a canvas and
// everyone's audio mixed, recorded with MediaRecorder into a WebM file that
// stays on this computer. The others are told through signaling state.
// When it stops, the file gets its duration and cues (webm.js), so common
// players show its length and can seek.

import { finishWebM } from './webm.js';

const FPS = 15;
const W = 1280, H = 720;

export class CallRecorder {
  /**
   * @param {() => HTMLVideoElement[]} videos the tiles' video elements, in order
   */
  constructor(videos) {
    this.videos = videos;
    this.chunks = [];
    /** @type {Map<string, MediaStreamAudioSourceNode>} */
    this.sources = new Map(); // MediaStreamTrack id -> source node
    // Set by start():
    /** @type {HTMLCanvasElement|undefined} */
    this.canvas = undefined;
    /** @type {CanvasRenderingContext2D|undefined} */
    this.ctx2d = undefined;
    /** @type {AudioContext|undefined} */
    this.audio = undefined; // the audio mix
    /** @type {MediaStreamAudioDestinationNode|undefined} */
    this.dest = undefined;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.timer = undefined; // draws the canvas
    /** @type {Date|undefined} */
    this.started = undefined;
    /** @type {MediaStream|undefined} */
    this.stream = undefined; // what is recorded
    /** @type {MediaRecorder|undefined} */
    this.rec = undefined;
    /** @type {boolean|undefined} */
    this.stopped = undefined; // set by stop()
  }

  static supported() {
    return typeof MediaRecorder !== 'undefined' && typeof HTMLCanvasElement.prototype.captureStream === 'function';
  }

  /**
   * Starts recording. The audio mix's context must be running first: a
   * WebM muxer that was promised an audio track writes nothing until its
   * first audio arrives, and a context that never starts (no audio output
   * here) would leave an empty file. After a second without it the
   * recording goes on with the pictures alone.
   */
  async start() {
    this.canvas = document.createElement('canvas');
    this.canvas.width = W;
    this.canvas.height = H;
    this.ctx2d = this.canvas.getContext('2d');
    this.audio = new AudioContext();
    this.dest = this.audio.createMediaStreamDestination();
    this.timer = setInterval(() => this.draw(), 1000 / FPS);
    this.draw();
    this.started = new Date();
    const running = this.audio.state === 'running' || await Promise.race([
      this.audio.resume().then(() => this.audio.state === 'running', () => false),
      new Promise((r) => setTimeout(() => r(false), 1000)),
    ]);
    if (this.stopped) return;
    this.stream = new MediaStream([...this.canvas.captureStream(FPS).getVideoTracks(),
      ...(running ? this.dest.stream.getAudioTracks() : [])]);
    const types = running ? ['video/webm;codecs=vp8,opus', 'video/webm'] : ['video/webm;codecs=vp8', 'video/webm'];
    const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || '';
    this.rec = new MediaRecorder(this.stream, mimeType ? { mimeType } : {});
    this.rec.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this.rec.onerror = (e) => console.warn('recording:', e.error || e);
    this.rec.start(1000);
  }

  /**
   * Mixes in the audio of a stream (call again when tracks change).
   * @param {MediaStream} stream
   */
  addAudio(stream) {
    if (!this.audio) return;
    for (const t of stream.getAudioTracks()) {
      if (this.sources.has(t.id)) continue;
      const src = this.audio.createMediaStreamSource(new MediaStream([t]));
      src.connect(this.dest);
      this.sources.set(t.id, src);
    }
  }

  draw() {
    const vids = this.videos().filter((v) => v.videoWidth > 0);
    const c = this.ctx2d;
    c.fillStyle = '#111';
    c.fillRect(0, 0, W, H);
    const n = Math.max(1, vids.length);
    const cols = Math.ceil(Math.sqrt(n));
    const rows = Math.ceil(n / cols);
    const cw = W / cols, ch = H / rows;
    vids.forEach((v, i) => {
      const x = (i % cols) * cw, y = Math.floor(i / cols) * ch;
      const s = Math.min(cw / v.videoWidth, ch / v.videoHeight);
      const w = v.videoWidth * s, h = v.videoHeight * s;
      c.drawImage(v, x + (cw - w) / 2, y + (ch - h) / 2, w, h);
    });
  }

  /**
   * Stops and resolves with {blob, filename, durationMs}: the WebM with its
   * duration and cues written in (or as recorded, if it cannot be read).
   * @returns {Promise<{blob: Blob, filename: string, durationMs: number}>}
   */
  async stop() {
    this.stopped = true;
    const raw = !this.rec ? new Blob([], { type: 'video/webm' }) : await new Promise((resolve) => {
      this.rec.onstop = () => resolve(new Blob(this.chunks, { type: 'video/webm' }));
      this.rec.stop();
    });
    clearInterval(this.timer);
    for (const t of this.stream?.getTracks() || []) t.stop();
    this.audio.close();
    this.chunks = [];
    const stamp = this.started.toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const filename = `streamsync-${stamp}.webm`;
    try {
      const { blob, durationMs } = await finishWebM(raw);
      return { blob, filename, durationMs };
    } catch (err) {
      console.warn('recording: cannot write duration and cues', err);
      return { blob: raw, filename, durationMs: Date.now() - this.started.getTime() };
    }
  }
}
