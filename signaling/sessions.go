package signaling

// addSession gives sess a fresh resume token, retiring its previous one,
// and returns it; "" when resume is disabled.
func (s *Server) addSession(sess *session) string {
	if s.cfg.ResumeGrace == 0 {
		return ""
	}
	token := newToken()
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
