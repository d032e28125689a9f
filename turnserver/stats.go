package turnserver

import "sync/atomic"

// counters are the relay's running counters, safe for concurrent use; each
// means what its namesake in Stats says. They carry no per-user or per-room
// labels, only bounded reasons.
type counters struct {
	AllocationsTotal atomic.Uint64

	AuthMalformed atomic.Uint64
	AuthRealm     atomic.Uint64
	AuthExpired   atomic.Uint64
	AuthBadHMAC   atomic.Uint64
	StaleNonces   atomic.Uint64

	QuotaUser  atomic.Uint64
	QuotaIP    atomic.Uint64
	QuotaNet   atomic.Uint64
	QuotaTotal atomic.Uint64

	PermissionDenials      atomic.Uint64
	PermissionHostDenials  atomic.Uint64
	PermissionCapHits      atomic.Uint64
	ChannelCapRejections   atomic.Uint64
	UnauthenticatedDropped atomic.Uint64
	RelayDropsPolicy       atomic.Uint64
	RelayDropsBandwidth    atomic.Uint64
	QueueDrops             atomic.Uint64
	SendBufferDrops        atomic.Uint64

	Panics atomic.Uint64

	StreamFramingErrors     atomic.Uint64
	StreamConnsRefused      atomic.Uint64
	StreamConnsRefusedTotal atomic.Uint64
	AcceptErrors            atomic.Uint64

	FastPathForwarded atomic.Uint64

	PeerBytesOut   atomic.Uint64
	PeerPacketsOut atomic.Uint64
	PeerBytesIn    atomic.Uint64
	PeerPacketsIn  atomic.Uint64
}

// Stats are the relay's counters at one moment (Server.Stats copies
// them); each counts since start.
type Stats struct {
	AllocationsTotal uint64 // allocations created since start

	AuthMalformed uint64 // refused: username not "<expiry>:<user>"
	AuthRealm     uint64 // refused: realm not ours
	AuthExpired   uint64 // refused: expired and owning no allocation
	AuthBadHMAC   uint64 // refused: MESSAGE-INTEGRITY matches no secret
	StaleNonces   uint64 // answered 438: a nonce not minted for its client, or too old

	QuotaUser  uint64 // Allocate answered 486: per-user cap
	QuotaIP    uint64 // Allocate answered 486: per-IP cap
	QuotaNet   uint64 // Allocate answered 486: per-/24 or per-/64 cap
	QuotaTotal uint64 // Allocate answered 486: server cap

	PermissionDenials      uint64 // CreatePermission/ChannelBind refused by the peer policy
	PermissionHostDenials  uint64 // ... refused by the host guard (an address of this host)
	PermissionCapHits      uint64 // ... refused by max_permissions_per_allocation
	ChannelCapRejections   uint64 // ChannelBind refused by max_channels_per_allocation
	UnauthenticatedDropped uint64 // unauthenticated UDP requests dropped by the per-IP rate
	RelayDropsPolicy       uint64 // datagrams dropped by the host guard or peer policy at send time
	RelayDropsBandwidth    uint64 // datagrams dropped by allocation_bandwidth
	QueueDrops             uint64 // datagrams dropped because pion's queue of a socket was full
	SendBufferDrops        uint64 // datagrams dropped because a socket's send buffer was full

	Panics uint64 // panics contained while inspecting a request

	StreamFramingErrors     uint64 // TCP/TLS connections closed for an impossible frame
	StreamConnsRefused      uint64 // TCP/TLS connections refused by max_stream_conns_per_ip
	StreamConnsRefusedTotal uint64 // TCP/TLS connections refused by max_stream_conns
	AcceptErrors            uint64 // failed accepts on TCP/TLS listeners (retried)

	FastPathForwarded uint64 // ChannelData forwarded by the fast path, not pion

	PeerBytesOut   uint64 // bytes relayed to peers
	PeerPacketsOut uint64 // datagrams relayed to peers
	PeerBytesIn    uint64 // bytes received from peers
	PeerPacketsIn  uint64 // datagrams received from peers
}

// snapshot copies every counter.
func (c *counters) snapshot() Stats {
	return Stats{
		AllocationsTotal:        c.AllocationsTotal.Load(),
		AuthMalformed:           c.AuthMalformed.Load(),
		AuthRealm:               c.AuthRealm.Load(),
		AuthExpired:             c.AuthExpired.Load(),
		AuthBadHMAC:             c.AuthBadHMAC.Load(),
		StaleNonces:             c.StaleNonces.Load(),
		QuotaUser:               c.QuotaUser.Load(),
		QuotaIP:                 c.QuotaIP.Load(),
		QuotaNet:                c.QuotaNet.Load(),
		QuotaTotal:              c.QuotaTotal.Load(),
		PermissionDenials:       c.PermissionDenials.Load(),
		PermissionHostDenials:   c.PermissionHostDenials.Load(),
		PermissionCapHits:       c.PermissionCapHits.Load(),
		ChannelCapRejections:    c.ChannelCapRejections.Load(),
		UnauthenticatedDropped:  c.UnauthenticatedDropped.Load(),
		RelayDropsPolicy:        c.RelayDropsPolicy.Load(),
		RelayDropsBandwidth:     c.RelayDropsBandwidth.Load(),
		QueueDrops:              c.QueueDrops.Load(),
		SendBufferDrops:         c.SendBufferDrops.Load(),
		Panics:                  c.Panics.Load(),
		StreamFramingErrors:     c.StreamFramingErrors.Load(),
		StreamConnsRefused:      c.StreamConnsRefused.Load(),
		StreamConnsRefusedTotal: c.StreamConnsRefusedTotal.Load(),
		AcceptErrors:            c.AcceptErrors.Load(),
		FastPathForwarded:       c.FastPathForwarded.Load(),
		PeerBytesOut:            c.PeerBytesOut.Load(),
		PeerPacketsOut:          c.PeerPacketsOut.Load(),
		PeerBytesIn:             c.PeerBytesIn.Load(),
		PeerPacketsIn:           c.PeerPacketsIn.Load(),
	}
}

// AuthFailures returns the refused credentials of every reason.
func (s Stats) AuthFailures() uint64 {
	return s.AuthMalformed + s.AuthRealm + s.AuthExpired + s.AuthBadHMAC
}

// QuotaRejections returns the 486 answers of every limit.
func (s Stats) QuotaRejections() uint64 {
	return s.QuotaUser + s.QuotaIP + s.QuotaNet + s.QuotaTotal
}

func (s *counters) authFailure(reason string) {
	switch reason {
	case AuthMalformed:
		s.AuthMalformed.Add(1)
	case AuthRealm:
		s.AuthRealm.Add(1)
	case AuthExpired:
		s.AuthExpired.Add(1)
	default:
		s.AuthBadHMAC.Add(1)
	}
}

func (s *counters) quotaRejection(limit string) {
	switch limit {
	case "user":
		s.QuotaUser.Add(1)
	case "ip":
		s.QuotaIP.Add(1)
	case "prefix":
		s.QuotaNet.Add(1)
	default:
		s.QuotaTotal.Add(1)
	}
}
