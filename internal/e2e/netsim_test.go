package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/netsim"
)

// networkScenario is one network a call is proven on. The README's
// "Tested networks" table is made from these (netsim_readme_test.go).
type networkScenario struct {
	name        string // subtest name
	alice, bob  string // each participant's network
	path        string // what the call does there
	run         func(t *testing.T, tb *testbed)
	needBrowser bool
}

var networkScenarios = []networkScenario{
	{
		name: "SymmetricNAT", needBrowser: true,
		alice: "behind " + netsim.SymmetricNAT.String(), bob: "behind another " + netsim.SymmetricNAT.String(),
		path: "relayed via TURN over UDP through one side's allocation, without forcing the relay; no direct path exists",
		run:  scenarioSymmetricNAT,
	},
	{
		name: "NoUDP", needBrowser: true,
		alice: "behind a NAT that drops all outbound UDP", bob: "behind a " + netsim.ConeNAT.String(),
		path: "relayed via TURN over TCP (port 3478) on Alice's side",
		run:  scenarioNoUDP,
	},
	{
		name: "Only443", needBrowser: true,
		alice: "behind a NAT that lets out only TCP to port 443", bob: "behind a " + netsim.ConeNAT.String(),
		path: "page and TURN over TLS on port 443, one port shared with HTTPS",
		run:  scenarioOnly443,
	},
	{
		name: "SameLAN", needBrowser: true,
		alice: "open, on one LAN with Bob", bob: "open, on one LAN with Alice",
		path: "direct, host to host; the relay carries no media bytes",
		run:  scenarioSameLAN,
	},
	{
		name: "AddressChange", needBrowser: true,
		alice: "open; her address changes mid-call", bob: "open, on one LAN with Alice",
		path: "direct; an ICE restart brings the call back on her new address",
		run:  scenarioAddressChange,
	},
	{
		name:  "RelayAbuse",
		alice: "a TURN client with valid credentials, behind a " + netsim.ConeNAT.String(), bob: "—",
		path: "refused: relaying to the appliance's private network, its loopback and its non-relay ports",
		run:  scenarioRelayAbuse,
	},
}

// TestNetworks places calls between browsers in network namespaces, each
// behind its own simulated network, through the appliance in another
// namespace on a simulated internet (see netsim_env_test.go for the
// addresses). The scenarios run one after the other on one appliance.
func TestNetworks(t *testing.T) {
	if err := netsim.Available(); err != nil {
		names := make([]string, len(networkScenarios))
		for i, s := range networkScenarios {
			names[i] = s.name
		}
		why := fmt.Sprintf("network scenarios %s not run: %v", strings.Join(names, ", "), err)
		if os.Getenv("CI") != "" {
			t.Fatal(why + " (CI runs as root and must run them)")
		}
		t.Skip(why)
	}
	tb := newTestbed(t)
	for _, s := range networkScenarios {
		t.Run(s.name, func(t *testing.T) {
			if s.needBrowser {
				chromiumPath(t)
			}
			s.run(t, tb)
		})
	}
}

