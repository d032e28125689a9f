// @ts-check
// File transfer over a DataChannel per file and recipient. The sender reads
// the File by slices (memory does not grow with the file), cuts 16 KiB
// chunks, and waits on bufferedAmountLowThreshold when the channel's buffer
// is full; both sides hash as they go and the receiver checks the SHA-256.
//
// Wire format on a channel labelled "file": first a JSON text message
// {type:"meta", id, name, size, mime}; then binary chunks; then JSON
// {type:"end", sha256}. The receiver answers {type:"done", ok} and either
// side may send {type:"cancel"} at any time.

import { SHA256 } from './sha256.js';

export const CHUNK = 16 * 1024;
const SLICE = 1024 * 1024; // bytes read from the File at a time
const HIGH_WATER = 2 * 1024 * 1024; // pause sending above this much buffered
const LOW_WATER = 512 * 1024; // resume below this (bufferedAmountLowThreshold)

/** One outgoing transfer. Events: progress, done, error. */
export class FileSend extends EventTarget {
  /** @param {RTCDataChannel} channel @param {File} file */
  constructor(channel, file) {
    super();
    this.channel = channel;
    this.file = file;
    this.id = crypto.randomUUID();
    this.sent = 0;
    this.cancelled = false;
    this.finished = false;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW_WATER;
    channel.onmessage = (e) => this.onMessage(e.data);
    channel.onclose = () => {
      if (!this.finished) this.fail(this.cancelled ? 'cancelled' : 'connection closed');
    };
    channel.onopen = () => this.run().catch((err) => this.fail(String(err)));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  async run() {
    const f = this.file;
    const ch = this.channel;
    ch.send(JSON.stringify({ type: 'meta', id: this.id, name: f.name, size: f.size, mime: f.type }));
    const hash = new SHA256();
    for (let off = 0; off < f.size && !this.cancelled; off += SLICE) {
      const buf = new Uint8Array(await f.slice(off, off + SLICE).arrayBuffer());
      hash.update(buf);
      for (let i = 0; i < buf.length && !this.cancelled; i += CHUNK) {
        if (ch.bufferedAmount > HIGH_WATER) await drained(ch);
        if (ch.readyState !== 'open') throw new Error('connection closed');
        ch.send(buf.subarray(i, i + CHUNK));
        this.sent += Math.min(CHUNK, buf.length - i);
        this.emit('progress', { sent: this.sent, size: f.size });
      }
    }
    if (this.cancelled) return;
    this.sha256 = hash.hex();
    ch.send(JSON.stringify({ type: 'end', sha256: this.sha256 }));
  }

  onMessage(data) {
    const m = typeof data === 'string' ? parse(data) : null;
    if (!m) return;
    if (m.type === 'done') {
      this.finished = true;
      this.emit(m.ok ? 'done' : 'error', m.ok ? { sha256: this.sha256 } : 'checksum mismatch at the receiver');
      this.channel.close();
    } else if (m.type === 'cancel') {
      this.cancelled = true;
      this.fail('cancelled by the receiver');
    }
  }

  cancel() {
    if (this.finished) return;
    this.cancelled = true;
    try { this.channel.send(JSON.stringify({ type: 'cancel' })); } catch { /* closed already */ }
    this.fail('cancelled');
  }

  fail(reason) {
    if (this.finished) return;
    this.finished = true;
    this.emit('error', reason);
    try { this.channel.close(); } catch { /* closed already */ }
  }
}

/** One incoming transfer. Events: meta, progress, done ({url, sha256}), error. */
export class FileReceive extends EventTarget {
  /** @param {RTCDataChannel} channel */
  constructor(channel) {
    super();
    this.channel = channel;
    this.meta = null;
    this.parts = [];
    this.received = 0;
    this.hash = new SHA256();
    this.finished = false;
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (e) => this.onMessage(e.data);
    channel.onclose = () => { if (!this.finished) this.fail('connection closed'); };
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  onMessage(data) {
    if (this.finished) return;
    if (typeof data !== 'string') {
      if (!this.meta) return this.fail('data before file header');
      const b = new Uint8Array(data);
      this.received += b.length;
      if (this.received > this.meta.size) return this.fail('more data than announced');
      this.hash.update(b);
      this.parts.push(data);
      this.emit('progress', { received: this.received, size: this.meta.size });
      return;
    }
    const m = parse(data);
    if (!m) return;
    if (m.type === 'meta' && !this.meta) {
      const size = Number(m.size);
      if (!Number.isSafeInteger(size) || size < 0) return this.fail('bad file header');
      this.meta = { name: String(m.name || 'file').slice(0, 255), size, mime: String(m.mime || '') };
      this.emit('meta', this.meta);
    } else if (m.type === 'end') {
      const sha256 = this.hash.hex();
      const ok = this.received === this.meta?.size && sha256 === m.sha256;
      this.finished = true;
      try { this.channel.send(JSON.stringify({ type: 'done', ok })); } catch { /* closed */ }
      if (!ok) {
        this.parts = [];
        this.emit('error', 'checksum mismatch: file discarded');
        return;
      }
      const blob = new Blob(this.parts, { type: safeMime(this.meta.mime) });
      this.parts = [];
      this.emit('done', { url: URL.createObjectURL(blob), sha256, size: blob.size });
    } else if (m.type === 'cancel') {
      this.fail('cancelled by the sender');
    }
  }

  cancel() {
    if (this.finished) return;
    try { this.channel.send(JSON.stringify({ type: 'cancel' })); } catch { /* closed */ }
    this.fail('cancelled');
  }

  fail(reason) {
    if (this.finished) return;
    this.finished = true;
    this.parts = [];
    this.emit('error', reason);
    try { this.channel.close(); } catch { /* closed */ }
  }
}

// Received files are only offered for download, never rendered by the
// page: a type that a browser would run (HTML, SVG, XML) is downgraded.
function safeMime(m) {
  return /^[\w.+-]+\/[\w.+-]+$/.test(m) && !/html|xml|svg|javascript/i.test(m) ? m : 'application/octet-stream';
}

function drained(ch) {
  return new Promise((resolve) => {
    const done = () => {
      ch.removeEventListener('bufferedamountlow', done);
      ch.removeEventListener('close', done);
      resolve();
    };
    ch.addEventListener('bufferedamountlow', done);
    ch.addEventListener('close', done);
  });
}

function parse(s) {
  try { return JSON.parse(s); } catch { return null; }
}

/**
 * "5.0 MiB"
 * @param {number} n bytes
 */
export function formatSize(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return n + ' B';
}
