package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers of a message relayed to a peer on another node; the body is the
// signaling message itself, untouched.
const (
	hdrRoom = "Ss-Room" // room key
	hdrTo   = "Ss-To"   // peer id
	hdrRev  = "Ss-Rev"  // revision of the room the sender had seen
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

// publishRelay sends msg to peer to of room key, served by node.
func (r *Registry) publishRelay(node, key, to string, need uint64, msg []byte) error {
	m := nats.NewMsg(r.subject("to", node))
	m.Header.Set(hdrRoom, key)
	m.Header.Set(hdrTo, to)
	m.Header.Set(hdrRev, strconv.FormatUint(need, 10))
	m.Data = msg
	return r.nc.PublishMsg(m)
}

// onRelay delivers a message relayed from another node to a local peer.
func (r *Registry) onRelay(m *nats.Msg) {
	r.stats.received.Add(1)
	key, to := m.Header.Get(hdrRoom), m.Header.Get(hdrTo)
	need, _ := strconv.ParseUint(m.Header.Get(hdrRev), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[key]
	if rm == nil {
		return
	}
	r.deliverRelayLocked(key, rm, to, m.Data, need)
}

// handOffReq asks the node holding a peer to give it up to node To.
type handOffReq struct {
	Room string `json:"room"` // room key
	Peer string `json:"peer"`
	To   string `json:"to"`
}

type handOffResp struct {
	OK     bool     `json:"ok"`
	Queued [][]byte `json:"queued,omitempty"`
}

// onHandOff gives a local peer up to the node it resumed on: deliveries
// are forwarded there from now on, and what was queued goes in the reply.
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
	if l == nil || l.fwd != "" || l.leaving || l.since == pendingSince {
		r.mu.Unlock()
		reply(handOffResp{})
		return
	}
	l.fwd, l.fwdUntil = req.To, time.Now().Add(forwardFor)
	r.mu.Unlock()

	queued, ok := r.callHandOff(l.m)
	if !ok {
		r.mu.Lock()
		l.fwd = ""
		r.mu.Unlock()
		reply(handOffResp{})
		return
	}
	reply(handOffResp{OK: true, Queued: queued})
}
