package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/turntest"

	"github.com/streamsync/streamsync/turnserver"
)

// scenarioRelayAbuse: a TURN client inside a participant's network, with
// valid credentials minted from the appliance's secret, tries to use the
// relay to reach the appliance's own private network, its loopback and a
// port of the appliance that is not a relay port. Each is refused or
// dropped; the same allocation reaches a host on the internet, so the
// refusals are the peer policy at work, not a broken relay.
func scenarioRelayAbuse(t *testing.T, tb *testbed) {
	mallory, open := tb.host("mallory"), tb.host("lan-bob")

	// Listeners where a relayed datagram would land.
	type target struct {
		what     string
		addr     string
		ns       func() (net.PacketConn, error)
		denied   bool // CreatePermission must be refused
		received chan string
	}
	targets := []*target{
		{what: "a host on the appliance's private network", addr: privateHostIP + ":7000", denied: true,
			ns: func() (net.PacketConn, error) { return tb.private.ListenPacket("udp4", privateHostIP+":7000") }},
		{what: "the appliance's own private address", addr: appliancePrivA + ":7000", denied: true,
			ns: func() (net.PacketConn, error) { return tb.appNS.ListenPacket("udp4", appliancePrivA+":7000") }},
		{what: "the appliance's loopback", addr: "127.0.0.1:7000", denied: true,
			ns: func() (net.PacketConn, error) { return tb.appNS.ListenPacket("udp4", "127.0.0.1:7000") }},
		// The relay address itself is allowed as a peer (two clients of the
		// same relay talk through it), but only on relay ports.
		{what: "a port of the appliance's public address outside the relay range", addr: applianceIP + ":7000",
			ns: func() (net.PacketConn, error) { return tb.appNS.ListenPacket("udp4", applianceIP+":7000") }},
		{what: "a host on the internet (control: must arrive)", addr: open.ip + ":7000",
			ns: func() (net.PacketConn, error) { return open.ns.ListenPacket("udp4", open.ip+":7000") }},
	}
	for _, tg := range targets {
		c, err := tg.ns()
		if err != nil {
			t.Fatalf("listen for %s: %v", tg.what, err)
		}
		t.Cleanup(func() { c.Close() })
		tg.received = make(chan string, 8)
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				tg.received <- string(buf[:n]) + " from " + from.String()
			}
		}()
	}

	conn, err := mallory.ns.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	user, pass, _, err := turnserver.MintREST(netsimSecret, "mallory", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server := applianceIP + ":3478"
	client := turntest.NewClient(t, conn, server, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate with valid credentials: %v", err)
	}
	t.Cleanup(func() { relay.Close() })

	deniedLabel := fmt.Sprintf("reason=%q", turnserver.ReasonDeniedRange)
	deniedBefore := tb.metric("streamsync_turn_permission_denials_total", deniedLabel)
	droppedBefore := tb.metric("streamsync_turn_relay_dropped_packets_total", `reason="own_address_port"`)
	for _, tg := range targets {
		peer, _ := net.ResolveUDPAddr("udp4", tg.addr)
		err := client.CreatePermission(peer)
		switch {
		case tg.denied && err == nil:
			t.Errorf("CreatePermission to %s (%s) succeeded; want refused", tg.addr, tg.what)
		case tg.denied:
			t.Logf("CreatePermission to %s (%s): %v", tg.addr, tg.what, err)
		case err != nil:
			t.Errorf("CreatePermission to %s (%s): %v", tg.addr, tg.what, err)
		}
		if !tg.denied {
			if _, err := relay.WriteTo([]byte("relayed"), peer); err != nil {
				t.Errorf("send to %s (%s) through the relay: %v", tg.addr, tg.what, err)
			}
		} else if _, err := relay.WriteTo([]byte("relayed"), peer); err == nil {
			t.Errorf("send to %s (%s) through the relay: no error; want the permission refused", tg.addr, tg.what)
		}
	}
	control := targets[len(targets)-1]
	select {
	case got := <-control.received:
		t.Logf("control: %s received %q", control.addr, got)
	case <-time.After(5 * time.Second):
		t.Fatalf("control: nothing relayed to %s (%s) within 5s", control.addr, control.what)
	}
	time.Sleep(500 * time.Millisecond) // stragglers, if the relay let any through
	for _, tg := range targets[:len(targets)-1] {
		select {
		case got := <-tg.received:
			t.Errorf("%s (%s) received %q through the relay", tg.addr, tg.what, got)
		default:
		}
	}
	// The appliance counted why: the peer policy refused the permissions,
	// and dropped the datagram to its own non-relay port.
	if d := tb.metric("streamsync_turn_permission_denials_total", deniedLabel) - deniedBefore; d < 3 {
		t.Errorf("permission denials (%s) went up by %d, want at least 3", deniedLabel, d)
	}
	if d := tb.metric("streamsync_turn_relay_dropped_packets_total", `reason="own_address_port"`) - droppedBefore; d < 1 {
		t.Errorf("relay drops to the appliance's own non-relay ports went up by %d, want at least 1", d)
	}
}
