package turnserver

import (
	"net"
	"time"

	"github.com/pion/stun/v3"
)

// authenticated checks the nonce and credentials of an authenticated
// request (one carrying MESSAGE-INTEGRITY) from src. When they hold it
// returns verified, and leaves the key that verified for the AuthHandler.
// When they do not it returns the answer for the client: 438 Stale Nonce
// with a fresh nonce, or 401 Unauthorized with a fresh nonce (RFC 8489
// §9.2.4). A request missing USERNAME, REALM or NONCE is left to pion,
// which answers 400 as the RFC says.
func (in inspector) authenticated(b []byte, src net.Addr, st *runtimeState) (verified bool, answer []byte) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return false, nil
	}
	var nonce stun.Nonce
	var user stun.Username
	var realm stun.Realm
	if nonce.GetFrom(m) != nil || user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return false, nil
	}
	srv := in.srv
	if !srv.nonces.valid(nonce.String(), src) {
		srv.stats.StaleNonces.Add(1)
		return false, srv.challenge(m, stun.CodeStaleNonce, src, st)
	}
	k := srcUserKey(src, user.String())
	key, reason := srv.verifyCredentials(m, user.String(), realm.String(), src, st)
	if reason != "" {
		srv.keys.forget(k)
		srv.refuse(reason, user.String(), src)
		return false, srv.challenge(m, stun.CodeUnauthorized, src, st)
	}
	srv.keys.put(k, key, time.Now())
	return true, nil
}

// verifyCredentials returns the long-term key that verifies m's
// MESSAGE-INTEGRITY, trying every configured secret (rotation), or the
// reason the credentials are refused. Expired credentials are refused
// unless src holds a live allocation made with them: an allocation
// outlives its credentials, as in coturn and eturnal (pion v4 checks
// every request, so a call would end at the first Refresh after expiry).
func (s *Server) verifyCredentials(m *stun.Message, username, realm string, src net.Addr, st *runtimeState) ([]byte, string) {
	if realm != st.cfg.Realm {
		return nil, AuthRealm
	}
	u, err := ParseRESTUsername(username)
	if err != nil {
		return nil, AuthMalformed
	}
	var key []byte
	for _, secret := range st.secrets {
		if k := longTermKey(secret, username, realm); stun.MessageIntegrity(k).Check(m) == nil {
			key = k
			break
		}
	}
	if key == nil {
		return nil, AuthBadHMAC
	}
	if s.now().After(u.Expiry) && !s.allocs.owns(src, username) {
		return nil, AuthExpired
	}
	return key, ""
}

// challenge builds the error response code to req, with a nonce for src
// and the realm, as a 401 and a 438 carry them.
func (s *Server) challenge(req *stun.Message, code stun.ErrorCode, src net.Addr, st *runtimeState) []byte {
	res, err := stun.Build(&stun.Message{TransactionID: req.TransactionID},
		stun.NewType(req.Type.Method, stun.ClassErrorResponse), code,
		stun.NewNonce(s.nonces.mint(src)), stun.NewRealm(st.cfg.Realm))
	if err != nil {
		return nil
	}
	return res.Raw
}
