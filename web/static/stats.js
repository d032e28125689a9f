// @ts-check
// Reading a peer connection's path out of getStats: which candidate pair
// carries the media, and how to say that in words.

/**
 * Finds the selected candidate pair in a stats report and describes it.
 * @param {RTCStatsReport} report
 * @returns {{path: string, kind: string, protocol: string, rttMs: number|null,
 *   bytesSent: number, bytesReceived: number, timestamp: number, local: object|null, remote: object|null}|null}
 */
export function selectedPath(report) {
  let pair = null;
  for (const s of report.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = report.get(s.selectedCandidatePairId) || null;
      break;
    }
  }
  if (!pair) {
    // Firefox marks the pair itself instead of naming it in the transport.
    for (const s of report.values()) {
      if (s.type === 'candidate-pair' && s.selected && s.state === 'succeeded') { pair = s; break; }
    }
  }
  if (!pair) return null;
  const local = report.get(pair.localCandidateId) || null;
  const remote = report.get(pair.remoteCandidateId) || null;
  const { kind, protocol, path } = describe(local, remote);
  return {
    path, kind, protocol,
    rttMs: typeof pair.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000) : null,
    bytesSent: pair.bytesSent || 0,
    bytesReceived: pair.bytesReceived || 0,
    timestamp: pair.timestamp,
    local, remote,
  };
}

/**
 * Classifies a pair of ICE candidates (RTCIceCandidateStats) into words:
 * "direct", or "relayed via TURN (UDP|TCP|TLS)" when we relay, or
 * "relayed via TURN (their side)" when only the other side does. A relay
 * on our side names the protocol we use to reach our TURN server.
 *
 * Only the relay is told apart: it is the one difference a person acts on
 * (who sees my address, what the server carries), and the one both
 * browsers report alike. Whether a direct pair crosses a NAT is not: for
 * one connection Chromium may list a peer-reflexive local candidate where
 * Firefox lists the host candidate it came from, so "direct via STUN" in
 * one browser was "direct" in the other.
 */
export function describe(local, remote) {
  const lt = local?.candidateType, rt = remote?.candidateType;
  if (lt === 'relay') {
    const p = relayProtocol(local);
    return { kind: 'relay', protocol: p, path: `relayed via TURN (${p})` };
  }
  if (rt === 'relay') {
    return { kind: 'relay', protocol: '', path: 'relayed via TURN (their side)' };
  }
  return { kind: 'direct', protocol: (local?.protocol || '').toUpperCase(), path: 'direct' };
}

/** The protocol to our TURN server: relayProtocol, which Firefox may leave out for TLS (its url says turns:). */
function relayProtocol(local) {
  if (typeof local.url === 'string' && /^turns:/i.test(local.url)) return 'TLS';
  return (local.relayProtocol || 'udp').toUpperCase();
}

/**
 * Bits per second between two samples of selectedPath, or null.
 * @param {ReturnType<typeof selectedPath>} prev
 * @param {ReturnType<typeof selectedPath>} cur
 * @returns {number|null}
 */
export function bitrate(prev, cur) {
  if (!prev || !cur || cur.timestamp <= prev.timestamp) return null;
  const secs = (cur.timestamp - prev.timestamp) / 1000;
  const bytes = (cur.bytesSent - prev.bytesSent) + (cur.bytesReceived - prev.bytesReceived);
  return Math.max(0, (bytes * 8) / secs);
}

/**
 * Formats bits per second for people: "1.2 Mbit/s".
 * @param {number|null} bps
 */
export function formatBitrate(bps) {
  if (bps == null) return '–';
  if (bps >= 1e6) return (bps / 1e6).toFixed(1) + ' Mbit/s';
  if (bps >= 1e3) return Math.round(bps / 1e3) + ' kbit/s';
  return Math.round(bps) + ' bit/s';
}
