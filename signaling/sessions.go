package signaling

import "time"

// addSession gives sess a fresh resume token, retiring its previous one,
// and returns it; "" when resume is disabled. The token is signed (so a
// restarted server can honour it); with a Roaming registry the registry's
// own token, findable from every node, follows it after clusterSep.
func (s *Server) addSession(sess *session) string {
	if s.cfg.ResumeGrace == 0 {
		return ""
	}
	token := s.sign.newToken(sess.room, sess.id, time.Now())
	if ro, ok := s.reg.(Roaming); ok {
		token += clusterSep + ro.IssueToken(sess.room, sess.id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.token != "" {
		delete(s.sessions, sess.token)
	}
	sess.token = token
	s.sessions[token] = sess
	return token
}

// claimSession finds the held session of token and reserves it for a
// resume; the token is spent either way. nil if there is none.
func (s *Server) claimSession(token string) *session {
	s.mu.Lock()
	sess := s.sessions[token]
	if sess != nil {
		delete(s.sessions, token)
		sess.token = ""
	}
	s.mu.Unlock()
	if sess == nil || !sess.claim() {
		return nil
	}
	return sess
}

// removeSession forgets sess's resume token.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.token != "" {
		delete(s.sessions, sess.token)
		sess.token = ""
	}
}

// handOff gives up a session another node has taken over: nothing is
// announced, its token is forgotten, a connection still attached is
// closed with 4000 "replaced", and what was queued for it is returned.
func (s *Server) handOff(m Member) ([][]byte, bool) {
	ss, ok := m.(*session)
	if !ok || ss.srv != s {
		return nil, false
	}
	queued, c, ok := ss.handOff()
	if !ok {
		return nil, false
	}
	s.removeSession(ss)
	if c != nil {
		c.stop(closeReplaced, "replaced")
	}
	s.log.Info("handed over to another node", "room", roomTag(ss.room), "peer", ss.id, "queued", len(queued))
	return queued, true
}
