package config

import "testing"

// TestDefaultTURNQuotasFitAFullRoom: the default TURN caps leave honest
// meetings room. The page makes one bundled peer connection per other
// participant plus one for its network check, and a browser allocates once
// per TURN URL it is given (UDP, TCP, TLS on 443 and on 5349: counted as
// five to leave a spare) and opens a stream per TCP or TLS URL.
func TestDefaultTURNQuotasFitAFullRoom(t *testing.T) {
	cfg := Default()
	room := cfg.Signaling.MaxPeersPerRoom
	connections := (room - 1) + 1 // one per other peer, and the network check
	const allocationsPerConnection, streamsPerConnection = 5, 3
	perGuest := connections * allocationsPerConnection
	if 2*perGuest > cfg.TURN.MaxAllocationsPerUser {
		t.Errorf("a guest in a full room of %d needs up to %d allocations: more than half of max_allocations_per_user %d",
			room, perGuest, cfg.TURN.MaxAllocationsPerUser)
	}
	if room*perGuest > cfg.TURN.MaxAllocationsPerIP {
		t.Errorf("a full room of %d behind one NAT needs up to %d allocations: more than max_allocations_per_ip %d",
			room, room*perGuest, cfg.TURN.MaxAllocationsPerIP)
	}
	if 2*room*perGuest > cfg.TURN.MaxAllocationsPer24 {
		t.Errorf("two full rooms in one /24 need up to %d allocations: more than max_allocations_per_ipv4_24 %d",
			2*room*perGuest, cfg.TURN.MaxAllocationsPer24)
	}
	if streams := room * connections * streamsPerConnection; streams > cfg.TURN.MaxStreamConnsPerIP {
		t.Errorf("a full room of %d behind one NAT opens up to %d TURN streams: more than max_stream_conns_per_ip %d",
			room, streams, cfg.TURN.MaxStreamConnsPerIP)
	}
}
