package signaling

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/streamsync/streamsync/internal/secretfile"
)

// Config is the [signaling] section of the configuration file.
type Config struct {
	// AllowedOrigins lists extra browser origins ("https://host[:port]")
	// allowed to open the WebSocket. The page's own origin (scheme, host
	// and port) is always allowed. Their host names are accepted as the
	// Host of requests when the appliance checks it. Default: none.
	AllowedOrigins []string `toml:"allowed_origins"`

	// CreatePassword, when set, must be given to create a room. Joining an
	// existing room never needs it. At least 8 characters. Default: ""
	// (anyone may create rooms).
	CreatePassword string `toml:"create_password"`

	// CreatePasswordFile names a file whose first line is the create
	// password; read by LoadSecrets. Exclusive with CreatePassword.
	// Default: "".
	CreatePasswordFile string `toml:"create_password_file"`

	// MaxRooms caps the rooms in use at once: rooms with a peer in them,
	// connected or held for resume. An empty room does not count.
	// Default: 1000.
	MaxRooms int `toml:"max_rooms"`

	// MaxRoomsPerIP caps the rooms one client address (an IPv4 address, an
	// IPv6 /64) takes part in at once; past it, creating or joining
	// another room is refused. Default: 10.
	MaxRoomsPerIP int `toml:"max_rooms_per_ip"`

	// MaxPeersPerRoom caps participants in one room (a mesh call). Default: 6.
	MaxPeersPerRoom int `toml:"max_peers_per_room"`

	// EmptyRoomTTL is how long an empty room is kept (so its link still
	// works) before it is forgotten. At most 10 × max_rooms empty rooms
	// are kept; past that the oldest is forgotten first. Default: 10m.
	EmptyRoomTTL time.Duration `toml:"empty_room_ttl"`

	// JoinTimeout is how long a new connection may take to join a room
	// before it is closed (1008). Default: 10s.
	JoinTimeout time.Duration `toml:"join_timeout"`

	// ReadLimit is the largest message accepted, in bytes; larger ones close
	// the connection with 1009. Default: 65536.
	ReadLimit int64 `toml:"read_limit"`

	// SendQueue is the number of outgoing messages buffered per connection;
	// a client whose queue fills is disconnected. Default: 256.
	SendQueue int `toml:"send_queue"`

	// SendQueueBytes caps the bytes of those messages; a client whose queue
	// holds more is disconnected as too slow. Default: 1048576 (1 MiB).
	SendQueueBytes int64 `toml:"send_queue_bytes"`

	// PingInterval is the period of WebSocket pings, well under the 60 s
	// idle cut of common proxies. Default: 25s.
	PingInterval time.Duration `toml:"ping_interval"`

	// PongTimeout is how long after a ping is due the pong may arrive
	// before the connection is dropped. Default: 10s.
	PongTimeout time.Duration `toml:"pong_timeout"`

	// WriteTimeout bounds one write to a client, and the wait for its
	// close handshake. Default: 10s.
	WriteTimeout time.Duration `toml:"write_timeout"`

	// MessageRate is the sustained number of messages per second one
	// connection may send (token bucket). Default: 50.
	MessageRate float64 `toml:"message_rate"`

	// MessageBurst is the token bucket size, generous for ICE candidate
	// bursts. Default: 200.
	MessageBurst int `toml:"message_burst"`

	// MaxConnsPerIP caps the WebSockets one client address (an IPv4
	// address, an IPv6 /64) holds open, places held for its resume
	// counted too. Default: 20.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`

	// MaxConnections caps WebSockets open at once on this server, places
	// held for resume counted too; more are refused with HTTP 503.
	// Default: 10000.
	MaxConnections int `toml:"max_connections"`

	// JoinRate is the sustained number of joins per second allowed from one
	// client IP. Default: 1.
	JoinRate float64 `toml:"join_rate"`

	// JoinBurst is the join token bucket size per client IP. Default: 10.
	JoinBurst int `toml:"join_burst"`

	// BadPasswordRate is the sustained number of wrong create passwords
	// per second the whole server accepts; past it (and BadPasswordBurst),
	// creating a room with a password is refused unchecked, except from
	// addresses that gave the right one within a day. One address gets 5
	// wrong guesses, then a doubling backoff (1 s to 15 min) before it; the
	// server-wide bucket is for a guesser with many addresses. Default: 1.
	BadPasswordRate float64 `toml:"bad_password_rate"`

	// BadPasswordBurst is that bucket's size, well above what a few
	// addresses can spend under their backoff, so that they cannot lock
	// everyone out. Default: 300.
	BadPasswordBurst int `toml:"bad_password_burst"`

	// TrustedProxies lists the networks whose X-Forwarded-For is believed
	// when finding the client IP, and X-Forwarded-Proto when checking the
	// Origin's scheme. No prefix shorter than /8 (IPv4) or /32 (IPv6):
	// clients among them could forge an address. Default: none (use the TCP peer address).
	TrustedProxies []netip.Prefix `toml:"trusted_proxies"`

	// ResumeGrace is how long a dropped client's place is kept for it to
	// resume; 0 disables resume. Default: 20s.
	ResumeGrace time.Duration `toml:"resume_grace"`

	// ResumeQueue caps the messages queued for a dropped client awaiting
	// resume; overflow gives its place up. At most send_queue. Default: 256.
	ResumeQueue int `toml:"resume_queue"`

	// ResumeQueueBytes caps the bytes queued for one dropped client
	// awaiting resume; overflow gives its place up. At most
	// send_queue_bytes. Default: 1048576 (1 MiB).
	ResumeQueueBytes int64 `toml:"resume_queue_bytes"`

	// StateDir is where the key that signs room ids and resume tokens is
	// kept (file signaling.key, made at the first start, mode 0600) when
	// turn.secrets sets none to derive it from: with it a restart keeps
	// every meeting. "" means $STATE_DIRECTORY (systemd's
	// StateDirectory=, /var/lib/streamsync in the shipped unit); with
	// neither, a random key is used and a restart ends every meeting.
	// Default: "".
	StateDir string `toml:"state_dir"`

	// QueueBudget caps the bytes queued for all clients together,
	// connected or awaiting resume: a message that does not fit gives a
	// held place up, or disconnects a connected recipient as too slow if
	// it already has 64 KiB waiting (a client that keeps reading always
	// gets its messages). Default: 134217728 (128 MiB).
	QueueBudget int64 `toml:"queue_budget"`
}

