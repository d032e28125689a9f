package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamsync/streamsync/signaling"
)

// Headers of a message relayed to a peer on another node; the body is the
// signaling message itself, untouched.
const (
	hdrRoom = "Ss-Room" // room key
	hdrTo   = "Ss-To"   // peer id
	hdrSeq  = "Ss-Seq"  // last room event the sender's node had applied
	hdrRev  = "Ss-Rev"  // and the room's revision it had
)

func joinURLs(urls []string) string { return strings.Join(urls, ",") }

// natsOptions builds the connection options from the config: credentials,
// TLS, and reconnecting forever without buffering (a message that cannot
// go now is refused, not delivered late).
func (r *Registry) natsOptions() ([]nats.Option, error) {
	c := r.cfg
	opts := []nats.Option{
		nats.Name("streamsync " + r.node),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(min(c.Heartbeat, 2*time.Second)),
		nats.ReconnectJitter(c.Heartbeat/4, c.Heartbeat/2),
		nats.ReconnectBufSize(-1),
		nats.Timeout(opTimeout),
		nats.PingInterval(max(c.NodeTimeout, 2*time.Second)),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.disconnected(err)
			r.log.Warn("nats disconnected; serving local rooms only", "err", err)
			r.signal()
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			r.connected()
			r.log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
			r.signal()
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			r.connected()
			r.log.Info("nats connected", "server", nc.ConnectedUrlRedacted())
			r.signal()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			r.noteErr("nats", err)
		}),
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// subscribe listens for relayed messages, hand-off requests and the other
// nodes' heartbeats. nats.go renews these subscriptions on reconnect.
func (r *Registry) subscribe() error {
	for _, s := range []struct {
		subj string
		f    nats.MsgHandler
	}{
		{r.subject("to", r.node), r.onRelay},
		{r.subject("handoff", r.node), r.onHandOff},
		{r.subject("hb", "*"), r.onHeartbeat},
		{r.subject("bye", "*"), r.onBye},
	} {
		sub, err := r.nc.Subscribe(s.subj, s.f)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", s.subj, err)
		}
		r.subs = append(r.subs, sub)
	}
	return nil
}

// Answers to a relayed message.
const (
	relayOK      = "ok"
	relayUnknown = "unknown"
	relayMoved   = "moved " // then the incarnation now serving the peer
)

// relayHops bounds how many moves a relayed message follows.
const relayHops = 3

// errNoNode is sendRemote's answer when the node it was to reach has no
// subscription: it is gone.
var errNoNode = errors.New("cluster: the serving node is gone")

// sendRemote sends msg to peer to of room key, served by node, and waits
// until that node holds it, following the peer if it moved. A node with no
// subscription is gone (errNoNode): the peer's place waits for a resume
// elsewhere.
func (r *Registry) sendRemote(node, key, to string, need, rev uint64, msg []byte) error {
	for range relayHops {
		if !r.nc.IsConnected() {
			return signaling.ErrUnavailable
		}
		m := nats.NewMsg(r.subject("to", node))
		m.Header.Set(hdrRoom, key)
		m.Header.Set(hdrTo, to)
		m.Header.Set(hdrSeq, strconv.FormatUint(need, 10))
		m.Header.Set(hdrRev, strconv.FormatUint(rev, 10))
		m.Data = msg
		r.stats.remoteSends.Add(1)
		ctx, cancel := r.linkContext(opTimeout)
		resp, err := r.nc.RequestMsgWithContext(ctx, m)
		cancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return errNoNode
		case err != nil:
			return signaling.ErrUnavailable
		}
		ans := string(resp.Data)
		switch {
		case ans == relayOK:
			return nil
		case strings.HasPrefix(ans, relayMoved) && validName(ans[len(relayMoved):], 128):
			node = ans[len(relayMoved):]
			r.stats.forwarded.Add(1)
		default:
			return signaling.ErrUnknownPeer
		}
	}
	return signaling.ErrUnavailable
}

// onRelay takes a message relayed from another node for a local peer, and
// answers once it holds it (delivered, or waiting for the room events its
// sender had seen), or where the peer went.
func (r *Registry) onRelay(m *nats.Msg) {
	r.stats.received.Add(1)
	key, to := m.Header.Get(hdrRoom), m.Header.Get(hdrTo)
	need, _ := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
	rev, _ := strconv.ParseUint(m.Header.Get(hdrRev), 10, 64)
	ans := relayUnknown
	r.mu.Lock()
	if rm := r.rooms[key]; rm != nil {
		l := rm.local[to]
		switch {
		case l != nil && l.fwd != "":
			ans = relayMoved + l.fwd
		case l != nil && !l.leaving:
			r.deliverRelayLocked(rm, l, m.Data, need, rev)
			ans = relayOK
		default:
			if i := rm.rec.find(to); i >= 0 && rm.rec.Members[i].Node != r.node {
				ans = relayMoved + rm.rec.Members[i].Node
			}
		}
	}
	r.mu.Unlock()
	_ = m.Respond([]byte(ans))
}

