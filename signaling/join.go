package signaling

import (
	"errors"
	"fmt"

	"github.com/streamsync/streamsync/ice"
	"github.com/streamsync/streamsync/internal/roomid"
)

// handleJoin creates or joins a room, or resumes a held session.
func (c *conn) handleJoin(in *inbound) error {
	if c.sess != nil {
		return perr(codeAlreadyJoined, "this connection has already joined")
	}
	if in.Resume != "" {
		return c.resume(in)
	}
	if c.ticket.resumeOnly() {
		// Let in over the connection cap only to take a held place back.
		c.srv.stats.rejectedIP.Add(1)
		c.stop(closePolicy, "too many connections")
		return perr(codeRateLimited, "too many connections from your address; this one may only resume")
	}
	if !c.srv.joins.allow(c.key) {
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
	create := room == ""
	if create {
		switch c.srv.pw.check(c.key, in.Password) {
		case passwordWrong:
			c.srv.stats.badPasswords.Add(1)
			c.log().Info("room creation refused: bad password")
			return perr(codeBadPassword, "creating a room needs the right password")
		case passwordBackoff:
			c.srv.stats.passwordsLimited.Add(1)
			return perr(codeRateLimited, "too many wrong create passwords from your address; retry later")
		case passwordLimited:
			c.srv.stats.passwordsLimited.Add(1)
			return perr(codeRateLimited, "too many wrong create passwords on this server; retry in a minute")
		}
		room = c.srv.sign.newRoomID()
	} else if !roomid.Valid(room) {
		return perr(codeBadMessage, "malformed room id")
	}
	if !c.srv.roomsIP.reserve(c.key, room) {
		c.srv.stats.roomsPerIPLimited.Add(1)
		return perr(codeTooManyRooms, fmt.Sprintf("your address is in %d rooms already, the most this server allows", c.srv.cfg.MaxRoomsPerIP))
	}
	sess := newSession(c.srv, room, p, c.key)
	sess.counted = true
	var roster []Peer
	var err error
	if create {
		err = c.srv.reg.Create(room, p, sess)
		roster = []Peer{}
	} else {
		roster, err = c.srv.joinRoom(room, p, sess, false)
	}
	if err != nil {
		c.srv.roomsIP.release(c.key, room)
		return joinError(err)
	}
	c.sess = sess
	c.joined.Store(true)
	c.setLogRoom(room, p.ID)
	c.log().Info("joined", "created", create, "peers", len(roster)+1)

	token := c.srv.addSession(sess)
	cfg, err := c.srv.mintFor(sess)
	if err != nil {
		c.log().Warn("minting ICE servers", "err", err)
	}
	servers, expires := iceFields(cfg)
	joined := mustMarshal(joinedMsg{
		Type: typeJoined, Room: room, ID: p.ID, Name: p.Name, Peers: roster,
		ICEServers: servers, ICEServersExpireAt: expires,
		ResumeToken: token, Limits: c.srv.limits,
	})
	sess.attach(c, joined)
	c.scheduleRefresh(sess, cfg)
	return nil
}

// resume reattaches this connection to a held session named by in.Resume:
// one of this node's, or, with a Roaming registry, one held by another
// node, or, after a restart, the place the signed token names.
func (c *conn) resume(in *inbound) error {
	token := in.Resume
	if len(token) > maxTokenLen {
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "nothing to resume; join again")
	}
	sess := c.srv.claimSession(token)
	if sess == nil {
		signed, clusterToken := splitToken(token)
		if ro, ok := c.srv.reg.(Roaming); ok && !c.ticket.resumeOnly() && clusterToken != "" {
			if err := c.resumeRemote(ro, clusterToken); !errors.Is(err, errNotHeld) {
				return err
			}
		}
		if !c.ticket.resumeOnly() {
			if st, ok := c.srv.claimRestarted(signed); ok {
				return c.resumeRestarted(st, in)
			}
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
	return c.finishResume(sess, roster, false)
}

// errNotHeld is resumeRemote's answer when no node holds the token's place.
var errNotHeld = errors.New("no node holds the place")

// resumeRemote takes over a session held by another node.
func (c *conn) resumeRemote(ro Roaming, token string) error {
	var sess *session
	queued, err := ro.Takeover(token, func(room string, p Peer) Member {
		sess = newSession(c.srv, room, p, c.key)
		return sess
	})
	if err != nil {
		if errors.Is(err, ErrResumeFailed) {
			return errNotHeld
		}
		c.srv.stats.resumesFailed.Add(1)
		c.log().Warn("taking over a session from another node", "err", err)
		return perr(codeResumeFailed, "could not resume now; join again")
	}
	// The place existed before: it counts here now, even past the cap.
	c.srv.roomsIP.add(c.key, sess.room)
	sess.mu.Lock()
	sess.counted = true
	sess.mu.Unlock()
	sess.prepend(queued)
	roster, err := c.srv.reg.Roster(sess.room)
	if err != nil {
		sess.abandon()
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "the room is gone; join again")
	}
	c.log().Info("taken over from another node", "room", roomTag(sess.room), "peer", sess.id, "queued", len(queued))
	return c.finishResume(sess, roster, false)
}

// resumeRestarted gives a client back the place its signed token names,
// which an earlier run of the server held: same peer id, the name and
// state the client says (it may have changed them since the token), in the
// room the token names, which is opened again if nobody is back in it yet.
// Every cap holds as for a join: rooms per address, max_rooms, room size.
func (c *conn) resumeRestarted(st signedToken, in *inbound) error {
	fail := func(err error) error {
		c.srv.unclaimRestarted(st)
		c.srv.stats.resumesFailed.Add(1)
		return err
	}
	p := Peer{ID: st.peer}
	if in.Name != nil {
		if name, err := cleanName(*in.Name); err == nil {
			p.Name = name
		}
	}
	if in.State != nil {
		p.State = *in.State
	}
	if !c.srv.roomsIP.reserve(c.key, st.room) {
		c.srv.stats.roomsPerIPLimited.Add(1)
		return fail(perr(codeTooManyRooms, fmt.Sprintf("your address is in %d rooms already, the most this server allows", c.srv.cfg.MaxRoomsPerIP)))
	}
	sess := newSession(c.srv, st.room, p, c.key)
	sess.counted = true
	if roster, err := c.srv.reg.Roster(st.room); err == nil {
		for _, q := range roster {
			if q.ID == p.ID { // someone holds it already (another node's record)
				c.srv.roomsIP.release(c.key, st.room)
				return fail(perr(codeResumeFailed, "nothing to resume; join again"))
			}
		}
	}
	roster, err := c.srv.joinRoom(st.room, p, sess, true)
	if err != nil {
		c.srv.roomsIP.release(c.key, st.room)
		return fail(joinError(err))
	}
	c.srv.stats.restartResumes.Add(1)
	return c.finishResume(sess, roster, true)
}

// finishResume sends joined (resumed; restarted: the place was taken
// back after a restart, so the roster holds only those back already) and
// attaches sess to this connection.
func (c *conn) finishResume(sess *session, roster []Peer, restarted bool) error {
	roster = without(roster, sess.id)
	newToken := c.srv.addSession(sess)
	cfg, err := c.srv.mintFor(sess)
	if err != nil {
		c.log().Warn("minting ICE servers", "err", err)
	}
	servers, expires := iceFields(cfg)
	joined := mustMarshal(joinedMsg{
		Type: typeJoined, Room: sess.room, ID: sess.id, Name: sess.peerInfo().Name, Peers: roster,
		ICEServers: servers, ICEServersExpireAt: expires,
		ResumeToken: newToken, Resumed: true, Restarted: restarted, Limits: c.srv.limits,
	})
	if !sess.attach(c, joined) {
		c.srv.stats.resumesFailed.Add(1)
		return perr(codeResumeFailed, "the grace period is over; join again")
	}
	c.ticket.resumed()
	c.sess = sess
	c.joined.Store(true)
	c.setLogRoom(sess.room, sess.id)
	c.log().Info("resumed", "after_restart", restarted)
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
		return perr(codeTooManyRooms, "the server holds as many rooms in use as it may; try later")
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