// The shortest trusted_proxies prefixes accepted: a proxy's network is
// never a /7 of IPv4 or a /31 of IPv6, while 0.0.0.0/1 + 128.0.0.0/1 would
// trust everyone as surely as 0.0.0.0/0.
const (
	minTrustedBits4 = 8
	minTrustedBits6 = 32
)

// DefaultConfig returns the configuration used for keys the file omits.
func DefaultConfig() Config {
	return Config{
		MaxRooms:         1000,
		MaxRoomsPerIP:    10,
		MaxPeersPerRoom:  6,
		EmptyRoomTTL:     10 * time.Minute,
		JoinTimeout:      10 * time.Second,
		ReadLimit:        64 << 10,
		SendQueue:        256,
		SendQueueBytes:   1 << 20,
		PingInterval:     25 * time.Second,
		PongTimeout:      10 * time.Second,
		WriteTimeout:     10 * time.Second,
		MessageRate:      50,
		MessageBurst:     200,
		MaxConnsPerIP:    20,
		MaxConnections:   10000,
		JoinRate:         1,
		JoinBurst:        10,
		BadPasswordRate:  1,
		BadPasswordBurst: 300,
		ResumeGrace:      20 * time.Second,
		ResumeQueue:      256,
		ResumeQueueBytes: 1 << 20,
		QueueBudget:      128 << 20,
	}
}

