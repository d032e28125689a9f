package e2e

import (
	"fmt"
	"slices"
	"strings"
)

// candidate is one end of a selected ICE candidate pair, from getStats.
type candidate struct {
	Type          string `json:"type"` // host, srflx, prflx, relay
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"` // udp, tcp, tls (local relay only)
	Address       string `json:"address"`
	Port          int    `json:"port"`
	URL           string `json:"url"` // the ICE server a local srflx/relay came from
}

func (c *candidate) String() string {
	if c == nil {
		return "none"
	}
	s := c.Type + "/" + c.Protocol
	if c.RelayProtocol != "" {
		s += "(" + c.RelayProtocol + ")"
	}
	return fmt.Sprintf("%s %s:%d", s, c.Address, c.Port)
}

// pathInfo is one media connection's selected pair, its ICE username
// fragment (which an ICE restart changes) and the local candidates it
// gathered ("srflx/udp", "relay/tls"...).
type pathInfo struct {
	Local    *candidate `json:"local"`
	Remote   *candidate `json:"remote"`
	Ufrag    string     `json:"ufrag"`
	Gathered []string   `json:"gathered"`
}

func (pi pathInfo) String() string { return pi.Local.String() + " -> " + pi.Remote.String() }

// localRelay says the local end is this side's TURN allocation.
func (pi pathInfo) localRelay() bool { return pi.Local != nil && pi.Local.Type == "relay" }

// relayed says the media goes through the appliance's relay on one side
// or the other. The far end's relay candidate may be known only as
// peer-reflexive, so its address decides, not its type.
func (pi pathInfo) relayed() bool {
	return pi.localRelay() || (pi.Remote != nil && (pi.Remote.Type == "relay" || pi.Remote.Address == applianceIP))
}

func (pi pathInfo) hasGathered(kind string) bool { return slices.Contains(pi.Gathered, kind) }

// pathsJS evaluates to a promise of the pathInfo of every media connection.
const pathsJS = `(async () => {
	const out = [];
	for (const pc of window.__e2e.pcs) {
		if (pc.signalingState === 'closed' || pc.getTransceivers().length === 0) continue;
		const r = await pc.getStats();
		let pair = null;
		for (const s of r.values()) if (s.type === 'transport' && s.selectedCandidatePairId) pair = r.get(s.selectedCandidatePairId);
		const c = (id) => { const x = r.get(id); return x ? { type: x.candidateType, protocol: x.protocol, relayProtocol: x.relayProtocol || '',
			address: x.address || x.ip || '', port: x.port || 0, url: x.url || '' } : null; };
		const m = pc.localDescription && /a=ice-ufrag:(\S+)/.exec(pc.localDescription.sdp);
		const gathered = [...r.values()].filter((s) => s.type === 'local-candidate').map((s) => s.candidateType + '/' + (s.relayProtocol || s.protocol));
		out.push({ local: pair && c(pair.localCandidateId), remote: pair && c(pair.remoteCandidateId), ufrag: m ? m[1] : '', gathered });
	}
	return out;
})()`

// paths returns the selected pair of every media connection; it fails the
// test if there is none.
func (p *participant) paths() []pathInfo {
	p.t.Helper()
	got := eval[[]pathInfo](p, pathsJS)
	if len(got) == 0 {
		p.t.Fatalf("%s: no media connection", p.name)
	}
	for _, pi := range got {
		if pi.Local == nil || pi.Remote == nil {
			p.t.Fatalf("%s: a media connection has no selected pair (%v)", p.name, got)
		}
	}
	return got
}

// waitPathIn waits until the page shows one connected peer whose path, in
// words, is one of want.
func (p *participant) waitPathIn(want ...string) {
	p.t.Helper()
	list := "[" + strings.Join(quoteAll(want), ",") + "]"
	cond := fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('#people li')];
		return l.length === 1 && l[0].dataset.state === 'connected' && %s.includes(l[0].querySelector('.path').textContent); })()`, list)
	p.waitFor(fmt.Sprintf("peer shown as one of %v", want), cond, mediaWait)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// waitFlowing waits until the participant's one media connection is
// connected and video frames decoded and audio packets received go up.
func (p *participant) waitFlowing() {
	p.t.Helper()
	p.waitFor("video and audio flowing", `__e2e.flowing().then((f) => f.connected >= 1 && f.video >= 1 && f.audio >= 1)`, mediaWait)
}