// call starts a meeting between Alice on host a and Bob on host b, relay
// not forced, and waits until both receive video and audio.
func (tb *testbed) call(t *testing.T, a, b *host) (alice, bob *participant) {
	t.Helper()
	start := time.Now()
	bs := tb.browsers(t, a, b)
	alice = bs[0].newParticipant(t, "Alice")
	bob = bs[1].newParticipant(t, "Bob")
	browsers := time.Since(start)
	link := alice.startMeeting(tb.pageURL(), false)
	bob.joinByLink(link, false)
	joined := time.Since(start)
	alice.waitFlowing()
	bob.waitFlowing()
	t.Logf("browsers up in %v, joined in %v, media flowing in %v", browsers.Round(time.Millisecond), joined.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for _, p := range []*participant{alice, bob} {
		t.Logf("%s (%s, %s): selected pair %v", p.name, map[*participant]*host{alice: a, bob: b}[p].ns.Label, map[*participant]*host{alice: a, bob: b}[p].site, p.paths())
	}
	return alice, bob
}

// scenarioSymmetricNAT: both behind symmetric NATs. STUN works (each has a
// server-reflexive candidate) but no direct pair can: ICE ends on the relay
// over UDP by itself.
func scenarioSymmetricNAT(t *testing.T, tb *testbed) {
	a, b := tb.host("sym-alice"), tb.host("sym-bob")
	before := tb.relayedBytes()
	alice, bob := tb.call(t, a, b)
	for _, p := range []*participant{alice, bob} {
		for _, pi := range p.paths() {
			if !pi.hasGathered("srflx/udp") {
				t.Errorf("%s: no server-reflexive candidate (gathered %v): STUN should work behind the NAT", p.name, pi.Gathered)
			}
			if !pi.relayed() {
				t.Errorf("%s: selected pair %s is direct; no direct path should exist", p.name, pi)
			}
			if pi.Local.Type == "relay" && pi.Local.RelayProtocol != "udp" {
				t.Errorf("%s: relayed over %s, want udp", p.name, pi.Local.RelayProtocol)
			}
		}
		p.waitPathIn("relayed via TURN (UDP)", "relayed via TURN (their side)")
	}
	if !alice.paths()[0].localRelay() && !bob.paths()[0].localRelay() {
		t.Errorf("neither side holds the relay candidate of the selected pair")
	}
	if d := tb.relayedBytes() - before; d < 50_000 {
		t.Errorf("relay carried %d bytes during the call; the media should go through it", d)
	}
}

// scenarioNoUDP: Alice's network drops all outbound UDP: her only way out
// is TURN over TCP.
func scenarioNoUDP(t *testing.T, tb *testbed) {
	a, b := tb.host("noudp-alice"), tb.host("home-bob")
	alice, bob := tb.call(t, a, b)
	for _, pi := range alice.paths() {
		// Her browser sees the firewall: no STUN answer, no UDP relay.
		if pi.hasGathered("srflx/udp") || pi.hasGathered("relay/udp") {
			t.Errorf("Alice gathered %v through a network that drops UDP", pi.Gathered)
		}
		if pi.Local.Type != "relay" || pi.Local.RelayProtocol != "tcp" {
			t.Errorf("Alice: selected pair %s, want her relay candidate over TCP", pi)
		}
		if !strings.Contains(pi.Local.URL, ":3478?transport=tcp") {
			t.Errorf("Alice: relay candidate from %q, want turn:…:3478?transport=tcp", pi.Local.URL)
		}
	}
	for _, pi := range bob.paths() {
		if !pi.relayed() {
			t.Errorf("Bob: selected pair %s is not relayed", pi)
		}
	}
	alice.waitPaths(1, "relayed via TURN (TCP)")
}

// scenarioOnly443: Alice's network lets nothing out but TCP to port 443:
// the page, the WebSocket and TURN over TLS all share the appliance's 443.
func scenarioOnly443(t *testing.T, tb *testbed) {
	a, b := tb.host("only443-alice"), tb.host("home-bob")
	alice, bob := tb.call(t, a, b)
	for _, pi := range alice.paths() {
		// Nothing but TLS on 443 gets out: no STUN answer, no relay over
		// UDP or TCP 3478 (TLS on 5349 is refused too).
		if pi.hasGathered("srflx/udp") || pi.hasGathered("relay/udp") || pi.hasGathered("relay/tcp") {
			t.Errorf("Alice gathered %v through a network that lets out only TCP 443", pi.Gathered)
		}
		if pi.Local.Type != "relay" || pi.Local.RelayProtocol != "tls" {
			t.Errorf("Alice: selected pair %s, want her relay candidate over TLS", pi)
		}
		if !strings.HasPrefix(pi.Local.URL, "turns:") || !strings.Contains(pi.Local.URL, ":443") {
			t.Errorf("Alice: relay candidate from %q, want turns:…:443", pi.Local.URL)
		}
	}
	for _, pi := range bob.paths() {
		if !pi.relayed() {
			t.Errorf("Bob: selected pair %s is not relayed", pi)
		}
	}
	alice.waitPaths(1, "relayed via TURN (TLS)")
}

// scenarioSameLAN: both on one open LAN: the call goes host to host and
// the relay, though both hold allocations, carries nothing while it runs.
func scenarioSameLAN(t *testing.T, tb *testbed) {
	hosts := []*host{tb.host("lan-alice"), tb.host("lan-bob")}
	alice, bob := tb.call(t, hosts[0], hosts[1])
	for i, p := range []*participant{alice, bob} {
		p.waitHostToHost(hosts[1-i].ip)
		p.waitPaths(1, "direct")
	}
	// Media keeps flowing for a while; the relay's counters stand still.
	before := tb.relayedBytes()
	for range 3 {
		alice.waitFlowing()
		bob.waitFlowing()
	}
	if d := tb.relayedBytes() - before; d != 0 {
		t.Errorf("relay carried %d bytes during a direct call", d)
	}
}

// scenarioAddressChange: mid-call Alice's address moves (a new lease):
// her old candidates die, the page restarts ICE, the call comes back on
// her new address.
func scenarioAddressChange(t *testing.T, tb *testbed) {
	a, b := tb.host("lan-alice"), tb.host("lan-bob")
	alice, bob := tb.call(t, a, b)
	oldIP := a.ip
	alice.waitHostToHost(b.ip)
	bob.waitHostToHost(oldIP)
	// Let an ICE restart that moved the call off a relay settle (the page
	// checks 4 s after connecting), then make sure the call is still direct.
	time.Sleep(6 * time.Second)
	alice.waitHostToHost(b.ip)
	bob.waitHostToHost(oldIP)
	alice.waitFlowing()
	ufrag := alice.paths()[0].Ufrag
	newIP := a.ip[:strings.LastIndex(a.ip, ".")] + ".12"
	a.readdress(t, newIP)
	// Nothing cuts the old address's TCP connections (desktop Linux leaves
	// them to time out): the page must notice by itself that its signaling
	// socket is gone (network-change events, its keepalive) and reconnect.
	moved := time.Now()
	t.Logf("moved Alice from %s to %s", oldIP, newIP)
	alice.waitFor("ICE restart and media on the new address", fmt.Sprintf(`(async () => {
		const f = await __e2e.flowing();
		const p = await %s;
		return f.connected >= 1 && f.video >= 1 && p[0].local && p[0].local.address === %q && p[0].ufrag !== %q; })()`, pathsJS, newIP, ufrag), 60*time.Second)
	bob.waitFor("media from Alice's new address", fmt.Sprintf(`(async () => {
		const f = await __e2e.flowing();
		const p = await %s;
		return f.connected >= 1 && f.video >= 1 && p[0].remote && p[0].remote.address === %q; })()`, pathsJS, newIP), mediaWait)
	t.Logf("call back on the new address %v after the move", time.Since(moved).Round(time.Millisecond))
	for _, p := range []*participant{alice, bob} {
		p.waitPaths(1, "direct")
	}
}

// waitHostToHost waits until the participant's one connection runs on a
// host-to-host pair to otherIP. ICE may first settle on a pair through a
// relay candidate that became valid sooner; with a host-to-host pair
// available it must move there.
func (p *participant) waitHostToHost(otherIP string) {
	p.t.Helper()
	p.waitFor("the host-to-host pair selected", fmt.Sprintf(`(async () => {
		const p = await %s;
		return p.length === 1 && p[0].local && p[0].local.type === 'host' && p[0].remote && p[0].remote.address === %q; })()`,
		pathsJS, otherIP), mediaWait)
}
