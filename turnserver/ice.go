package turnserver

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/streamsync/streamsync/ice"
)

// Endpoints are the public coordinates of a relay: the host clients dial
// and the ports of its UDP and TCP listeners (0 = none).
type Endpoints struct {
	Host    string
	UDPPort int
	TCPPort int
	// TLSPorts are the turns: ports, most firewall-proof first (443).
	TLSPorts []int
}

// URLs returns the STUN and TURN URLs (RFC 7064, RFC 7065) for e: UDP,
// then TCP, then TLS, the order in which browsers should prefer them.
func (e Endpoints) URLs() (stunURLs, turnURLs []string) {
	host := e.Host
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	if e.UDPPort != 0 {
		hp := host + ":" + strconv.Itoa(e.UDPPort)
		stunURLs = append(stunURLs, "stun:"+hp)
		turnURLs = append(turnURLs, "turn:"+hp+"?transport=udp")
	}
	if e.TCPPort != 0 {
		turnURLs = append(turnURLs, "turn:"+host+":"+strconv.Itoa(e.TCPPort)+"?transport=tcp")
	}
	for _, p := range e.TLSPorts {
		turnURLs = append(turnURLs, "turns:"+host+":"+strconv.Itoa(p)+"?transport=tcp")
	}
	return stunURLs, turnURLs
}

// MintICE returns an ICE configuration for user with TURN REST credentials
// made with secret, valid for ttl from now.
func MintICE(e Endpoints, secret, user string, now time.Time, ttl time.Duration) (ice.Config, error) {
	username, password, expiry, err := MintREST(secret, user, now, ttl)
	if err != nil {
		return ice.Config{}, err
	}
	stunURLs, turnURLs := e.URLs()
	var servers []ice.Server
	if len(stunURLs) > 0 {
		servers = append(servers, ice.Server{URLs: stunURLs})
	}
	if len(turnURLs) > 0 {
		servers = append(servers, ice.Server{URLs: turnURLs, Username: username, Credential: password})
	}
	return ice.Config{Servers: servers, ExpiresAt: expiry}, nil
}

// Endpoints returns the relay's public coordinates, from its bound sockets.
func (s *Server) Endpoints() Endpoints {
	e := Endpoints{Host: s.host}
	if len(s.udp) > 0 {
		e.UDPPort = portOf(s.udp[0].LocalAddr())
	}
	if len(s.tcp) > 0 {
		e.TCPPort = portOf(s.tcp[0].Addr())
	}
	if s.shared != nil {
		e.TLSPorts = append(e.TLSPorts, s.sharedPort)
	}
	if len(s.tls) > 0 {
		if p := portOf(s.tls[0].Addr()); p != s.sharedPort {
			e.TLSPorts = append(e.TLSPorts, p)
		}
	}
	return e
}

// ICE mints an ICE configuration for user with the first secret and the
// configured credential TTL. It is an ice.Minter.
func (s *Server) ICE(user string) (ice.Config, error) {
	st := s.state.Load()
	return MintICE(s.Endpoints(), st.secrets[0], user, s.now(), st.cfg.CredentialTTL)
}

// ConfiguredEndpoints returns the coordinates cfg describes without
// binding anything (for tools that mint credentials for a running server).
func ConfiguredEndpoints(cfg Config) (Endpoints, error) {
	e := Endpoints{Host: cfg.PublicHost}
	if e.Host == "" {
		ip, err := advertisedIP(cfg)
		if err != nil {
			return e, err
		}
		e.Host = ip.String()
	}
	var err error
	if len(cfg.ListenUDP) > 0 {
		if e.UDPPort, err = portOfString(cfg.ListenUDP[0]); err != nil {
			return e, err
		}
	}
	if len(cfg.ListenTCP) > 0 {
		if e.TCPPort, err = portOfString(cfg.ListenTCP[0]); err != nil {
			return e, err
		}
	}
	return e, nil
}

func portOf(a net.Addr) int {
	p, _ := portOfString(a.String())
	return p
}

func portOfString(hostport string) (int, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", hostport, err)
	}
	return int(ap.Port()), nil
}
