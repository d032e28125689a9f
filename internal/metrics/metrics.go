// Package metrics exposes the appliance's counters to Prometheus. Every
// series has bounded labels (reasons, message types, directions), never a
// user, room or address.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamsync/streamsync/cluster"
	"github.com/streamsync/streamsync/internal/certs"
	"github.com/streamsync/streamsync/internal/connlimit"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
)

// Sources are what the metrics are read from at each scrape.
type Sources struct {
	TURN      *turnserver.Server
	Signaling *signaling.Server
	// Cluster is the NATS room registry, nil on a single node.
	Cluster *cluster.Registry
	// SelfTest reports the relay self-test: whether the last run passed and
	// the Unix time of the last pass (0 if none).
	SelfTest func() (ok bool, lastPass float64)
	// Certificates lists the TLS certificates in service; nil without [tls].
	Certificates func() []certs.Expiry
	// HTTPConns is the page's ports' connection budget (http.max_conns,
	// http.max_conns_per_address).
	HTTPConns func() connlimit.Stats
	// TLSPending is the HTTPS port's connections still in handshake or
	// peek (http.tls_max_pending*); ok is false without [tls].
	TLSPending func() (s connlimit.Stats, ok bool)
}

// Handler returns the /metrics handler: the appliance's series plus Go
// runtime and process collectors, on a registry of its own.
func Handler(src Sources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{src: src},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("streamsync_"+name, help, labels, nil)
}

var (
	descAllocations      = desc("turn_allocations", "Live TURN allocations.")
	descAllocationsTotal = desc("turn_allocations_total", "TURN allocations created.")
	descAuthFailures     = desc("turn_auth_failures_total", "TURN requests refused for their credentials.", "reason")
	descQuota            = desc("turn_quota_rejections_total", "Allocate requests answered 486.", "limit")
	descPermDenials      = desc("turn_permission_denials_total", "CreatePermission/ChannelBind refused by the peer policy.", "reason")
	descRelayDrops       = desc("turn_relay_dropped_packets_total", "Relayed datagrams dropped.", "reason")
	descRelayBytes       = desc("turn_relayed_bytes_total", "Bytes relayed between allocations and peers.", "direction")
	descRelayPackets     = desc("turn_relayed_packets_total", "Datagrams relayed between allocations and peers.", "direction")

	descUnauthDropped  = desc("turn_unauthenticated_dropped_total", "Unauthenticated UDP requests dropped by the per-IP rate.")
	descTURNPanics     = desc("turn_panics_total", "Panics contained while inspecting a TURN request.")
	descHTTPConns      = desc("http_connections", "Connections open on the page's ports (HTTP, HTTPS, redirect), WebSockets included.", "stage")
	descHTTPConnsAddrs = desc("http_connection_addresses", "Client addresses (IPv4, IPv6 /64) holding a connection.", "stage")
	descHTTPRefused    = desc("http_connections_refused_total", "Connections to the page's ports closed at accept by a cap.", "stage", "limit")

	descStreamRefused = desc("turn_stream_connections_refused_total", "TURN TCP/TLS connections closed by a limit.", "reason")
	descAcceptErrors  = desc("turn_accept_errors_total", "Failed accepts on TURN TCP/TLS listeners (retried).")
	descStaleNonces   = desc("turn_stale_nonces_total", "TURN requests answered 438: a nonce minted for another client, or expired.")
	descFastPath      = desc("turn_fast_path_forwarded_total", "ChannelData messages from UDP clients relayed by the fast path, not by the TURN engine (counted in turn_relayed_packets_total too).")

	descConnections  = desc("signaling_connections", "Open signaling WebSockets.")
	descRooms        = desc("signaling_rooms", "Rooms in use (someone in them, connected or held for resume).")
	descPeers        = desc("signaling_peers", "Peers in rooms, including those awaiting resume.")
	descMessages     = desc("signaling_messages_total", "Signaling messages received.", "type")
	descErrors       = desc("signaling_errors_total", "Signaling error replies.", "code")
	descClosed       = desc("signaling_disconnects_total", "Connections closed by the server.", "reason")
	descRejected     = desc("signaling_rejections_total", "Upgrades, joins and creations refused.", "reason")
	descResumes      = desc("signaling_resumes_total", "Resume attempts.", "result")
	descRoomsRevived = desc("signaling_rooms_revived_total", "Rooms of an earlier run (before a restart) opened again by their signed id.")
	descRefreshes    = desc("signaling_ice_refreshes_total", "ICE server lists pushed before expiry.")
	descQueued       = desc("signaling_queued_bytes", "Bytes queued for clients, connected or held for resume (against signaling.queue_budget).")
	descBudgetFull   = desc("signaling_queue_budget_full_total", "Messages not queued because signaling.queue_budget was spent.")
	descMintErrors   = desc("signaling_ice_mint_errors_total", "Failures to mint a client's ICE servers (TURN credentials).")

	descClusterConnected = desc("cluster_connected", "1 while NATS is reachable (cluster mode).")
	descClusterNodes     = desc("cluster_nodes_alive", "Other nodes heard from recently.")
	descClusterUnsynced  = desc("cluster_unsynced_rooms", "Rooms changed during a NATS outage, not yet written back.")
	descClusterMessages  = desc("cluster_messages_total", "Signaling messages crossing nodes.", "kind")
	descClusterReconnect = desc("cluster_nats_reconnects_total", "Reconnections to NATS.")
	descClusterLoaded    = desc("cluster_rooms_loaded", "1 once the rooms were loaded from the NATS bucket since the last (re)connect.")
	descClusterRooms     = desc("cluster_rooms", "Rooms known cluster-wide.")
	descClusterReaped    = desc("cluster_reaped_peers_total", "Peers of dead nodes removed after the grace period.")
	descClusterReconcile = desc("cluster_reconciled_rooms_total", "Rooms written back to NATS after an outage.")
	descClusterOrder     = desc("cluster_room_events_total", "Room events delivered out of the ordinary path: gap (several at once from a record's log, the watcher skipped revisions), resync (the log did not reach back: peers got the roster's difference), replayed (to a peer resuming here, events its old node had not delivered).", "kind")

	descSelfTestOK   = desc("selftest_ok", "1 when the last relay self-test passed.")
	descSelfTestLast = desc("selftest_last_pass_timestamp_seconds", "Unix time of the last passing relay self-test.")

	descCertExpiry  = desc("tls_certificate_expiry_timestamp_seconds", "Unix time the TLS certificate in service for a name stops being valid.", "name")
	descMemoryLimit = desc("memory_limit_bytes", "Memory limit of the process's cgroup (systemd MemoryMax=), +Inf when unlimited.")
)

