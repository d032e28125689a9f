// @ts-check
// The /check page: browser capabilities, then the TURN reachability check
// of netcheck.js with credentials from a throwaway meeting of our own.

import { Signaling, SignalingError, preflight } from './signaling.js';
import { checkNetwork } from './netcheck.js';

const $ = /** @type {CheckLookup} */ ((id) => document.getElementById(id));

function line(ok, text) {
  const li = document.createElement('li');
  li.className = ok ? 'ok' : 'fail';
  li.textContent = text;
  $('results').append(li);
}

async function run() {
  $('run').disabled = true;
  $('results').replaceChildren();
  $('error').textContent = '';
  $('verdict').textContent = 'Checking…';
  $('verdict').className = 'verdict';
  line(window.isSecureContext, window.isSecureContext
    ? 'Secure page: camera and microphone can be used'
    : 'Not a secure (HTTPS) page: the browser will not give it a camera or microphone');
  line(typeof RTCPeerConnection !== 'undefined', typeof RTCPeerConnection !== 'undefined'
    ? 'This browser can make WebRTC calls' : 'This browser cannot make WebRTC calls');
  const sig = new Signaling();
  try {
    const joined = await sig.join({ room: '', name: 'network check', password: $('pw').value });
    const r = await checkNetwork(joined.iceServers);
    sig.leave();
    for (const x of r.results) {
      line(x.ok, `TURN over ${x.transport.toUpperCase()} (${x.url.replace(/\?.*/, '')}): ${x.ok ? `works, relay ready in ${x.ms} ms` : 'blocked'}`);
    }
    $('verdict').textContent = r.verdict;
    $('verdict').className = 'verdict ' + (r.good === false ? 'bad' : 'good');
  } catch (err) {
    sig.leave();
    $('verdict').textContent = '';
    const code = err instanceof SignalingError ? err.code : '';
    $('error').textContent = code === 'bad-password' ? 'The create password is wrong.'
      : code === 'connect' ? 'Cannot reach the server\'s signaling endpoint.'
        : `The check could not run: ${err.message || err}`;
  } finally {
    $('run').disabled = false;
  }
}

preflight().then((w) => {
  $('pw-row').hidden = !w.createPasswordRequired;
  if (!w.createPasswordRequired) run();
}).catch(() => { $('error').textContent = 'Cannot reach the server.'; });
$('run').onclick = run;