// handOffReq asks the node holding a peer to give it up to node To.
type handOffReq struct {
	Room string `json:"room"` // room key
	Peer string `json:"peer"`
	To   string `json:"to"`
}

// handOffResp is the old node's answer: what it had queued for the peer,
// the last room event it delivered (the new node delivers the later
// ones), and the relayed messages still waiting for room events.
type handOffResp struct {
	OK     bool     `json:"ok"`
	Queued [][]byte `json:"queued,omitempty"` // base64: what older nodes send and read
	// QueuedJSON is Queued as the JSON messages they are (a third
	// smaller than base64: a full resume queue fits in NATS's payload).
	QueuedJSON []json.RawMessage `json:"queuedJSON,omitempty"`
	Cursor     uint64            `json:"cursor,omitempty"`
	Held       []heldRelay       `json:"held,omitempty"`
}

type heldRelay struct {
	Msg  []byte `json:"msg"`
	Need uint64 `json:"need"`
	Rev  uint64 `json:"rev"`
}

// onHandOff gives a local peer up to the node it resumed on: from now on
// it gets no room events here (the new node delivers those after the
// cursor) and relays for it are redirected there. A repeated request (the
// first answer was lost) gets the same answer.
func (r *Registry) onHandOff(m *nats.Msg) {
	var req handOffReq
	reply := func(resp handOffResp) {
		b, _ := json.Marshal(resp)
		_ = m.Respond(b)
	}
	if json.Unmarshal(m.Data, &req) != nil || !validName(req.To, 128) {
		reply(handOffResp{})
		return
	}
	r.mu.Lock()
	var l *local
	if rm := r.rooms[req.Room]; rm != nil {
		l = rm.local[req.Peer]
	}
	switch {
	case l != nil && l.fwd == req.To && l.handed != nil:
		resp := *l.handed
		r.mu.Unlock()
		reply(resp)
		return
	case l == nil || l.fwd != "" || l.leaving || l.pending:
		r.mu.Unlock()
		reply(handOffResp{})
		return
	}
	l.fwd, l.fwdUntil = req.To, time.Now().Add(forwardFor)
	resp := handOffResp{OK: true, Cursor: l.seq}
	for _, h := range l.held {
		resp.Held = append(resp.Held, heldRelay{Msg: h.msg, Need: h.need, Rev: h.rev})
	}
	held := l.held
	l.held = nil
	r.mu.Unlock()

	queued, ok := r.callHandOff(l.m)
	r.mu.Lock()
	if !ok {
		// Still ours (a resume here won): it gets what it missed meanwhile.
		l.fwd, l.held = "", append(held, l.held...)
		if rm := r.rooms[req.Room]; rm != nil && rm.local[req.Peer] == l {
			r.catchUpLocked(rm, req.Peer, l, l.seq)
			r.releaseLocked(l, rm.rev, false)
		}
		r.mu.Unlock()
		reply(handOffResp{})
		return
	}
	resp.setQueued(queued, int(r.nc.MaxPayload()))
	if len(resp.QueuedJSON)+len(resp.Queued) < len(queued) {
		r.log.Warn("hand-over answer past NATS's max_payload: the oldest queued messages are dropped",
			"peer", req.Peer, "queued", len(queued), "sent", len(resp.QueuedJSON)+len(resp.Queued))
	}
	l.handed = &resp
	r.mu.Unlock()
	reply(resp)
}

// setQueued puts queued into the answer, as JSON when every message is
// (the signaling server's are), and drops the oldest while the answer
// would not fit in maxPayload bytes (NATS refuses it whole: the new node
// would then take this one for dead and lose everything).
func (resp *handOffResp) setQueued(queued [][]byte, maxPayload int) {
	asJSON := true
	for _, q := range queued {
		if !json.Valid(q) {
			asJSON = false
			break
		}
	}
	for {
		resp.Queued, resp.QueuedJSON = nil, nil
		if asJSON {
			for _, q := range queued {
				resp.QueuedJSON = append(resp.QueuedJSON, json.RawMessage(q))
			}
		} else {
			resp.Queued = queued
		}
		b, err := json.Marshal(resp)
		if err != nil || len(b) <= maxPayload-handOffSlack || len(queued) == 0 {
			return
		}
		queued = queued[max(1, len(queued)/10):]
	}
}

// handOffSlack is what a hand-over answer leaves of NATS's max_payload
// for the message's headers and subject.
const handOffSlack = 4 << 10

// queuedMessages returns what the old node handed over, in either form.
func (resp handOffResp) queuedMessages() [][]byte {
	if len(resp.QueuedJSON) == 0 {
		return resp.Queued
	}
	out := make([][]byte, len(resp.QueuedJSON))
	for i, q := range resp.QueuedJSON {
		out[i] = q
	}
	return out
}
