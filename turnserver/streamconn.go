package turnserver

import (
	"encoding/binary"
	"net"
	"time"
)

// TURN over TCP and TLS is a byte stream that carries STUN messages and
// ChannelData back to back (RFC 6062, RFC 8656 §12.5). pion v4.1.4 cuts it
// into frames with 16-bit arithmetic: a STUN length of 0xFFEC (or a
// ChannelData length of 0xFFFC) makes a frame of 0 bytes, and its read
// loop then spins forever without reading, on a connection the attacker
// has long closed. We own the connections pion reads, so the framing is
// checked here, before pion sees a byte: pion is handed only whole frames
// that no framer could cut differently, and a connection that sends an
// impossible frame is closed at once and counted.

// Stream frame limits.
const (
	// maxStreamFrame is the largest STUN message or ChannelData frame,
	// header and padding included, taken from a stream: pion drops every
	// read of pionMTU bytes or more, so a larger frame is garbage or an
	// attack, and what a connection buffers stays small.
	maxStreamFrame = pionMTU - 1
	// stunMagicCookie is the fixed value at bytes 4-7 of a STUN message
	// (RFC 8489 §5).
	stunMagicCookie = 0x2112A442
)

// frameError says why a stream frame is impossible.
type frameError string

func (e frameError) Error() string { return "impossible stream frame: " + string(e) }

// frameLength checks the frame at the start of b and returns its length,
// header and padding included, or 0 when more bytes are needed to judge
// it. A frame is refused when no honest client sends it, or when pion's
// framer (which looks for the magic cookie before the channel number)
// could read it differently.
func frameLength(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	var total int
	switch b[0] & 0xC0 {
	case 0x00: // STUN: the length counts the attributes, each padded to 4 (RFC 8489 §5)
		if length%4 != 0 {
			return 0, frameError("STUN length not a multiple of 4")
		}
		total = stunHeaderSize + length
	case 0x40: // ChannelData, padded to 4 on a stream (RFC 8656 §12.5)
		total = channelDataHeader + (length+3)&^3
	default:
		return 0, frameError("neither STUN nor ChannelData")
	}
	if total > maxStreamFrame {
		return 0, frameError("longer than any message we take")
	}
	if b[0]&0xC0 == 0x40 && total < 8 {
		return total, nil // bytes 4-7 belong to the next frame, judged on its own
	}
	if len(b) < 8 {
		return 0, nil
	}
	cookie := binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie
	switch {
	case b[0]&0xC0 == 0x00 && !cookie:
		return 0, frameError("STUN header without the magic cookie")
	case b[0]&0xC0 == 0x40 && cookie:
		return 0, frameError("ChannelData that reads as a STUN header")
	}
	return total, nil
}

// Deadlines on stream connections: a client must have sent its first
// whole STUN message (after any TLS handshake) within firstMessageTimeout
// of its accept, however it trickles the bytes in, and a connection that
// then stays silent longer than any refresh interval is dropped, so idle
// or half-open connections cannot pile up.
const (
	firstMessageTimeout = 10 * time.Second
	streamIdleTimeout   = 15 * time.Minute // refreshes come every few minutes
)

// stunHeaderSize is the fixed STUN header length (RFC 8489 §5).
const stunHeaderSize = 20

// inspectedConn is one TCP or TLS client connection. It cuts the stream
// into frames, checks each, inspects each STUN message (see inspector)
// and hands pion only the frames that pass.
type inspectedConn struct {
	net.Conn
	in      inspector
	pending []byte    // read, not yet a whole frame
	ready   []byte    // whole frames checked and not yet returned to pion
	readOff int       // how much of ready was returned
	err     error     // the connection's end, returned once ready is drained
	spoken  bool      // a whole STUN message has arrived
	speakBy time.Time // when the first message must have arrived; set at accept
}

// Read returns whole checked frames (pion's STUNConn may still take them
// a piece at a time). An impossible frame closes the connection and ends
// the reads with its error; so does a request the inspector refuses to
// answer on a stream.
func (c *inspectedConn) Read(p []byte) (int, error) {
	for c.readOff == len(c.ready) {
		c.ready, c.readOff = c.ready[:0], 0
		if c.err != nil {
			return 0, c.err
		}
		deadline := time.Now().Add(streamIdleTimeout)
		if !c.spoken {
			if c.speakBy.IsZero() {
				c.speakBy = time.Now().Add(firstMessageTimeout)
			}
			deadline = c.speakBy // absolute: each byte does not buy more time
		}
		_ = c.Conn.SetReadDeadline(deadline)
		n, err := c.Conn.Read(p)
		if ferr := c.frame(p[:n]); ferr != nil {
			c.fail(ferr)
			return 0, ferr
		}
		if err != nil {
			c.err = err
		}
	}
	n := copy(p, c.ready[c.readOff:])
	c.readOff += n
	return n, nil
}

// frame adds b to what was read and moves every whole frame to ready.
func (c *inspectedConn) frame(b []byte) error {
	data := b
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b...)
		data = c.pending
	}
	off := 0
	for {
		total, err := frameLength(data[off:])
		if err != nil {
			return err
		}
		if total == 0 || len(data)-off < total {
			break
		}
		f := data[off : off+total]
		off += total
		if f[0]&0xC0 == 0 {
			c.spoken = true
			if !c.in.message(f, c.Conn.RemoteAddr(), nil, c, false) {
				continue // answered or dropped by the inspector
			}
		}
		c.ready = append(c.ready, f...)
	}
	if len(c.pending) > 0 {
		c.pending = c.pending[:copy(c.pending, data[off:])]
	} else {
		c.pending = append(c.pending, data[off:]...)
	}
	return nil
}

// Write binds the nonce of a challenge pion writes to this client (see
// bindNonce); pion writes one whole message per call.
func (c *inspectedConn) Write(p []byte) (int, error) {
	c.in.srv.nonces.bindNonce(p, c.Conn.RemoteAddr())
	return c.Conn.Write(p)
}

func (c *inspectedConn) reply(b []byte, _ net.Addr) { _, _ = c.Conn.Write(b) }

// fail ends the connection for an impossible frame.
func (c *inspectedConn) fail(err error) {
	c.in.srv.stats.StreamFramingErrors.Add(1)
	c.in.srv.log.Debug("stream connection closed", "reason", err.Error(), "remote", c.Conn.RemoteAddr().String())
	c.err = err
	c.pending, c.ready, c.readOff = nil, nil, 0
	_ = c.Conn.Close()
}
