// @ts-check
// Makes a MediaRecorder WebM seekable. Browsers write a live stream: the
// Segment and its Clusters have "unknown" sizes, the Info has no Duration
// and there are no Cues, so players show no length (Infinity) and cannot
// seek. finishWebM rewrites the file's frame around the recorded media:
// a Segment of known size with a SeekHead, the Info with a Duration, the
// Tracks, every Cluster with its size, and Cues naming each Cluster that
// starts with a video key frame. The media blocks themselves are not
// copied: the result is a Blob of slices of the original bytes.
//
// EBML (RFC 8794) and the Matroska elements used (RFC 9559): an element is
// an ID (1-4 bytes, length marker kept), a size (1-8 bytes, marker
// removed; all ones = unknown) and its data.

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  Void: 0xec,
};

// Elements that can follow a Cluster at Segment level: where a Cluster of
// unknown size ends.
const SEGMENT_CHILDREN = new Set([ID.SeekHead, ID.Info, ID.Tracks, ID.Cluster, ID.Cues,
  0x1254c367 /* Tags */, 0x1043a770 /* Chapters */, 0x1941a469 /* Attachments */]);

/** @typedef {{id: number, start: number, dataStart: number, end: number, unknown: boolean}} Element */

/**
 * Reads the element header at off.
 * @param {Uint8Array} b
 * @param {number} off
 * @param {number} limit end of the parent's data
 * @returns {Element}
 */
function header(b, off, limit) {
  const first = b[off];
  let idLen = 1;
  while (idLen <= 4 && !(first & (0x80 >> (idLen - 1)))) idLen++;
  if (idLen > 4 || off + idLen > limit) throw new Error('bad EBML id at ' + off);
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + b[off + i];
  const s = off + idLen;
  const sf = b[s];
  let sizeLen = 1;
  while (sizeLen <= 8 && !(sf & (0x80 >> (sizeLen - 1)))) sizeLen++;
  if (sizeLen > 8 || s + sizeLen > limit) throw new Error('bad EBML size at ' + s);
  let size = sf & (0xff >> sizeLen);
  let allOnes = size === (0xff >> sizeLen);
  for (let i = 1; i < sizeLen; i++) {
    size = size * 256 + b[s + i];
    if (b[s + i] !== 0xff) allOnes = false;
  }
  const dataStart = s + sizeLen;
  if (allOnes) return { id, start: off, dataStart, end: limit, unknown: true };
  return { id, start: off, dataStart, end: Math.min(limit, dataStart + size), unknown: false };
}

/**
 * The children of an element, ending an unknown-size one where a sibling
 * of its own level begins.
 * @param {Uint8Array} b
 * @param {Element} el
 * @param {Set<number>} [stopAt]
 * @returns {{children: Element[], end: number}}
 */
function children(b, el, stopAt) {
  const out = [];
  let off = el.dataStart;
  while (off < el.end) {
    if (el.end - off < 2) break;
    const c = header(b, off, el.end);
    if (el.unknown && stopAt && stopAt.has(c.id)) break;
    if (c.unknown) {
      // Only a Cluster is written with an unknown size inside a Segment.
      c.end = children(b, c, SEGMENT_CHILDREN).end;
    }
    out.push(c);
    off = c.end;
  }
  return { children: out, end: el.unknown ? off : el.end };
}

/** @param {Uint8Array} b @param {Element} e */
function uint(b, e) {
  let v = 0;
  for (let i = e.dataStart; i < e.end; i++) v = v * 256 + b[i];
  return v;
}

