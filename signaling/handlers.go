package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// handler serves one client message type.
type handler struct {
	needsJoin bool
	serve     func(c *conn, in *inbound) error
}

// handlers maps each client message type to its handler.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		typeJoin:       {false, (*conn).handleJoin},
		typePing:       {false, (*conn).handlePing},
		typeOffer:      {true, (*conn).handleRelay},
		typeAnswer:     {true, (*conn).handleRelay},
		typeCandidate:  {true, (*conn).handleRelay},
		typeState:      {true, (*conn).handleState},
		typeICEServers: {true, (*conn).handleICEServers},
		typeLeave:      {true, (*conn).handleLeave},
	}
}

// maxRefBytes bounds the request id echoed back in errors.
const maxRefBytes = 64

// handle decodes one client message and runs its handler; a client mistake
// gets an "error" reply and the connection lives on.
func (c *conn) handle(data []byte) {
	var in inbound
	if err := json.Unmarshal(data, &in); err != nil || in.Type == "" {
		c.sendError(nil, "", perr(codeBadJSON, "expected a JSON object with a string \"type\""))
		return
	}
	ref := in.ID
	if len(ref) > maxRefBytes || (len(ref) > 0 && !validRef(ref)) {
		ref = nil
	}
	c.srv.stats.message(in.Type)
	h, ok := handlers[in.Type]
	if !ok {
		c.sendError(ref, in.Type, perr(codeUnknownType, fmt.Sprintf("unknown message type %q", clip(in.Type))))
		return
	}
	if h.needsJoin && c.sess == nil {
		c.sendError(ref, in.Type, perr(codeNotJoined, "join a room first"))
		return
	}
	if err := h.serve(c, &in); err != nil {
		c.sendError(ref, in.Type, err)
	}
}

// validRef accepts a JSON string or number as request id.
func validRef(ref json.RawMessage) bool {
	switch b := ref[0]; {
	case b == '"':
		return true
	case b == '-' || (b >= '0' && b <= '9'):
		return true
	}
	return false
}

// sendError replies with an "error" message. Errors that are not protocol
// errors are logged and reported as internal.
func (c *conn) sendError(ref json.RawMessage, refType string, err error) {
	var pe *protoError
	if !errors.As(err, &pe) {
		c.log().Error("handling message", "type", clip(refType), "err", err)
		pe = perr(codeInternal, "internal error")
	}
	c.srv.stats.errorSent(pe.code)
	if _, known := handlers[refType]; !known {
		refType = "" // do not echo arbitrary client text
	}
	c.enqueue(mustMarshal(errorMsg{
		Type: typeError, Code: pe.code, Message: pe.msg, Ref: ref, RefType: refType,
	}), false)
}

func (c *conn) handlePing(*inbound) error {
	c.enqueue(pongBytes, false)
	return nil
}

var pongBytes = mustMarshal(struct {
	Type string `json:"type"`
}{typePong})

// handleRelay forwards an offer, answer or candidate to exactly the named
// peer, rebuilt with the sender stamped by the server.
func (c *conn) handleRelay(in *inbound) error {
	if in.To == "" {
		return perr(codeBadMessage, "\"to\" is required")
	}
	if in.To == c.sess.id {
		return perr(codeBadMessage, "\"to\" is yourself")
	}
	out := relayMsg{Type: in.Type, From: c.sess.id}
	if in.Type == typeCandidate {
		if len(in.Candidate) == 0 {
			return perr(codeBadMessage, "\"candidate\" is required (null for end of candidates)")
		}
		out.Candidate = in.Candidate
	} else {
		if len(in.SDP) == 0 || bytes.Equal(in.SDP, []byte("null")) {
			return perr(codeBadMessage, "\"sdp\" is required")
		}
		out.SDP = in.SDP
	}
	if err := c.srv.reg.Send(c.sess.room, in.To, mustMarshal(out)); err != nil {
		if errors.Is(err, ErrUnknownPeer) {
			return perr(codeUnknownPeer, fmt.Sprintf("no peer %q in this room", clip(in.To)))
		}
		if errors.Is(err, ErrUnavailable) {
			return perr(codeUnavailable, "that peer is on another node, unreachable now; retry later")
		}
		return fmt.Errorf("relay %s: %w", in.Type, err)
	}
	return nil
}

// handleState updates the sender's public state and tells the room.
func (c *conn) handleState(in *inbound) error {
	p := c.sess.peerInfo()
	if in.Name != nil {
		name, err := cleanName(*in.Name)
		if err != nil {
			return err
		}
		p.Name = name
	}
	if in.State != nil {
		p.State = *in.State
	}
	msg := StateMessage(p)
	if err := c.srv.reg.Update(c.sess.room, p, msg); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	c.sess.setPeerInfo(p)
	return nil
}

func (c *conn) handleICEServers(*inbound) error {
	cfg, err := c.srv.mintFor(c.sess)
	if err != nil {
		return perr(codeICEUnavailable, "could not issue ICE servers now")
	}
	c.sendICE(cfg)
	return nil
}

// handleLeave makes leaving final at once: the others hear peer-left, the
// resume token is spent and no credentials are refreshed now, not when the
// client answers the close frame (a closing tab often never does).
func (c *conn) handleLeave(*inbound) error {
	c.leaving = true
	c.stopRefresh()
	c.sess.leave(c)
	c.stop(closeNormal, "bye")
	return nil
}

// clip shortens client text before it is echoed or logged.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
