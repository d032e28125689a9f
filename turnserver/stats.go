package turnserver

import "sync/atomic"

// Stats are the relay's running counters, safe for concurrent use. They
// carry no per-user or per-room labels, only bounded reasons.
type Stats struct {
	AllocationsTotal atomic.Uint64 // allocations created since start

	AuthMalformed atomic.Uint64 // refused: username not "<expiry>:<user>"
	AuthRealm     atomic.Uint64 // refused: realm not ours
	AuthExpired   atomic.Uint64 // refused: expired and owning no allocation
	AuthBadHMAC   atomic.Uint64 // refused: MESSAGE-INTEGRITY matches no secret
	StaleNonces   atomic.Uint64 // answered 438: a nonce not minted for its client, or too old

	QuotaUser  atomic.Uint64 // Allocate answered 486: per-user cap
	QuotaIP    atomic.Uint64 // Allocate answered 486: per-IP cap
	QuotaNet   atomic.Uint64 // Allocate answered 486: per-/24 or per-/64 cap
	QuotaTotal atomic.Uint64 // Allocate answered 486: server cap

	PermissionDenials      atomic.Uint64 // CreatePermission/ChannelBind refused by the peer policy
	PermissionHostDenials  atomic.Uint64 // ... refused by the host guard (an address of this host)
	PermissionCapHits      atomic.Uint64 // ... refused by max_permissions_per_allocation
	ChannelCapRejections   atomic.Uint64 // ChannelBind refused by max_channels_per_allocation
	UnauthenticatedDropped atomic.Uint64 // unauthenticated UDP requests dropped by the per-IP rate
	RelayDropsPolicy       atomic.Uint64 // datagrams dropped by the host guard or peer policy at send time
	RelayDropsBandwidth    atomic.Uint64 // datagrams dropped by allocation_bandwidth
	QueueDrops             atomic.Uint64 // datagrams dropped because pion's queue of a socket was full
	SendBufferDrops        atomic.Uint64 // datagrams dropped because a socket's send buffer was full

	Panics atomic.Uint64 // panics contained while inspecting a request

	StreamFramingErrors     atomic.Uint64 // TCP/TLS connections closed for an impossible frame
	StreamConnsRefused      atomic.Uint64 // TCP/TLS connections refused by max_stream_conns_per_ip
	StreamConnsRefusedTotal atomic.Uint64 // TCP/TLS connections refused by max_stream_conns
	AcceptErrors            atomic.Uint64 // failed accepts on TCP/TLS listeners (retried)

	FastPathForwarded atomic.Uint64 // ChannelData forwarded by the fast path, not pion

	PeerBytesOut   atomic.Uint64 // bytes relayed to peers
	PeerPacketsOut atomic.Uint64 // datagrams relayed to peers
	PeerBytesIn    atomic.Uint64 // bytes received from peers
	PeerPacketsIn  atomic.Uint64 // datagrams received from peers
}

// AuthFailures returns the refused credentials of every reason.
func (s *Stats) AuthFailures() uint64 {
	return s.AuthMalformed.Load() + s.AuthRealm.Load() + s.AuthExpired.Load() + s.AuthBadHMAC.Load()
}

// QuotaRejections returns the 486 answers of every limit.
func (s *Stats) QuotaRejections() uint64 {
	return s.QuotaUser.Load() + s.QuotaIP.Load() + s.QuotaNet.Load() + s.QuotaTotal.Load()
}

func (s *Stats) authFailure(reason string) {
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

func (s *Stats) quotaRejection(limit string) {
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
