package turnserver

import "sync/atomic"

// Stats are the relay's running counters, safe for concurrent use. They
// carry no per-user or per-room labels.
type Stats struct {
	AllocationsTotal    atomic.Uint64 // allocations created since start
	AuthFailures        atomic.Uint64 // requests refused for their credentials
	QuotaRejections     atomic.Uint64 // Allocate answered 486
	PermissionDenials   atomic.Uint64 // CreatePermission/ChannelBind refused by the peer policy
	RelayDropsPolicy    atomic.Uint64 // datagrams dropped: own address outside the relay port range
	RelayDropsBandwidth atomic.Uint64 // datagrams dropped by allocation_bandwidth
	PeerBytesOut        atomic.Uint64 // bytes relayed to peers
	PeerPacketsOut      atomic.Uint64 // datagrams relayed to peers
	PeerBytesIn         atomic.Uint64 // bytes received from peers
	PeerPacketsIn       atomic.Uint64 // datagrams received from peers
}
