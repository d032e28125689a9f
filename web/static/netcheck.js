// @ts-check
// The network check: for each TURN URL the appliance handed out, try to
// get a relay candidate through it alone, and say in plain words which ways
// out work from this network. TURN credentials only reach clients admitted
// to a room, so the check runs right after joining (or, on /check, after
// joining a throwaway room of one's own).

const GATHER_TIMEOUT_MS = 6000;

/**
 * One probe's result.
 * @typedef {{url: string, transport: string, ok: boolean, ms: number}} ProbeResult
 */

/**
 * What a set of results means for calls: good is null when there is no relay.
 * @typedef {{good: boolean|null, verdict: string}} Verdict
 */

/**
 * Splits iceServers into one entry per URL: [{url, transport, server}].
 * @param {RTCIceServer[]} iceServers
 * @returns {{url: string, transport: string, server: RTCIceServer}[]}
 */
export function turnURLs(iceServers) {
  const out = [];
  for (const s of iceServers || []) {
    const urls = Array.isArray(s.urls) ? s.urls : [s.urls];
    for (const url of urls) {
      if (!/^turns?:/i.test(url)) continue;
      let transport = (/[?&]transport=(udp|tcp)/i.exec(url)?.[1] || 'udp').toLowerCase();
      if (/^turns:/i.test(url)) transport = 'tls';
      out.push({ url, transport, server: { urls: [url], username: s.username, credential: s.credential } });
    }
  }
  return out;
}

/**
 * Gathers relay candidates through one TURN URL. Resolves with
 * {ok, ms, address} (address is the relay address given to us).
 * @param {RTCIceServer} server one TURN URL with its credentials
 * @returns {Promise<{ok: boolean, ms: number, address: string}>}
 */
export async function probeTURN(server) {
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: 'relay' });
  const start = performance.now();
  try {
    pc.createDataChannel('probe');
    const found = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), GATHER_TIMEOUT_MS);
      pc.onicecandidate = ({ candidate }) => {
        if (candidate && candidate.type === 'relay') { clearTimeout(timer); resolve(candidate); }
        if (!candidate) { clearTimeout(timer); resolve(null); }
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    const c = await found;
    return { ok: !!c, ms: Math.round(performance.now() - start), address: c ? c.address || '' : '' };
  } finally {
    pc.close();
  }
}

const PREFERENCE = ['udp', 'tcp', 'tls']; // the cheapest way through first

/**
 * Runs every probe in parallel. Returns two promises: best, the URL of
 * the most preferred transport that works (UDP, else TCP, else TLS; ''
 * when none does), settled as soon as it is known; and all, every result
 * with the verdict: {results: [{url, transport, ok, ms}], verdict, good}.
 * @param {RTCIceServer[]} iceServers
 * @returns {{best: Promise<string>, all: Promise<{results: ProbeResult[]} & Verdict>}}
 */
export function startNetworkCheck(iceServers) {
  const urls = turnURLs(iceServers);
  const probes = urls.map(async (u) => {
    try {
      return { url: u.url, transport: u.transport, ...(await probeTURN(u.server)) };
    } catch (err) {
      return { url: u.url, transport: u.transport, ok: false, ms: 0, error: String(err) };
    }
  });
  const order = urls.map((u, i) => i).sort((a, b) => PREFERENCE.indexOf(urls[a].transport) - PREFERENCE.indexOf(urls[b].transport));
  const best = (async () => {
    for (const i of order) {
      const r = await probes[i];
      if (r.ok) return r.url;
    }
    return '';
  })();
  const all = Promise.all(probes).then((results) => ({ results, ...verdict(results) }));
  return { best, all };
}

/**
 * Every probe's result with the verdict (startNetworkCheck's all).
 * @param {RTCIceServer[]} iceServers
 */
export function checkNetwork(iceServers) {
  return startNetworkCheck(iceServers).all;
}

/**
 * iceServers with one TURN URL left, url (STUN kept): a connection then
 * makes one TURN allocation per network instead of one per network and
 * TURN URL. '' leaves them all.
 * @param {RTCIceServer[]} iceServers
 * @param {string} url
 * @returns {RTCIceServer[]}
 */
export function onlyTURN(iceServers, url) {
  if (!url) return iceServers;
  const out = [];
  let kept = false;
  for (const s of iceServers || []) {
    const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => !/^turns?:/i.test(u) || u === url);
    if (urls.includes(url)) kept = true;
    if (urls.length) out.push({ ...s, urls });
  }
  // The list no longer offers that URL (a server restarted on other
  // ports, or reconfigured): every TURN URL rather than none.
  return kept ? out : iceServers;
}

/**
 * Words for a set of probe results.
 * @param {ProbeResult[]} results
 * @returns {Verdict}
 */
export function verdict(results) {
  if (results.length === 0) {
    return { good: null, verdict: 'This appliance offers no relay: calls work only where a direct path exists.' };
  }
  const by = (t) => results.filter((r) => r.transport === t);
  const works = (t) => by(t).some((r) => r.ok);
  const parts = [];
  const names = { udp: 'UDP', tcp: 'TCP', tls: 'TLS' };
  const okOnes = [];
  for (const t of ['udp', 'tcp', 'tls']) {
    if (by(t).length === 0) continue;
    if (works(t)) okOnes.push(names[t]);
    else parts.push(`${names[t]} blocked`);
  }
  if (okOnes.length === 0) {
    parts.push('no relay reachable: calls may only work with people on your own network');
    return { good: false, verdict: cap(parts.join('; ')) + '.' };
  }
  parts.push(`${okOnes.join(' and ')} relay${okOnes.length > 1 ? 's work' : ' works'}: calls will work`);
  return { good: true, verdict: cap(parts.join('; ')) + '.' };
}

function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
