package turnserver

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/streamsync/streamsync/internal/secretfile"
)

// Config is the [turn] section: listeners, addresses, credentials, the peer
// policy and quotas of the STUN/TURN relay.
type Config struct {
	// Realm is the long-term-credential realm (RFC 8489 §9.2). Default "streamsync".
	Realm string `toml:"realm"`
	// ListenUDP lists the UDP addresses STUN and TURN are served on.
	// Default ["0.0.0.0:3478"]. An empty list turns TURN over UDP off.
	ListenUDP []string `toml:"listen_udp"`
	// ListenTCP lists the TCP addresses STUN and TURN are served on
	// (RFC 6062 framing). Default ["0.0.0.0:3478"]. Empty turns TCP off.
	ListenTCP []string `toml:"listen_tcp"`
	// ListenTLS lists the TCP addresses of TURN over TLS (turns:), served
	// only when the [tls] section provides a certificate. Default
	// ["0.0.0.0:5349"].
	ListenTLS []string `toml:"listen_tls"`
	// PublicHost is the host name or IP written into the turn: and stun:
	// URLs handed to browsers. Default: PublicIP, else the detected address.
	PublicHost string `toml:"public_host"`
	// PublicIP is the relay address advertised to clients (XOR-RELAYED-ADDRESS);
	// set it on a server behind 1:1 NAT (cloud VMs). Default: the address of
	// the interface that holds the default route, else the first non-loopback one.
	PublicIP string `toml:"public_ip"`
	// RelayBind is the local IP relay sockets bind to. Default "0.0.0.0".
	RelayBind string `toml:"relay_bind"`
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive).
	// Default 49152-65535.
	RelayPortMin int `toml:"relay_port_min"`
	RelayPortMax int `toml:"relay_port_max"`
	// Secrets are the TURN REST API shared secrets: the first mints new
	// credentials, every one validates (rotation). Default: none, in which
	// case a random secret is generated at start and never logged.
	Secrets []string `toml:"secrets"`
	// SecretFile names a file holding more secrets, one per line, appended
	// after Secrets (for systemd credentials). Default "".
	SecretFile string `toml:"secret_file"`
	// CredentialTTL is how long minted credentials may open new
	// allocations. Allocations outlive it. Default "1h".
	CredentialTTL time.Duration `toml:"credential_ttl"`
	// AllowedPeerRanges are peer ranges relayed to even when denied by
	// DeniedPeerRanges or the built-in list; allowed wins. Default none.
	AllowedPeerRanges []netip.Prefix `toml:"allowed_peer_ranges"`
	// DeniedPeerRanges are denied in addition to the built-in list
	// (loopback, private, link-local, metadata...). Default none.
	DeniedPeerRanges []netip.Prefix `toml:"denied_peer_ranges"`
	// AllowLoopbackPeers lets clients relay to loopback (127.0.0.0/8, ::1)
	// ranges listed in AllowedPeerRanges. Without it this host's own
	// addresses (loopback, 0.0.0.0, interface, broadcast and multicast
	// addresses) are never relayed to, whatever AllowedPeerRanges says,
	// except the relay ports of live allocations. For tests and benchmarks
	// on one machine, never in production. Default false.
	AllowLoopbackPeers bool `toml:"allow_loopback_peers"`
	// MaxAllocations caps live allocations on this server. Default 10000.
	MaxAllocations int `toml:"max_allocations"`
	// MaxAllocationsPerUser caps live allocations per REST user, i.e. per
	// meeting guest. A browser makes one per peer connection and TURN URL
	// (UDP, TCP, TLS: 3-5 with the page's bundled connections), so a guest
	// in a full room of 6 (5 peer connections and the network check) needs
	// up to 30. Default 64.
	MaxAllocationsPerUser int `toml:"max_allocations_per_user"`
	// MaxAllocationsPerIP caps live allocations per client IP address: a
	// whole room of 6 behind one NAT fits. Never more than 1/16 of the
	// relay ports take effect. Default 256.
	MaxAllocationsPerIP int `toml:"max_allocations_per_ip"`
	// MaxAllocationsPer24 caps live allocations per client IPv4 /24, and
	// MaxAllocationsPer64 per IPv6 /64, so that a few neighbouring
	// addresses cannot take every relay port. Never more than 1/4 of the
	// relay ports take effect. Default 512 each.
	MaxAllocationsPer24 int `toml:"max_allocations_per_ipv4_24"`
	MaxAllocationsPer64 int `toml:"max_allocations_per_ipv6_64"`
	// MaxStreamConnsPerIP caps the TURN connections over TCP and TLS (the
	// shared HTTPS port included) one client IPv4 address or IPv6 /64 holds
	// open at once. A browser opens one per peer connection and TCP or TLS
	// TURN URL. Default 256.
	MaxStreamConnsPerIP int `toml:"max_stream_conns_per_ip"`
	// MaxStreamConns caps the TURN connections over TCP and TLS (the shared
	// HTTPS port included) open at once from all clients; past it a new
	// connection is closed at accept. Each holds a descriptor: the default
	// leaves, under the systemd unit's LimitNOFILE=65536, room for the
	// relay sockets of max_allocations and the signaling connections.
	// Default 16384.
	MaxStreamConns int `toml:"max_stream_conns"`
	// MaxPermissionsPerAllocation caps the peer IPs one allocation may
	// hold permissions for (eturnal caps at 10; a browser in a mesh of six
	// asks for a few per remote peer). Default 32.
	MaxPermissionsPerAllocation int `toml:"max_permissions_per_allocation"`
	// MaxChannelsPerAllocation caps one allocation's channel bindings.
	// Default 64.
	MaxChannelsPerAllocation int `toml:"max_channels_per_allocation"`
	// UnauthenticatedRate is the sustained rate, per client IPv4 address
	// or IPv6 /64, of UDP requests without verified credentials (Binding,
	// the first Allocate) that are answered; the excess is dropped
	// unanswered, so the relay cannot be used as a reflector. The buckets
	// live in a fixed table that a flood from any number of sources cannot
	// fill: addresses that hash to one slot share its bucket. Default 10
	// per second.
	UnauthenticatedRate float64 `toml:"unauthenticated_rate"`
	// UnauthenticatedBurst is the bucket size of UnauthenticatedRate.
	// Default 40.
	UnauthenticatedBurst int `toml:"unauthenticated_burst"`
	// AllocationBandwidth caps each allocation's relayed traffic, in bytes
	// per second each way; excess datagrams are dropped. 0 = no cap. Default 0.
	AllocationBandwidth int `toml:"allocation_bandwidth"`
	// UDPSockets is how many sockets serve each listen_udp address, sharing
	// its port with SO_REUSEPORT (Linux), and how many event loops read
	// them and the relay sockets (package udpio), so that relaying spreads
	// over the cores. 0 = one per two CPUs the Go runtime uses (GOMAXPROCS,
	// which follows a cgroup CPU quota), at least one. Default 0.
	UDPSockets int `toml:"udp_sockets"`
	// UDPReceiveBuffer and UDPSendBuffer size the kernel buffers (SO_RCVBUF,
	// SO_SNDBUF) of the UDP listener and relay sockets, in bytes; the
	// receive buffer absorbs bursts. The kernel caps them at
	// net.core.rmem_max / wmem_max (a warning at start says so). 0 = the
	// kernel's default. Default 4194304 each.
	UDPReceiveBuffer int `toml:"udp_receive_buffer"`
	UDPSendBuffer    int `toml:"udp_send_buffer"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Realm:                 "streamsync",
		ListenUDP:             []string{"0.0.0.0:3478"},
		ListenTCP:             []string{"0.0.0.0:3478"},
		ListenTLS:             []string{"0.0.0.0:5349"},
		RelayBind:             "0.0.0.0",
		RelayPortMin:          49152,
		RelayPortMax:          65535,
		CredentialTTL:         time.Hour,
		MaxAllocations:        10000,
		MaxAllocationsPerUser: 64,
		MaxAllocationsPerIP:   256,
		MaxAllocationsPer24:   512,
		MaxAllocationsPer64:   512,
		MaxStreamConnsPerIP:   256,
		MaxStreamConns:        16384,

		MaxPermissionsPerAllocation: 32,
		MaxChannelsPerAllocation:    64,
		UnauthenticatedRate:         10,
		UnauthenticatedBurst:        40,

		UDPReceiveBuffer: 4 << 20,
		UDPSendBuffer:    4 << 20,
	}
}

// Validate reports every problem of c at once, each naming its key (within
// the section) and the bad value.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\\n") {
		bad("realm", "must be non-empty and plain text (got %q)", c.Realm)
	}
	for i, a := range c.ListenUDP {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("listen_udp[%d]", i), "%v (got %q)", err, a)
		} else if c.inRelayRange(a) {
			bad(fmt.Sprintf("listen_udp[%d]", i), "port inside the relay port range %d-%d (got %q)", c.RelayPortMin, c.RelayPortMax, a)
		}
	}
	for i, a := range c.ListenTCP {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("listen_tcp[%d]", i), "%v (got %q)", err, a)
		}
	}
	for i, a := range c.ListenTLS {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("listen_tls[%d]", i), "%v (got %q)", err, a)
		}
	}
	if c.PublicIP != "" {
		if ip, err := netip.ParseAddr(c.PublicIP); err != nil || !ip.Is4() || ip.IsUnspecified() {
			bad("public_ip", "must be a specific IPv4 address (got %q)", c.PublicIP)
		}
	}
	if strings.ContainsAny(c.PublicHost, "/?#@ :") && !isIPv6Literal(c.PublicHost) {
		bad("public_host", "must be a host name or IP, without scheme or port (got %q)", c.PublicHost)
	}
	if ip, err := netip.ParseAddr(c.RelayBind); err != nil || !ip.Is4() {
		bad("relay_bind", "must be an IPv4 address, 0.0.0.0 for all (got %q)", c.RelayBind)
	}
	if c.RelayPortMin < 1024 || c.RelayPortMin > 65535 {
		bad("relay_port_min", "must be between 1024 and 65535 (got %d)", c.RelayPortMin)
	}
	if c.RelayPortMax < 1024 || c.RelayPortMax > 65535 {
		bad("relay_port_max", "must be between 1024 and 65535 (got %d)", c.RelayPortMax)
	} else if c.RelayPortMax < c.RelayPortMin {
		bad("relay_port_max", "must be >= relay_port_min (got %d < %d)", c.RelayPortMax, c.RelayPortMin)
	}
	for i, s := range c.Secrets {
		if len(s) < 16 {
			bad(fmt.Sprintf("secrets[%d]", i), "must be at least 16 characters (got %d)", len(s))
		}
	}
	if c.CredentialTTL < time.Minute || c.CredentialTTL > 7*24*time.Hour {
		bad("credential_ttl", "must be between 1m and 168h (got %s)", c.CredentialTTL)
	}
	for _, cap := range []struct {
		key string
		n   int
	}{
		{"max_allocations", c.MaxAllocations},
		{"max_allocations_per_user", c.MaxAllocationsPerUser},
		{"max_allocations_per_ip", c.MaxAllocationsPerIP},
		{"max_allocations_per_ipv4_24", c.MaxAllocationsPer24},
		{"max_allocations_per_ipv6_64", c.MaxAllocationsPer64},
		{"max_stream_conns_per_ip", c.MaxStreamConnsPerIP},
		{"max_stream_conns", c.MaxStreamConns},
		{"max_permissions_per_allocation", c.MaxPermissionsPerAllocation},
	} {
		if cap.n < 1 {
			bad(cap.key, "must be at least 1 (got %d)", cap.n)
		}
	}
	if c.MaxChannelsPerAllocation < 1 || c.MaxChannelsPerAllocation > 0x4000 {
		bad("max_channels_per_allocation", "must be between 1 and 16384 (got %d)", c.MaxChannelsPerAllocation)
	}
	if c.UnauthenticatedRate <= 0 {
		bad("unauthenticated_rate", "must be positive (got %g)", c.UnauthenticatedRate)
	}
	if c.UnauthenticatedBurst < 1 {
		bad("unauthenticated_burst", "must be at least 1 (got %d)", c.UnauthenticatedBurst)
	}
	if c.AllocationBandwidth < 0 {
		bad("allocation_bandwidth", "must be 0 (no cap) or a positive number of bytes per second (got %d)", c.AllocationBandwidth)
	} else if c.AllocationBandwidth > 0 && c.AllocationBandwidth < 8192 {
		bad("allocation_bandwidth", "must be at least 8192 bytes per second to carry a call (got %d)", c.AllocationBandwidth)
	}
	if c.UDPSockets < 0 || c.UDPSockets > 64 {
		bad("udp_sockets", "must be between 0 (one per two CPUs) and 64 (got %d)", c.UDPSockets)
	}
	if c.UDPReceiveBuffer < 0 || c.UDPReceiveBuffer > 1<<30 {
		bad("udp_receive_buffer", "must be between 0 (kernel default) and 1073741824 bytes (got %d)", c.UDPReceiveBuffer)
	}
	if c.UDPSendBuffer < 0 || c.UDPSendBuffer > 1<<30 {
		bad("udp_send_buffer", "must be between 0 (kernel default) and 1073741824 bytes (got %d)", c.UDPSendBuffer)
	}
	return errors.Join(errs...)
}

// LoadSecrets appends the secrets of SecretFile, one per non-empty line
// (lines starting with # are comments), to Secrets. Each is held to the
// same rules as Secrets: at least 16 characters, not a placeholder.
func (c *Config) LoadSecrets() error {
	if c.SecretFile == "" {
		return nil
	}
	secrets, err := secretfile.Lines(c.SecretFile, minSecretLength)
	if err != nil {
		return fmt.Errorf("secret_file: %w", err)
	}
	c.Secrets = append(c.Secrets, secrets...)
	return nil
}

// minSecretLength is the shortest TURN secret accepted, inline or from
// SecretFile.
const minSecretLength = 16

// inRelayRange reports whether a listen address's port is a relay port,
// which relay sockets would then fight the listener for.
func (c Config) inRelayRange(hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	p := int(ap.Port())
	return err == nil && p != 0 && p >= c.RelayPortMin && p <= c.RelayPortMax
}

func checkHostPort(hostport string) error {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return errors.New("must be IP:port")
	}
	if ap.Addr().Zone() != "" {
		return errors.New("must not carry an IPv6 zone")
	}
	return nil
}

func isIPv6Literal(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Is6()
}
