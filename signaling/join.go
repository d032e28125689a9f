package signaling

import (
	"errors"
	"fmt"

	"github.com/streamsync/streamsync/ice"
)

// handleJoin creates or joins a room, or resumes a held session.
func (c *conn) handleJoin(in *inbound) error {
	if c.sess != nil {
		return perr(codeAlreadyJoined, "this connection has already joined")
	}
	if in.Resume != "" {
		return c.resume(in.Resume)
	}
	if !c.srv.ipl.allowJoin(c.ip) {
		c.srv.stats.joinsLimited.Add(1)
		return perr(codeRateLimited, "too many joins from your address; retry later")
	}
	p := Peer{ID: newPeerID()}
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

	room := in.Room
	sess := newSession(c.srv, room, p)
	var roster []Peer
	if room == "" {
		if c.srv.cfg.CreatePassword != "" && !checkPassword(c.srv.cfg.CreatePassword, in.Password) {
			c.srv.stats.badPasswords.Add(1)
			c.log().Info("room creation refused: bad password")
			return perr(codeBadPassword, "creating a room needs the right password")
		}
		room = newRoomID()
		sess.room = room
		if err := c.srv.reg.Create(room, p, sess); err != nil {
			return joinError(err)
		}
		roster = []Peer{}
	} else {
		if !validRoomID(room) {
			return perr(codeBadMessage, "malformed room id")
		}
		var err error
		announce := PeerJoinedMessage(p)
		if roster, err = c.srv.reg.Join(room, p, sess, announce); err != nil {
			return joinError(err)
		}
	}
	c.sess = sess
	c.joined.Store(true)
	c.setLogRoom(room, p.ID)
	c.log().Info("joined", "created", in.Room == "", "peers", len(roster)+1)

	token := c.srv.addSession(sess)
	cfg, err := c.srv.mintFor(sess)
	if err != nil {
		c.log().Warn("minting ICE servers", "err", err)
	}
	servers, expires := iceFields(cfg)
	joined := mustMarshal(joinedMsg{
		Type: typeJoined, Room: room, ID: p.ID, Peers: roster,
		ICEServers: servers, ICEServersExpireAt: expires,
		ResumeToken: token, Limits: c.srv.limits,
	})
	sess.attach(c, joined)
	c.scheduleRefresh(sess, cfg)
	return nil
}

// resume reattaches this connection to a held session named by token: one
// of this node's, or, with a Roaming registry, one held by another node.
func (c *conn) resume(token string) error {
	sess := c.srv.claimSession(token)
	if sess == nil {
		if ro, ok := c.srv.reg.(Roaming); ok {
			return c.resumeRemote(ro, token)
		}
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "nothing to resume; join again")
	}
	roster, err := c.srv.reg.Roster(sess.room)
	if err != nil {
		sess.unclaim()
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "the room is gone; join again")
	}
	return c.finishResume(sess, roster)
}

// resumeRemote takes over a session held by another node.
func (c *conn) resumeRemote(ro Roaming, token string) error {
	var sess *session
	queued, err := ro.Takeover(token, func(room string, p Peer) Member {
		sess = newSession(c.srv, room, p)
		return sess
	})
	if err != nil {
		c.srv.stats.resumesFailed.Add(1)
		if errors.Is(err, ErrResumeFailed) {
			return perr(codeResumeFailed, "nothing to resume; join again")
		}
		c.log().Warn("taking over a session from another node", "err", err)
		return perr(codeResumeFailed, "could not resume now; join again")
	}
	sess.prepend(queued)
	roster, err := c.srv.reg.Roster(sess.room)
	if err != nil {
		sess.abandon()
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "the room is gone; join again")
	}
	c.log().Info("taken over from another node", "room", roomTag(sess.room), "peer", sess.id, "queued", len(queued))
	return c.finishResume(sess, roster)
}

// finishResume sends joined (resumed) and attaches sess to this connection.
func (c *conn) finishResume(sess *session, roster []Peer) error {
	roster = without(roster, sess.id)
	newToken := c.srv.addSession(sess)
	cfg, err := c.srv.mintFor(sess)
	if err != nil {
		c.log().Warn("minting ICE servers", "err", err)
	}
	servers, expires := iceFields(cfg)
	joined := mustMarshal(joinedMsg{
		Type: typeJoined, Room: sess.room, ID: sess.id, Peers: roster,
		ICEServers: servers, ICEServersExpireAt: expires,
		ResumeToken: newToken, Resumed: true, Limits: c.srv.limits,
	})
	if !sess.attach(c, joined) {
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "the grace period is over; join again")
	}
	c.sess = sess
	c.joined.Store(true)
	c.setLogRoom(sess.room, sess.id)
	c.log().Info("resumed")
	c.srv.stats.resumes.Add(1)
	c.scheduleRefresh(sess, cfg)
	return nil
}

func without(peers []Peer, id string) []Peer {
	out := make([]Peer, 0, len(peers))
	for _, p := range peers {
		if p.ID != id {
			out = append(out, p)
		}
	}
	return out
}

// joinError maps registry errors to protocol errors.
func joinError(err error) error {
	switch {
	case errors.Is(err, ErrRoomNotFound):
		return perr(codeRoomNotFound, "no such room (it may have expired); create a new one")
	case errors.Is(err, ErrRoomFull):
		return perr(codeRoomFull, "the room is full")
	case errors.Is(err, ErrTooManyRooms):
		return perr(codeTooManyRooms, "the server holds too many rooms; try later")
	case errors.Is(err, ErrUnavailable):
		return perr(codeUnavailable, "the room is served by other nodes, unreachable now; retry later")
	}
	return fmt.Errorf("join: %w", err)
}

// mintFor mints ICE servers for a joined peer; none without a Minter.
func (s *Server) mintFor(sess *session) (ice.Config, error) {
	if s.mint == nil {
		return ice.Config{}, nil
	}
	cfg, err := s.mint(turnUser(sess.room, sess.id))
	if err != nil {
		s.stats.mintErrors.Add(1)
		return ice.Config{}, fmt.Errorf("mint ice servers: %w", err)
	}
	return cfg, nil
}

// sendICE pushes an ice-servers message to this connection.
func (c *conn) sendICE(cfg ice.Config) {
	servers, expires := iceFields(cfg)
	c.enqueue(mustMarshal(iceServersMsg{
		Type: typeICEServers, ICEServers: servers, ICEServersExpireAt: expires,
	}), false)
}
