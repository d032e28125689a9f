package demux

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

// stunMagicCookie is the fixed value at bytes 4-7 of every STUN message
// (RFC 8489 §6).
const stunMagicCookie = 0x2112A442

// peekLen is how many plaintext bytes decide the side: a STUN header up to
// and including the magic cookie.
const peekLen = 8

// sort handshakes raw, decides its side and hands it on; on any failure it
// closes raw. It releases raw's slot when done.
func (m *Mux) sort(raw net.Conn) {
	defer m.wg.Done()
	defer func() { <-m.slots }()
	log := m.log.With("remote", raw.RemoteAddr().String())

	tc := tls.Server(raw, m.tls)
	_ = tc.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.HandshakeTimeout)
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
	m.untrack(raw)
	side.deliver(conn, m.cfg.HandshakeTimeout, log)
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
