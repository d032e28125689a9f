package signaling

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// sendSlack is room in a send queue beyond Config.SendQueue for the
// connection's own replies (welcome, joined, errors) and a resume flush.
const sendSlack = 8

// Control frames (ping, and pong beyond the answers to our pings) a client
// may send: browsers send none of their own, so a small bucket per
// connection is plenty for any honest client. Past it the connection is
// closed with 1008: every ping costs a pong, and gorilla answers them
// inside ReadMessage, where message_rate never sees them.
const (
	controlRate  = 2  // per second
	controlBurst = 20 //
)

// outMsg is one queued outgoing message. roomEvent marks messages from the
// room, which move to the session's resume queue if the connection dies
// before writing them.
type outMsg struct {
	data      []byte
	roomEvent bool
}

// conn is one WebSocket connection. The goroutine ServeHTTP starts for it
// (running serve) is its reader and owner; one writer goroutine does every
// write (messages, pings, the close frame). Others only enqueue.
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	ip      netip.Addr                  // the client's address, for logs
	key     netip.Addr                  // what per-address limits count it by (ipKey)
	logp    atomic.Pointer[slog.Logger] // gains room and peer on join
	limiter *rate.Limiter
	control *rate.Limiter // pings and pongs the client sends (controlRate)

	send       *sendQueue    // bounded by Config.SendQueue (+ slack)
	quit       chan struct{} // closed once by stop or abort
	quitOnce   sync.Once
	writerDone chan struct{}
	joined     atomic.Bool

	mu sync.Mutex
	// guarded by mu:
	closeCode   int         // close frame to send; 0 for none
	closeReason string      //
	closing     bool        // close frame sent: stop extending the read deadline
	refresh     *time.Timer // ICE credential refresh
	refreshOff  bool        // no more refreshes

	// owned by the reader goroutine:
	sess    *session
	leaving bool    // the client said goodbye: no resume
	ticket  *ticket // admission; handed to sess when it is held for resume
}

func newConn(s *Server, ws *websocket.Conn, ip netip.Addr, t *ticket) *conn {
	c := &conn{
		srv:        s,
		ws:         ws,
		ip:         ip,
		key:        ipKey(ip),
		ticket:     t,
		limiter:    rate.NewLimiter(rate.Limit(s.cfg.MessageRate), s.cfg.MessageBurst),
		control:    rate.NewLimiter(controlRate, controlBurst),
		send:       newSendQueue(&s.budget),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.logp.Store(s.log.With("remote", ip.String()))
	return c
}

// log returns the connection's logger; safe from any goroutine.
func (c *conn) log() *slog.Logger { return c.logp.Load() }

// setLogRoom adds the room tag and peer id to the connection's logger.
func (c *conn) setLogRoom(room, peer string) {
	c.logp.Store(c.log().With("room", roomTag(room), "peer", peer))
}

// serve runs the connection to its end: writer started, reader run here,
// then an orderly teardown and the session detached or ended.
func (c *conn) serve() {
	c.srv.stats.connections.Add(1)
	defer c.srv.stats.connections.Add(-1)
	c.log().Debug("connected")
	c.enqueue(c.srv.welcomeFor(), false)
	joinTimer := time.AfterFunc(c.srv.cfg.JoinTimeout, func() {
		if !c.joined.Load() {
			c.srv.stats.joinTimeouts.Add(1)
			c.stop(closePolicy, "join timeout")
		}
	})
	go c.writeLoop()

	c.readLoop()

	joinTimer.Stop()
	c.stop(0, "")
	<-c.writerDone
	c.stopRefresh()
	c.linger()
	_ = c.ws.Close()
	if c.sess != nil {
		c.sess.detach(c, c.leaving)
	}
	c.send.clear() // what no session took over
	c.ticket.release()
	c.log().Debug("disconnected")
}

// readLoop reads messages until the connection fails or closes.
func (c *conn) readLoop() {
	c.ws.SetReadLimit(c.srv.cfg.ReadLimit)
	c.extendRead()
	c.ws.SetPongHandler(func(string) error {
		if c.controlAllowed() {
			c.extendRead()
		}
		return nil
	})
	c.ws.SetPingHandler(c.answerPing)
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.stopping() {
			continue // draining until the client answers our close frame
		}
		c.extendRead()
		if !c.limiter.Allow() {
			c.srv.stats.rateLimited.Add(1)
			c.log().Info("message rate limit exceeded, closing")
			c.stop(closePolicy, "rate limit")
			continue
		}
		if mt != websocket.TextMessage {
			c.sendError(nil, "", perr(codeBadMessage, "only text frames are accepted"))
			continue
		}
		if code, err := checkFrame(data); err != nil {
			if code != 0 {
				c.srv.stats.badFrames.Add(1)
				c.log().Info("bad frame, closing", "err", err)
				c.stop(code, err.Error())
				continue
			}
			c.sendError(nil, "", err)
			continue
		}
		c.handleContained(data)
	}
}