/** A VINT of 8 bytes: every size is written at full width, so lengths are known up front. */
function size8(n) {
  const out = new Uint8Array(8);
  out[0] = 0x01;
  for (let i = 7; i >= 1; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
  return out;
}

/** An unsigned integer as 8 bytes, big-endian: a SeekPosition of fixed width. */
function uint64(n) {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
  return out;
}

function idBytes(id) {
  const out = [];
  while (id > 0) { out.unshift(id & 0xff); id = Math.floor(id / 256); }
  return Uint8Array.from(out);
}

/** @param {...Uint8Array} parts */
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** @param {number} id @param {...Uint8Array} data */
function element(id, ...data) {
  const body = concat(...data);
  return concat(idBytes(id), size8(body.length), body);
}

function uintElement(id, v) {
  const bytes = [];
  do { bytes.unshift(v % 256); v = Math.floor(v / 256); } while (v > 0);
  return element(id, Uint8Array.from(bytes));
}

function floatElement(id, v) {
  const d = new Uint8Array(8);
  new DataView(d.buffer).setFloat64(0, v);
  return element(id, d);
}

/**
 * Track number, relative time and key-frame flag of a (Simple)Block.
 * @param {Uint8Array} b @param {Element} blk
 */
function block(b, blk) {
  const off = blk.dataStart;
  const f = b[off];
  let n = 1;
  while (n <= 8 && !(f & (0x80 >> (n - 1)))) n++;
  let track = f & (0xff >> n);
  for (let i = 1; i < n; i++) track = track * 256 + b[off + i];
  const rel = new DataView(b.buffer, b.byteOffset + off + n, 2).getInt16(0);
  const flags = b[off + n + 2];
  return { track, rel, key: blk.id === ID.SimpleBlock ? (flags & 0x80) !== 0 : null };
}

/**
 * Rewrites a WebM recording with its duration and cues.
 * @param {Blob} blob what MediaRecorder produced
 * @returns {Promise<{blob: Blob, durationMs: number, cues: number}>}
 */
export async function finishWebM(blob) {
  const b = new Uint8Array(await blob.arrayBuffer());
  const top = header(b, 0, b.length);
  if (top.id !== ID.EBML) throw new Error('not a WebM file');
  const seg = header(b, top.end, b.length);
  if (seg.id !== ID.Segment) throw new Error('no Segment');
  const { children: parts } = children(b, seg, null);

  let info = null, tracks = null, scale = 1_000_000;
  const keep = []; // other Segment-level elements (Tags...)
  const clusters = [];
  for (const p of parts) {
    if (p.id === ID.Info) info = p;
    else if (p.id === ID.Tracks) tracks = p;
    else if (p.id === ID.Cluster) clusters.push(p);
    else if (p.id !== ID.SeekHead && p.id !== ID.Cues && p.id !== ID.Void) keep.push(p);
  }
  if (!info || !tracks) throw new Error('no Info or Tracks');

  // The video track, which cues point into (else the first track).
  let cueTrack = 0;
  for (const te of children(b, tracks).children) {
    if (te.id !== ID.TrackEntry) continue;
    let num = 0, type = 0;
    for (const c of children(b, te).children) {
      if (c.id === ID.TrackNumber) num = uint(b, c);
      if (c.id === ID.TrackType) type = uint(b, c);
    }
    if (!cueTrack || type === 1) cueTrack = num;
    if (type === 1) break;
  }

  // Info without its Duration, plus ours.
  const infoKids = children(b, info).children;
  for (const c of infoKids) if (c.id === ID.TimestampScale) scale = uint(b, c);

  // Each Cluster: its timestamp, whether its first video block is a key frame, its last block's time.
  let last = 0;
  const cl = clusters.map((c) => {
    let ts = 0, key = false, seenVideo = false;
    for (const k of children(b, c).children) {
      if (k.id === ID.Timestamp) ts = uint(b, k);
      let blk = null;
      if (k.id === ID.SimpleBlock) blk = k;
      if (k.id === ID.BlockGroup) blk = children(b, k).children.find((x) => x.id === ID.Block) || null;
      if (!blk) continue;
      const bl = block(b, blk);
      last = Math.max(last, ts + bl.rel);
      if (bl.track === cueTrack && !seenVideo) {
        seenVideo = true;
        key = bl.key !== false; // a Block in a BlockGroup: key unless it has references; take it
      }
    }
    return { el: c, ts, key };
  });
  // The last frame is shown for about one frame interval (15 fps).
  const durationTicks = last + Math.round(66_000_000 / scale);
  const newInfo = element(ID.Info,
    ...infoKids.filter((c) => c.id !== ID.Duration).map((c) => b.subarray(c.start, c.end)),
    floatElement(ID.Duration, durationTicks));
  const tracksBytes = b.subarray(tracks.start, tracks.end);
  const keepBytes = keep.map((k) => b.subarray(k.start, k.end));

  // Lay out the Segment: SeekHead, Info, Tracks, others, Clusters, Cues.
  // Positions are relative to the Segment's data. Every size is 8 bytes
  // wide, so the SeekHead's length does not depend on the positions.
  const seekEntry = (id, at) => element(ID.Seek, element(ID.SeekID, idBytes(id)), element(ID.SeekPosition, uint64(at)));
  const seekLen = element(ID.SeekHead, seekEntry(ID.Info, 0), seekEntry(ID.Tracks, 0), seekEntry(ID.Cues, 0)).length;
  const infoPos = seekLen;
  const tracksPos = infoPos + newInfo.length;
  let pos = tracksPos + tracksBytes.length + keepBytes.reduce((n, k) => n + k.length, 0);
  const clusterParts = [];
  const cuePoints = [];
  for (const c of cl) {
    const body = b.subarray(c.el.dataStart, c.el.end);
    const head = concat(idBytes(ID.Cluster), size8(body.length));
    if (c.key || cuePoints.length === 0) {
      cuePoints.push(element(ID.CuePoint, uintElement(ID.CueTime, c.ts),
        element(ID.CueTrackPositions, uintElement(ID.CueTrack, cueTrack), uintElement(ID.CueClusterPosition, pos))));
    }
    clusterParts.push(head, body);
    pos += head.length + body.length;
  }
  const cues = element(ID.Cues, ...cuePoints);
  const seekHead = element(ID.SeekHead, seekEntry(ID.Info, infoPos), seekEntry(ID.Tracks, tracksPos), seekEntry(ID.Cues, pos));
  if (seekHead.length !== seekLen) throw new Error('seek head length changed');
  const segSize = pos + cues.length;
  const out = new Blob([
    b.subarray(top.start, top.end),
    concat(idBytes(ID.Segment), size8(segSize)),
    seekHead, newInfo, tracksBytes, ...keepBytes, ...clusterParts, cues,
  ], { type: blob.type || 'video/webm' });
  return { blob: out, durationMs: (durationTicks * scale) / 1e6, cues: cuePoints.length };
}
