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
    this.sources = new Map(); // MediaStreamTrack id -> source node
  }

  static supported() {
    return typeof MediaRecorder !== 'undefined' && typeof HTMLCanvasElement.prototype.captureStream === 'function';
  }

  start() {
    this.canvas = document.createElement('canvas');
    this.canvas.width = W;
    this.canvas.height = H;
    this.ctx2d = this.canvas.getContext('2d');
    this.audio = new AudioContext();
    this.dest = this.audio.createMediaStreamDestination();
    this.timer = setInterval(() => this.draw(), 1000 / FPS);
    this.draw();
    this.stream = new MediaStream([...this.canvas.captureStream(FPS).getVideoTracks(), ...this.dest.stream.getAudioTracks()]);
    const stream = this.stream;
    const types = ['video/webm;codecs=vp8,opus', 'video/webm'];
    const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || '';
    this.rec = new MediaRecorder(stream, mimeType ? { mimeType } : {});
    this.rec.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this.rec.start(1000);
    this.started = new Date();
  }

  /** Mixes in the audio of a stream (call again when tracks change). */
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
   */
  async stop() {
    const raw = await new Promise((resolve) => {
      this.rec.onstop = () => resolve(new Blob(this.chunks, { type: 'video/webm' }));
      this.rec.stop();
    });
    clearInterval(this.timer);
    for (const t of this.stream.getTracks()) t.stop();
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
