package signaling

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the [signaling] section of the configuration file.
type Config struct {
	// AllowedOrigins lists extra browser origins ("https://host[:port]")
	// allowed to open the WebSocket. The page's own host is always allowed.
	// Default: none.
	AllowedOrigins []string `toml:"allowed_origins"`

	// CreatePassword, when set, must be given to create a room. Joining an
	// existing room never needs it. Default: "" (anyone may create rooms).
	CreatePassword string `toml:"create_password"`

	// CreatePasswordFile names a file whose first line is the create
	// password; read by LoadSecrets. Exclusive with CreatePassword.
	// Default: "".
	CreatePasswordFile string `toml:"create_password_file"`

	// MaxRooms caps the number of rooms held at once. Default: 1000.
	MaxRooms int `toml:"max_rooms"`

	// MaxPeersPerRoom caps participants in one room (a mesh call). Default: 6.
	MaxPeersPerRoom int `toml:"max_peers_per_room"`

	// EmptyRoomTTL is how long an empty room is kept (so its link still
	// works) before it is forgotten. Default: 10m.
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

	// MaxConnsPerIP caps simultaneous WebSockets from one client IP.
	// Default: 20.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`

	// JoinRate is the sustained number of joins per second allowed from one
	// client IP. Default: 1.
	JoinRate float64 `toml:"join_rate"`

	// JoinBurst is the join token bucket size per client IP. Default: 10.
	JoinBurst int `toml:"join_burst"`

	// TrustedProxies lists the networks whose X-Forwarded-For is believed
	// when finding the client IP. Default: none (use the TCP peer address).
	TrustedProxies []netip.Prefix `toml:"trusted_proxies"`

	// ResumeGrace is how long a dropped client's place is kept for it to
	// resume; 0 disables resume. Default: 20s.
	ResumeGrace time.Duration `toml:"resume_grace"`

	// ResumeQueue caps the messages queued for a dropped client awaiting
	// resume; overflow gives its place up. At most send_queue. Default: 256.
	ResumeQueue int `toml:"resume_queue"`
}

// DefaultConfig returns the configuration used for keys the file omits.
func DefaultConfig() Config {
	return Config{
		MaxRooms:        1000,
		MaxPeersPerRoom: 6,
		EmptyRoomTTL:    10 * time.Minute,
		JoinTimeout:     10 * time.Second,
		ReadLimit:       64 << 10,
		SendQueue:       256,
		PingInterval:    25 * time.Second,
		PongTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		MessageRate:     50,
		MessageBurst:    200,
		MaxConnsPerIP:   20,
		JoinRate:        1,
		JoinBurst:       10,
		ResumeGrace:     20 * time.Second,
		ResumeQueue:     256,
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
	intIn("max_rooms", int64(c.MaxRooms), 1, 1_000_000)
	intIn("max_peers_per_room", int64(c.MaxPeersPerRoom), 2, 50)
	durIn("empty_room_ttl", c.EmptyRoomTTL, 0, 7*24*time.Hour)
	durIn("join_timeout", c.JoinTimeout, 100*time.Millisecond, 5*time.Minute)
	intIn("read_limit", c.ReadLimit, 4<<10, 1<<20)
	intIn("send_queue", int64(c.SendQueue), 8, 4096)
	durIn("ping_interval", c.PingInterval, 100*time.Millisecond, 50*time.Second)
	durIn("pong_timeout", c.PongTimeout, 100*time.Millisecond, time.Minute)
	durIn("write_timeout", c.WriteTimeout, 100*time.Millisecond, time.Minute)
	floatIn("message_rate", c.MessageRate, 1, 10_000)
	intIn("message_burst", int64(c.MessageBurst), 1, 100_000)
	intIn("max_conns_per_ip", int64(c.MaxConnsPerIP), 1, 100_000)
	floatIn("join_rate", c.JoinRate, 0.001, 10_000)
	intIn("join_burst", int64(c.JoinBurst), 1, 100_000)
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "invalid prefix (got %q)", p.String())
		}
	}
	durIn("resume_grace", c.ResumeGrace, 0, 10*time.Minute)
	intIn("resume_queue", int64(c.ResumeQueue), 1, 4096)
	if c.ResumeQueue > c.SendQueue && c.SendQueue >= 8 {
		bad("resume_queue", "must be <= send_queue (got %d > %d)", c.ResumeQueue, c.SendQueue)
	}
	return errors.Join(errs...)
}

// LoadSecrets reads CreatePasswordFile, when set, into CreatePassword. Only
// the first line counts; surrounding whitespace is dropped.
func (c *Config) LoadSecrets() error {
	if c.CreatePasswordFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.CreatePasswordFile)
	if err != nil {
		return fmt.Errorf("create_password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pw := strings.TrimSpace(line)
	if pw == "" {
		return fmt.Errorf("create_password_file: %s is empty", c.CreatePasswordFile)
	}
	c.CreatePassword = pw
	c.CreatePasswordFile = ""
	return nil
}

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
