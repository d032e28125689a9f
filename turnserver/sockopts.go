package turnserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Socket tuning of the UDP hot path. A relay moves packets between two
// sockets per datagram, so the kernel's receive buffer is what absorbs a
// burst while the read loop is descheduled; coturn #616 and pion's own
// figures show drops there long before the CPU is saturated.

// udpSocketCount is how many SO_REUSEPORT sockets serve one listen_udp
// address: Config.UDPSockets, or one per CPU when it is 0.
func udpSocketCount(cfg Config) int {
	if cfg.UDPSockets > 0 {
		return cfg.UDPSockets
	}
	return runtime.NumCPU()
}

// listenUDPGroup binds n UDP sockets to addr sharing its port with
// SO_REUSEPORT (the kernel spreads clients over them by 5-tuple hash, so a
// client always reaches the same socket and allocation manager, as TURN
// needs), each with the configured buffer sizes. With port 0 the first
// socket picks the port and the others join it.
func listenUDPGroup(addr string, n int, cfg Config) ([]*net.UDPConn, error) {
	if n > 1 && !reusePortSupported {
		n = 1
	}
	var out []*net.UDPConn
	for i := range n {
		lc := net.ListenConfig{}
		if n > 1 {
			lc.Control = setReusePort
		}
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range out {
				_ = c.Close()
			}
			return nil, fmt.Errorf("listen udp %s (socket %d of %d): %w", addr, i+1, n, err)
		}
		c := pc.(*net.UDPConn)
		setBuffers(c, cfg)
		out = append(out, c)
		if i == 0 {
			addr = c.LocalAddr().String() // the port chosen for port 0
		}
	}
	return out, nil
}

// setBuffers applies udp_receive_buffer and udp_send_buffer; 0 keeps the
// kernel's default. The kernel silently caps them (see warnBufferCaps).
func setBuffers(c *net.UDPConn, cfg Config) {
	if cfg.UDPReceiveBuffer > 0 {
		_ = c.SetReadBuffer(cfg.UDPReceiveBuffer)
	}
	if cfg.UDPSendBuffer > 0 {
		_ = c.SetWriteBuffer(cfg.UDPSendBuffer)
	}
}

// warnBufferCaps logs, once at start, each configured buffer size that the
// kernel's limit (net.core.rmem_max / wmem_max) caps, with the fix.
func warnBufferCaps(log *slog.Logger, cfg Config) {
	check := func(key string, want int, sysctl string) {
		if want <= 0 {
			return
		}
		b, err := os.ReadFile("/proc/sys/net/core/" + sysctl)
		if err != nil {
			return // not Linux, or no /proc: nothing to compare with
		}
		limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || limit >= want {
			return
		}
		log.Warn("kernel caps the UDP socket buffer below the configured size; bursts will be dropped",
			"key", "turn."+key, "configured", want, "sysctl", "net.core."+sysctl, "limit", limit,
			"fix", fmt.Sprintf("sysctl -w net.core.%s=%d", sysctl, want))
	}
	check("udp_receive_buffer", cfg.UDPReceiveBuffer, "rmem_max")
	check("udp_send_buffer", cfg.UDPSendBuffer, "wmem_max")
}

// clientConn is a client-facing UDP socket. Its ReadFrom does not
// allocate: it reads a netip.AddrPort and returns a *net.UDPAddr shared by
// every datagram of that client (pion needs a net.Addr and never changes
// it). It also takes ChannelData of bound channels off pion's hands (see
// fastPath). ReadFrom must have a single caller, which pion's one read loop
// per socket is; the cache is bounded.
type clientConn struct {
	*net.UDPConn
	local   netip.AddrPort
	fast    *fastPath
	clients map[netip.AddrPort]*clientEntry // owned by the reader
}

// maxCachedClients bounds clientConn's cache; a flood of spoofed sources
// only empties it now and then.
const maxCachedClients = 1 << 14

func newClientConn(c *net.UDPConn, fast *fastPath) *clientConn {
	local, _ := udpAddrPort(c.LocalAddr())
	return &clientConn{UDPConn: c, local: local, fast: fast, clients: make(map[netip.AddrPort]*clientEntry)}
}

// ReadFrom reads the next datagram that is for pion; see clientConn.
func (c *clientConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, ap, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		e := c.clients[ap]
		if e == nil {
			if len(c.clients) >= maxCachedClients {
				clear(c.clients)
			}
			e = &clientEntry{ap: ap, addr: net.UDPAddrFromAddrPort(ap)}
			c.clients[ap] = e
		}
		// ChannelData starts with 0b01 (RFC 8656 §12.4); a full buffer may
		// be a truncated datagram, which pion drops.
		if n >= channelDataHeader && n < len(p) && p[0]&0xC0 == 0x40 && c.fast != nil &&
			c.fast.forward(p[:n], e, c.local) {
			continue
		}
		return n, e.addr, nil
	}
}