// controlAllowed spends one control-frame token; without one the
// connection is closed with 1008 and the frame ignored, as is every frame
// once the connection is closing.
func (c *conn) controlAllowed() bool {
	if c.stopping() {
		return false
	}
	if !c.control.Allow() {
		c.srv.stats.rateLimited.Add(1)
		c.log().Info("control frame rate limit exceeded, closing")
		c.stop(closePolicy, "ping rate limit")
		return false
	}
	return true
}

// answerPing answers a ping within the control-frame budget, as
// gorilla's default handler does (WriteControl may run beside the writer).
func (c *conn) answerPing(data string) error {
	if !c.controlAllowed() {
		return nil
	}
	c.extendRead()
	err := c.ws.WriteControl(websocket.PongMessage, []byte(data), c.srv.writeDeadline())
	var ne net.Error
	if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

// handleContained runs handle, containing a panic to this connection.
func (c *conn) handleContained(data []byte) {
	defer c.contain("handle")
	c.handle(data)
}

func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent 1009 (RFC 6455 §7.4.1).
		c.srv.stats.tooBig.Add(1)
		c.log().Info("message too big, closed")
	case errors.As(err, &ce):
		if ce.Code == websocket.CloseNormalClosure {
			c.leaving = true
		}
	}
}

// extendRead pushes the read deadline one ping period plus pong timeout
// ahead, unless the connection is closing.
func (c *conn) extendRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.PingInterval + c.srv.cfg.PongTimeout))
	}
}

// stopping reports whether stop has been called.
func (c *conn) stopping() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// writeLoop is the only writer of the WebSocket.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(c.srv.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.send.ready:
			for {
				select {
				case <-c.quit:
					c.closeFrame()
					return
				default:
				}
				m, ok := c.send.pop()
				if !ok {
					break
				}
				_ = c.ws.SetWriteDeadline(c.srv.writeDeadline())
				if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
					c.stop(0, "")
					c.closeFrame()
					return
				}
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, c.srv.writeDeadline()); err != nil {
				c.stop(0, "")
				c.closeFrame()
				return
			}
		case <-c.quit:
			c.closeFrame()
			return
		}
	}
}

// closeFrame sends the chosen close frame, if any, then gives the client a
// bounded time to answer it before the reader gives up.
func (c *conn) closeFrame() {
	c.mu.Lock()
	code, reason := c.closeCode, c.closeReason
	c.closing = true
	c.mu.Unlock()
	if code != 0 {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, reason), c.srv.writeDeadline())
	}
	_ = c.ws.SetReadDeadline(c.srv.closeDeadline())
}

// stop ends the connection with a close frame (code 0: none). The first
// call decides; it may come from any goroutine.
func (c *conn) stop(code int, reason string) {
	c.quitOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.closeReason = code, reason
		c.mu.Unlock()
		close(c.quit)
	})
}

// abort cuts the connection at once (shutdown deadline passed).
func (c *conn) abort() {
	c.stop(0, "")
	_ = c.ws.NetConn().Close()
}

// enqueue queues msg for the writer without blocking. A client whose queue
// is full (send_queue messages, send_queue_bytes, or the server's
// queue_budget spent) is too slow: it is disconnected and counted, and the
// room goes on.
func (c *conn) enqueue(data []byte, roomEvent bool) {
	limit := c.srv.cfg.SendQueue + sendSlack
	byteLimit := c.srv.cfg.SendQueueBytes
	select {
	case <-c.quit:
		// Dying: keep what fits so a resume can still deliver it.
		c.send.push(outMsg{data, roomEvent}, limit, byteLimit)
		return
	default:
	}
	if roomEvent {
		limit = c.srv.cfg.SendQueue // the slack is for the connection's own replies
	}
	if ok, budgetFull := c.send.push(outMsg{data, roomEvent}, limit, byteLimit); !ok {
		if budgetFull {
			c.srv.stats.budgetFull.Add(1)
		}
		c.slow()
	}
}

func (c *conn) slow() {
	c.srv.stats.slowClients.Add(1)
	c.log().Info("client too slow, closing", "queue", c.send.len())
	c.stop(closePolicy, "too slow")
}

// linger half-closes TCP and discards what the client still sends until it
// closes or the write timeout passes, so our close frame is not lost to a reset caused by unread
// data (e.g. the rest of an oversized message).
// The connection may be a wrapper of the TCP connection (the appliance's
// connection caps wrap it) that passes CloseWrite on; a TLS connection's
// CloseWrite is a close_notify, not a TCP half-close, and is left alone.
func (c *conn) linger() {
	nc := c.ws.NetConn()
	if _, isTLS := nc.(interface{ ConnectionState() tls.ConnectionState }); isTLS {
		return
	}
	hc, ok := nc.(interface {
		net.Conn
		CloseWrite() error
	})
	if !ok {
		return
	}
	_ = hc.CloseWrite()
	_ = hc.SetReadDeadline(c.srv.closeDeadline())
	_, _ = io.Copy(io.Discard, hc)
}