// Validate reports every invalid value at once, each message starting with
// its key name.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	intIn := func(key string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad(key, "must be between %d and %d (got %d)", lo, hi, v)
		}
	}
	durIn := func(key string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad(key, "must be between %s and %s (got %s)", lo, hi, v)
		}
	}
	floatIn := func(key string, v, lo, hi float64) {
		if !(v >= lo && v <= hi) { // also rejects NaN
			bad(key, "must be between %g and %g (got %g)", lo, hi, v)
		}
	}

	for i, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad(fmt.Sprintf("allowed_origins[%d]", i), "%v (got %q)", err, o)
		}
	}
	if c.CreatePassword != "" && c.CreatePasswordFile != "" {
		bad("create_password", "set either create_password or create_password_file, not both")
	}
	if c.CreatePassword != "" {
		if err := secretfile.Check(c.CreatePassword, minPasswordLength); err != nil {
			bad("create_password", "%v", err)
		}
	}
	intIn("max_rooms", int64(c.MaxRooms), 1, 1_000_000)
	intIn("max_rooms_per_ip", int64(c.MaxRoomsPerIP), 1, 1_000_000)
	intIn("max_peers_per_room", int64(c.MaxPeersPerRoom), 2, 50)
	durIn("empty_room_ttl", c.EmptyRoomTTL, 0, 7*24*time.Hour)
	durIn("join_timeout", c.JoinTimeout, 100*time.Millisecond, 5*time.Minute)
	intIn("read_limit", c.ReadLimit, 4<<10, 1<<20)
	intIn("send_queue", int64(c.SendQueue), 8, 4096)
	intIn("send_queue_bytes", c.SendQueueBytes, 64<<10, 1<<30)
	durIn("ping_interval", c.PingInterval, 100*time.Millisecond, 50*time.Second)
	durIn("pong_timeout", c.PongTimeout, 100*time.Millisecond, time.Minute)
	durIn("write_timeout", c.WriteTimeout, 100*time.Millisecond, time.Minute)
	floatIn("message_rate", c.MessageRate, 1, 10_000)
	intIn("message_burst", int64(c.MessageBurst), 1, 100_000)
	intIn("max_conns_per_ip", int64(c.MaxConnsPerIP), 1, 100_000)
	intIn("max_connections", int64(c.MaxConnections), 1, 10_000_000)
	floatIn("join_rate", c.JoinRate, 0.001, 10_000)
	intIn("join_burst", int64(c.JoinBurst), 1, 100_000)
	floatIn("bad_password_rate", c.BadPasswordRate, 0.001, 10_000)
	intIn("bad_password_burst", int64(c.BadPasswordBurst), 1, 100_000)
	for i, p := range c.TrustedProxies {
		switch {
		case !p.IsValid():
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "invalid prefix (got %q)", p.String())
		case p.Bits() == 0:
			bad(fmt.Sprintf("trusted_proxies[%d]", i),
				"trusts every address, so any client could forge X-Forwarded-For and pass for as many addresses as it likes: list your proxies' addresses (got %s)", p)
		case p.Addr().Is4() && p.Bits() < minTrustedBits4, p.Addr().Is6() && p.Bits() < minTrustedBits6:
			bad(fmt.Sprintf("trusted_proxies[%d]", i),
				"trusts too many addresses (shorter than /%d for IPv4, /%d for IPv6), so clients among them could forge X-Forwarded-For: list your proxies' addresses (got %s)", minTrustedBits4, minTrustedBits6, p)
		}
	}
	durIn("resume_grace", c.ResumeGrace, 0, 10*time.Minute)
	intIn("resume_queue", int64(c.ResumeQueue), 1, 4096)
	if c.ResumeQueue > c.SendQueue && c.SendQueue >= 8 {
		bad("resume_queue", "must be <= send_queue (got %d > %d)", c.ResumeQueue, c.SendQueue)
	}
	intIn("resume_queue_bytes", c.ResumeQueueBytes, 4<<10, 1<<30)
	if c.ResumeQueueBytes > c.SendQueueBytes && c.SendQueueBytes >= 64<<10 {
		bad("resume_queue_bytes", "must be <= send_queue_bytes (got %d > %d)", c.ResumeQueueBytes, c.SendQueueBytes)
	}
	intIn("queue_budget", c.QueueBudget, 1<<20, 1<<40)
	if c.QueueBudget < c.SendQueueBytes && c.QueueBudget >= 1<<20 {
		bad("queue_budget", "must be >= send_queue_bytes (got %d < %d)", c.QueueBudget, c.SendQueueBytes)
	}
	return errors.Join(errs...)
}

// LoadSecrets reads CreatePasswordFile, when set, into CreatePassword. Only
// the first line counts; surrounding whitespace is dropped. It is held to
// the rules of create_password.
func (c *Config) LoadSecrets() error {
	if c.CreatePasswordFile == "" {
		return nil
	}
	pw, err := secretfile.First(c.CreatePasswordFile, minPasswordLength)
	if err != nil {
		return fmt.Errorf("create_password_file: %w", err)
	}
	c.CreatePassword = pw
	c.CreatePasswordFile = ""
	return nil
}

// minPasswordLength is the shortest create password accepted. People type
// it, so it is shorter than a TURN secret; bad_password_rate bounds how
// fast it can be guessed.
const minPasswordLength = 8

// checkOrigin accepts "scheme://host[:port]" with nothing after it.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be http(s)://host[:port]")
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an origin only, without path, query or user")
	}
	return nil
}
