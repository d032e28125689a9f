package demux

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// stunMagicCookie is the fixed value at bytes 4-7 of every STUN message
// (RFC 8489 §6).
const stunMagicCookie = 0x2112A442

// peekLen is how many plaintext bytes decide the side: a STUN header up to
// and including the magic cookie.
const peekLen = 8

// TLS record layer (RFC 8446 §5.1): a 5-byte header whose first byte is
// the content type and whose last two are the length.
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 0x16
	maxHelloRecord      = 16384 + 2048 // TLSCiphertext's bound; a ClientHello is far shorter
)

// sort handshakes raw, decides its side and hands it on; on any failure it
// closes raw. It gives raw's pending place back (release) when done.
func (m *Mux) sort(raw *rawConn, release func()) {
	defer m.wg.Done()
	defer release()
	log := m.log.With("remote", raw.RemoteAddr().String())
	accepted := time.Now()

	// The first record, the ClientHello, within HelloTimeout: a silent
	// or trickling client gives its place up well before the handshake's
	// own timeout.
	_ = raw.SetReadDeadline(accepted.Add(m.cfg.HelloTimeout))
	if err := raw.readFirstRecord(); err != nil {
		m.untrack(raw)
		_ = raw.Close()
		log.Debug("no tls client hello", "err", err)
		return
	}

	tc := tls.Server(raw, m.tls)
	_ = tc.SetDeadline(accepted.Add(m.cfg.HandshakeTimeout))
	ctx, cancel := context.WithDeadline(m.ctx, accepted.Add(m.cfg.HandshakeTimeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.untrack(raw)
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader) {
			// Plain HTTP sent to the TLS port, as net/http answers it.
			_ = raw.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(raw, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		_ = raw.Close()
		log.Debug("tls handshake failed", "err", err)
		return
	}

	var side *sideListener
	var conn net.Conn = tc
	switch proto := tc.ConnectionState().NegotiatedProtocol; proto {
	case alpnH2, alpnHTTP11:
		side = m.http
	case alpnTURN, alpnSTUN:
		side = m.turn
	case alpnACME:
		// A TLS-ALPN-01 validation: the handshake was the answer.
		m.untrack(raw)
		_ = tc.Close()
		return
	default:
		_ = tc.SetDeadline(time.Now().Add(m.cfg.PeekTimeout))
		peeked, isSTUN, err := peek(tc)
		if err != nil {
			m.untrack(raw)
			_ = tc.Close()
			log.Debug("no data after tls handshake", "err", err)
			return
		}
		side, conn = m.http, &peekedConn{Conn: tc, peeked: peeked}
		if isSTUN {
			side = m.turn
		}
	}
	_ = tc.SetDeadline(time.Time{})
	if side == m.http && m.cfg.AdmitHTTP != nil {
		release, err := m.cfg.AdmitHTTP(raw.RemoteAddr())
		if err != nil {
			m.untrack(raw)
			_ = tc.Close()
			log.Debug("https connection refused", "err", err)
			return
		}
		raw.onClose(release)
	}
	m.untrack(raw)
	side.deliver(conn, m.cfg.HandshakeTimeout, log)
}

// rawConn is an accepted TCP connection being sorted. Read replays the
// first TLS record read ahead of the handshake; Close runs the release
// set by onClose, once.
type rawConn struct {
	net.Conn
	first   []byte // not yet returned by Read; only Read touches it after readFirstRecord
	mu      sync.Mutex
	closed  bool
	release func()
}

// readFirstRecord reads the first TLS record whole (only its header when
// it is not a handshake record: plain HTTP or garbage, which the TLS
// handshake then rejects), for Read to replay.
func (c *rawConn) readFirstRecord() error {
	hdr := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(c.Conn, hdr); err != nil {
		return err
	}
	c.first = hdr
	n := int(binary.BigEndian.Uint16(hdr[3:5]))
	if hdr[0] != recordTypeHandshake || n > maxHelloRecord {
		return nil
	}
	rec := make([]byte, recordHeaderLen+n)
	copy(rec, hdr)
	if _, err := io.ReadFull(c.Conn, rec[recordHeaderLen:]); err != nil {
		return err
	}
	c.first = rec
	return nil
}

// Read implements net.Conn, replaying the first record first.
func (c *rawConn) Read(b []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// onClose sets what Close runs; if c is closed already it runs now.
func (c *rawConn) onClose(release func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		release()
		return
	}
	c.release = release
	c.mu.Unlock()
}

// Close implements net.Conn.
func (c *rawConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	release := c.release
	c.closed, c.release = true, nil
	c.mu.Unlock()
	if release != nil {
		release()
	}
	return err
}

// peek reads the first plaintext bytes: one byte when it cannot start a
// STUN message (top two bits set, RFC 8489 §5), else peekLen bytes to
// check the magic cookie.
func peek(r io.Reader) (peeked []byte, isSTUN bool, err error) {
	buf := make([]byte, peekLen)
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return nil, false, err
	}
	if buf[0]&0xC0 != 0 {
		return buf[:1], false, nil
	}
	if _, err := io.ReadFull(r, buf[1:]); err != nil {
		return nil, false, err
	}
	return buf, binary.BigEndian.Uint32(buf[4:8]) == stunMagicCookie, nil
}

// looksLikeHTTP reports whether a would-be TLS record header is the start
// of an HTTP request (as net/http checks it).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