type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.TURN != nil {
		collectTURN(ch, c.src.TURN.Allocations(), c.src.TURN.Stats())
	}
	if c.src.Signaling != nil {
		collectSignaling(ch, c.src.Signaling.Stats())
	}
	if c.src.Cluster != nil {
		collectCluster(ch, c.src.Cluster.Status())
	}
	if c.src.SelfTest != nil {
		ok, last := c.src.SelfTest()
		gauge(ch, descSelfTestOK, b2f(ok))
		gauge(ch, descSelfTestLast, last)
	}
	if c.src.Certificates != nil {
		for _, e := range c.src.Certificates() {
			gauge(ch, descCertExpiry, float64(e.NotAfter.Unix()), e.Name)
		}
	}
	if c.src.HTTPConns != nil {
		collectConnLimit(ch, "open", c.src.HTTPConns())
	}
	if c.src.TLSPending != nil {
		if s, ok := c.src.TLSPending(); ok {
			collectConnLimit(ch, "handshake", s)
		}
	}
	if limit, ok := memoryLimit("/proc/self/cgroup", "/sys/fs/cgroup"); ok {
		gauge(ch, descMemoryLimit, limit)
	}
}

// collectConnLimit reports one connection limiter: stage "open" for the
// page's ports' budget, "handshake" for the HTTPS port's pending places.
func collectConnLimit(ch chan<- prometheus.Metric, stage string, s connlimit.Stats) {
	gauge(ch, descHTTPConns, float64(s.Open), stage)
	gauge(ch, descHTTPConnsAddrs, float64(s.Addresses), stage)
	counter(ch, descHTTPRefused, s.RefusedPerAddress, stage, "per_address")
	counter(ch, descHTTPRefused, s.RefusedTotal, stage, "total")
}

