package signaling

import (
	"errors"
	"time"
)

// What a restart keeps (docs/protocol.md §10): nothing but the signing
// keys. A room id and a resume token carry their own proof, so after a
// restart the server opens a room again when someone comes back to it and
// gives each returning client its place back, the roster growing as people
// return.

// restartWindow is how long after the start a place of the earlier run may
// be taken back: the resume grace, as for a dropped connection.
func (s *Server) restartWindow() time.Duration { return s.cfg.ResumeGrace }

// roomWindow is how long after the start a room of the earlier run may be
// opened again by its id: it may have been in use, or empty for less than
// empty_room_ttl, when the server stopped.
func (s *Server) roomWindow() time.Duration { return s.cfg.EmptyRoomTTL + s.cfg.ResumeGrace }

// revivable reports whether room, unknown to the registry, may be opened
// again: an id this server signed, within the room window.
func (s *Server) revivable(room string) bool {
	return time.Since(s.started) < s.roomWindow() && s.sign.verifyRoomID(room)
}

// revivableByLink reports whether someone with only the link (no resume
// token of the room) may open room again: only where anyone may create a
// room anyway. With create_password set, an old link (a room id carries no
// date, and its key lives as long as the TURN secrets) would otherwise
// open a room, and hand out TURN credentials, without the password after
// every restart; there the room comes back with the first participant who
// returns with a resume token, and link joiners find it then.
func (s *Server) revivableByLink(room string) bool {
	return s.pw.want == "" && s.revivable(room)
}

// joinRoom joins p to room, opening the room again when the registry does
// not know it but may: byToken, for a participant of the earlier run
// (revivable), else for anyone with the link where no create password is
// set (revivableByLink). It returns the roster before p.
func (s *Server) joinRoom(room string, p Peer, m Member, byToken bool) ([]Peer, error) {
	announce := PeerJoinedMessage(p)
	roster, err := s.reg.Join(room, p, m, announce)
	if !errors.Is(err, ErrRoomNotFound) {
		return roster, err
	}
	if byToken && !s.revivable(room) || !byToken && !s.revivableByLink(room) {
		return roster, err
	}
	switch err := s.reg.Create(room, p, m); {
	case err == nil:
		s.stats.roomsRevived.Add(1)
		s.log.Info("room opened again after a restart", "room", roomTag(room))
		return []Peer{}, nil
	case errors.Is(err, ErrRoomExists): // someone else opened it meanwhile
		return s.reg.Join(room, p, m, announce)
	default:
		return nil, err
	}
}

// claimRestarted verifies a signed token this server does not hold and
// reserves its place for a resume: only a token of an earlier run (issued
// before this start, so a place given up in this run stays given up), no
// older than maxTokenAge, within the restart window, and once per place (a
// token replayed by a second tab gets nothing). Like any resume it does not
// spend the address's join rate: a whole office behind one NAT comes back
// at once, and every token is one the server issued.
func (s *Server) claimRestarted(signed string) (signedToken, bool) {
	if s.cfg.ResumeGrace == 0 {
		return signedToken{}, false
	}
	now := time.Now()
	if now.Sub(s.started) >= s.restartWindow() {
		return signedToken{}, false
	}
	st, ok := s.sign.parseToken(signed)
	// Tokens carry milliseconds: one of this run is never before its start's.
	if !ok || st.issued.UnixMilli() >= s.started.UnixMilli() || now.Sub(st.issued) > maxTokenAge {
		return signedToken{}, false
	}
	place := st.room + "/" + st.peer
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.retaken[place]; taken || len(s.retaken) >= s.cfg.MaxConnections {
		return signedToken{}, false
	}
	s.retaken[place] = struct{}{}
	return st, true
}

// unclaimRestarted gives a place back after a resume that failed for a
// reason that may pass (a cap), so its client may try again.
func (s *Server) unclaimRestarted(st signedToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.retaken, st.room+"/"+st.peer)
}
