package turnserver

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/streamsync/streamsync/internal/udpio"
)

// Socket tuning of the UDP hot path. A relay moves packets between two
// sockets per datagram, so the kernel's receive buffer is what absorbs a
// burst while the read loop is descheduled; coturn #616 and pion's own
// figures show drops there long before the CPU is saturated.

// udpSocketCount is how many SO_REUSEPORT sockets (and event loops) serve
// one listen_udp address: Config.UDPSockets, or when it is 0
// defaultUDPSockets of the CPUs the Go runtime runs on (GOMAXPROCS as the
// program has it, which follows a cgroup CPU quota, unlike the host's CPU
// count).
func udpSocketCount(cfg Config) int {
	if cfg.UDPSockets > 0 {
		return cfg.UDPSockets
	}
	return defaultUDPSockets(udpio.Procs())
}

// defaultUDPSockets is one event loop per two CPUs, at least one. Each
// loop serves a share of the clients, so at call rates, where datagrams
// come a few at a time, every burst wakes every loop, and a wake-up (a
// thread woken, three system calls) is most of what a relayed datagram
// costs: on 2 CPUs one loop relayed at every even load for less CPU per
// datagram than two (BENCHMARKS.md, "Fourth round"). Half the CPUs still
// spread a heavy load, and leave the others to what the kernel does for
// each datagram outside the loops (a NIC's interrupts and softirqs).
func defaultUDPSockets(procs int) int { return max(1, procs/2) }

// listenUDPGroup binds n UDP sockets to addr sharing its port with
// SO_REUSEPORT (the kernel spreads clients over them by 5-tuple hash, so a
// client always reaches the same socket and allocation manager, as TURN
// needs), socket i on loop i, each with the configured buffer sizes. With
// port 0 the first socket picks the port and the others join it.
func listenUDPGroup(addr string, n int, cfg Config, loops *udpio.Group, newConn func() *clientConn) ([]*clientConn, error) {
	if n > 1 && !reusePortSupported {
		n = 1
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	var out []*clientConn
	for i := range n {
		c := newConn()
		sock, err := loops.Loop(i).Listen("udp", ap, socketOptions(cfg, n > 1), c)
		if err != nil {
			for _, c := range out {
				_ = c.Close()
			}
			return nil, fmt.Errorf("listen udp %s (socket %d of %d): %w", addr, i+1, n, err)
		}
		c.bound(sock)
		out = append(out, c)
		if i == 0 {
			ap = netip.AddrPortFrom(ap.Addr(), sock.LocalAddr().Port()) // the port chosen for port 0
		}
	}
	return out, nil
}

// socketOptions applies udp_receive_buffer and udp_send_buffer (0 keeps
// the kernel's default; the kernel silently caps them, see
// warnBufferCaps) to listener and relay sockets.
func socketOptions(cfg Config, reusePort bool) udpio.Options {
	return udpio.Options{ReusePort: reusePort, ReadBuffer: max(cfg.UDPReceiveBuffer, 0), WriteBuffer: max(cfg.UDPSendBuffer, 0)}
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