func collectTURN(ch chan<- prometheus.Metric, allocations int, s turnserver.Stats) {
	gauge(ch, descAllocations, float64(allocations))
	counter(ch, descAllocationsTotal, s.AllocationsTotal)
	counter(ch, descAuthFailures, s.AuthMalformed, turnserver.AuthMalformed)
	counter(ch, descAuthFailures, s.AuthRealm, turnserver.AuthRealm)
	counter(ch, descAuthFailures, s.AuthExpired, turnserver.AuthExpired)
	counter(ch, descAuthFailures, s.AuthBadHMAC, turnserver.AuthBadHMAC)
	counter(ch, descQuota, s.QuotaUser, "user")
	counter(ch, descQuota, s.QuotaIP, "ip")
	counter(ch, descQuota, s.QuotaNet, "prefix")
	counter(ch, descQuota, s.QuotaTotal, "total")
	counter(ch, descPermDenials, s.PermissionDenials, turnserver.ReasonDeniedRange)
	counter(ch, descPermDenials, s.PermissionHostDenials, turnserver.ReasonHostAddress)
	counter(ch, descRelayDrops, s.RelayDropsPolicy, "own_address_port")
	counter(ch, descRelayDrops, s.RelayDropsBandwidth, "bandwidth")
	counter(ch, descRelayDrops, s.QueueDrops, "queue_full")
	counter(ch, descRelayDrops, s.SendBufferDrops, "send_buffer_full")
	counter(ch, descPermDenials, s.PermissionCapHits, "permission_cap")
	counter(ch, descPermDenials, s.ChannelCapRejections, "channel_cap")
	counter(ch, descUnauthDropped, s.UnauthenticatedDropped)
	counter(ch, descTURNPanics, s.Panics)
	counter(ch, descStreamRefused, s.StreamFramingErrors, "impossible_frame")
	counter(ch, descStreamRefused, s.StreamConnsRefused, "per_ip_cap")
	counter(ch, descStreamRefused, s.StreamConnsRefusedTotal, "total_cap")
	counter(ch, descAcceptErrors, s.AcceptErrors)
	counter(ch, descStaleNonces, s.StaleNonces)
	counter(ch, descFastPath, s.FastPathForwarded)
	counter(ch, descRelayBytes, s.PeerBytesOut, "to_peer")
	counter(ch, descRelayBytes, s.PeerBytesIn, "from_peer")
	counter(ch, descRelayPackets, s.PeerPacketsOut, "to_peer")
	counter(ch, descRelayPackets, s.PeerPacketsIn, "from_peer")
}

func collectSignaling(ch chan<- prometheus.Metric, s signaling.Stats) {
	gauge(ch, descConnections, float64(s.Connections))
	gauge(ch, descRooms, float64(s.Rooms))
	gauge(ch, descPeers, float64(s.Peers))
	for typ, n := range s.Messages {
		counter(ch, descMessages, uint64(n), typ)
	}
	for code, n := range s.Errors {
		counter(ch, descErrors, uint64(n), code)
	}
	counter(ch, descClosed, uint64(s.SlowClients), "slow_client")
	counter(ch, descClosed, uint64(s.RateLimited), "rate_limited")
	counter(ch, descClosed, uint64(s.TooBig), "message_too_big")
	counter(ch, descClosed, uint64(s.JoinTimeouts), "join_timeout")
	counter(ch, descClosed, uint64(s.BadFrames), "bad_frame")
	counter(ch, descClosed, uint64(s.Panics), "panic")
	counter(ch, descRejected, uint64(s.RejectedOrigin), "origin")
	counter(ch, descRejected, uint64(s.RejectedIP), "connections_per_ip")
	counter(ch, descRejected, uint64(s.JoinsLimited), "join_rate")
	counter(ch, descRejected, uint64(s.BadPasswords), "bad_password")
	counter(ch, descRejected, uint64(s.RejectedTotal), "connections_total")
	counter(ch, descRejected, uint64(s.RoomsPerIPLimited), "rooms_per_ip")
	counter(ch, descRejected, uint64(s.PasswordsLimited), "bad_password_budget")
	gauge(ch, descQueued, float64(s.QueuedBytes))
	counter(ch, descBudgetFull, uint64(s.BudgetFull))
	counter(ch, descResumes, uint64(s.Resumes), "ok")
	counter(ch, descResumes, uint64(s.ResumesFailed), "failed")
	counter(ch, descResumes, uint64(s.ResumeOverflows), "overflow")
	counter(ch, descResumes, uint64(s.RestartResumes), "after_restart")
	counter(ch, descRoomsRevived, uint64(s.RoomsRevived))
	counter(ch, descRefreshes, uint64(s.ICERefreshes))
	counter(ch, descMintErrors, uint64(s.MintErrors))
}

func collectCluster(ch chan<- prometheus.Metric, s cluster.Status) {
	gauge(ch, descClusterConnected, b2f(s.Connected))
	gauge(ch, descClusterNodes, float64(len(s.Nodes)))
	gauge(ch, descClusterUnsynced, float64(s.Unsynced))
	counter(ch, descClusterMessages, uint64(s.RemoteSends), "sent")
	counter(ch, descClusterMessages, uint64(s.Received), "received")
	counter(ch, descClusterMessages, uint64(s.Forwarded), "redirected")
	counter(ch, descClusterMessages, uint64(s.Held), "held")
	counter(ch, descClusterReconnect, s.Reconnects)
	gauge(ch, descClusterLoaded, b2f(s.Loaded))
	gauge(ch, descClusterRooms, float64(s.Rooms))
	counter(ch, descClusterReaped, uint64(s.Reaped))
	counter(ch, descClusterReconcile, uint64(s.Reconciled))
	counter(ch, descClusterOrder, uint64(s.Gaps), "gap")
	counter(ch, descClusterOrder, uint64(s.Resyncs), "resync")
	counter(ch, descClusterOrder, uint64(s.Replayed), "replayed")
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
