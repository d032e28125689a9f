package main

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by definition.
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// restCredentials mints a TURN REST API username ("expiry:user") and its
// password base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret.
func restCredentials(secret, user string, ttl time.Duration) (string, string) {
	username := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// payloadHeader is what each datagram carries: sequence number and send
// time (nanoseconds since the run's epoch).
const payloadHeader = 16

// channelDataHeader is the ChannelData header (RFC 8656 §12.4).
const channelDataHeader = 4

// allocation is one TURN client: its own UDP socket, a pion client for the
// control plane (Allocate, permission, ChannelBind, refresh), and a read
// loop that handles ChannelData itself so that the data path costs the
// load generator as little as possible. STUN messages go to pion.
type allocation struct {
	id      int
	conn    *net.UDPConn
	server  netip.AddrPort
	client  *turn.Client
	relay   net.PacketConn
	peer    *net.UDPAddr
	channel atomic.Uint32 // channel number seen in the first ChannelData from the server; 0 before
	raw     bool          // no TURN: plain payloads to a forwarder (see forwarder)
	epoch   time.Time

	// Written by the sender only.
	sent     atomic.Uint64
	buf      []byte
	sentLast time.Time

	// Written by the receiver only; read after the run.
	recv     atomic.Uint64
	lastRecv atomic.Int64 // nanoseconds since epoch of the latest echo
	inflight atomic.Int64
	rtt      histogram
	record   atomic.Bool
	wake     chan<- struct{}
	done     chan struct{} // closed when readLoop returns
}

// quietLogs silences pion's client logs ("Receive buffer full" and the like).
var quietLogs = func() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}()

// openAllocation creates the client socket on local, allocates a relay
// with user's REST credentials and starts the read loop.
func openAllocation(id int, local netip.Addr, server netip.AddrPort, realm, secret, user string, epoch time.Time) (*allocation, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", local, err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	username, password := restCredentials(secret, user, time.Hour)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          realm,
		LoggerFactory:  quietLogs,
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("turn client: %w", err)
	}
	a := &allocation{id: id, conn: conn, server: server, client: c, epoch: epoch, done: make(chan struct{})}
	go a.readLoop()
	relay, err := c.Allocate()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("allocate: %w", err)
	}
	a.relay = relay
	return a, nil
}

// openRaw creates a client of a bare forwarder: the same socket and read
// loop, plain payloads instead of ChannelData.
func openRaw(id int, local netip.Addr, server netip.AddrPort, epoch time.Time) (*allocation, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", local, err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	a := &allocation{id: id, conn: conn, server: server, raw: true, epoch: epoch, done: make(chan struct{})}
	go a.readLoop()
	return a, nil
}

// bindChannel makes the relay send to peer over a channel: pion creates
// the permission and binds a channel on its first writes (Send indications
// meanwhile); the channel is known to be bound once the peer's echo comes
// back as ChannelData.
func (a *allocation) bindChannel(peer *net.UDPAddr, timeout time.Duration) error {
	a.peer = peer
	deadline := time.Now().Add(timeout)
	probe := make([]byte, payloadHeader)
	for a.channel.Load() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("allocation %d: no ChannelData from %s within %s", a.id, peer, timeout)
		}
		if _, err := a.relay.WriteTo(probe, peer); err != nil {
			return fmt.Errorf("allocation %d: write to peer: %w", a.id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// readLoop reads the client socket until it is closed.
func (a *allocation) readLoop() {
	defer close(a.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		if a.raw {
			a.onPayload(b)
			continue
		}
		if n >= channelDataHeader && b[0]&0xC0 == 0x40 { // ChannelData, 0x4000-0x7FFF
			a.onChannelData(b)
			continue
		}
		_, _ = a.client.HandleInbound(b, net.UDPAddrFromAddrPort(from))
	}
}

func (a *allocation) onChannelData(b []byte) {
	num := binary.BigEndian.Uint16(b[0:2])
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if a.channel.Load() == 0 {
		a.channel.Store(uint32(num))
		return
	}
	if length < payloadHeader || len(b) < channelDataHeader+payloadHeader {
		return
	}
	a.onPayload(b[channelDataHeader:])
}

// onPayload takes an echoed payload: sequence number and send time.
func (a *allocation) onPayload(p []byte) {
	if len(p) < payloadHeader {
		return
	}
	if binary.BigEndian.Uint64(p[0:8]) == 0 { // a probe from bindChannel
		return
	}
	sentAt := time.Duration(binary.BigEndian.Uint64(p[8:16]))
	now := time.Since(a.epoch)
	a.lastRecv.Store(int64(now))
	a.recv.Add(1)
	a.inflight.Add(-1)
	if a.record.Load() {
		a.rtt.add(now - sentAt)
	}
	if a.wake != nil {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// send writes one ChannelData datagram of size payload bytes to the server.
func (a *allocation) send(size int) error {
	hdr := channelDataHeader
	if a.raw {
		hdr = 0
	}
	if a.buf == nil {
		a.buf = make([]byte, hdr+size)
		if !a.raw {
			binary.BigEndian.PutUint16(a.buf[0:2], uint16(a.channel.Load()))
			binary.BigEndian.PutUint16(a.buf[2:4], uint16(size))
		}
	}
	seq := a.sent.Add(1)
	a.sentLast = time.Now()
	p := a.buf[hdr:]
	binary.BigEndian.PutUint64(p[0:8], seq)
	binary.BigEndian.PutUint64(p[8:16], uint64(time.Since(a.epoch)))
	a.inflight.Add(1)
	_, err := a.conn.WriteToUDPAddrPort(a.buf, a.server)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// ENOBUFS and the like: the datagram is lost, count it so.
		return nil
	}
	return err
}

// close deallocates (Refresh with lifetime 0) and closes the socket.
func (a *allocation) close() {
	if a.relay != nil {
		_ = a.relay.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	_ = a.conn.Close()
	<-a.done
}

// lastSend is when the sender last sent (sender goroutine only).
func (a *allocation) lastSend() time.Time { return a.sentLast }
