package turnserver

import (
	"net"
	"net/netip"
	"time"

	"github.com/pion/turn/v4"
)

// Reasons for refused credentials, used in logs and counters.
const (
	AuthMalformed = "malformed_username"
	AuthRealm     = "wrong_realm"
	AuthExpired   = "expired"
	AuthBadHMAC   = "bad_hmac"
)

// authenticate is pion's AuthHandler. It runs for every authenticated
// request (Allocate, Refresh, CreatePermission, ChannelBind) and returns
// the long-term key pion checks MESSAGE-INTEGRITY with: the key the
// inspector verified the request with a moment before, on the same read
// loop (see inspector.authenticated), which also refused, with 401 or
// 438, what does not verify. pion v4's handler sees neither the message
// nor the method, so it could neither try several secrets nor tell an
// Allocate from a Refresh.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	if realm != s.state.Load().cfg.Realm {
		return s.refuse(AuthRealm, username, src)
	}
	key, ok := s.keys.get(srcUserKey(src, username), time.Now())
	if !ok {
		return s.refuse(AuthBadHMAC, username, src)
	}
	return key, true
}

func (s *Server) refuse(reason, username string, src net.Addr) ([]byte, bool) {
	s.stats.authFailure(reason)
	s.log.Debug("turn credentials refused", "reason", reason, "username", username, "remote", src.String())
	return nil, false
}

// quota is pion's QuotaHandler, called for Allocate after authentication.
// A refusal is answered 486 Allocation Quota Reached (RFC 8656 §7.2 step 7).
func (s *Server) quota(username, _ string, src net.Addr) bool {
	st := s.state.Load()
	u, _ := ParseRESTUsername(username) // authenticated, so well formed
	ok, limit := s.allocs.reserve(src, username, u.User, &st.cfg, s.now())
	if !ok {
		s.stats.quotaRejection(limit)
		s.log.Info("allocation quota reached", "limit", limit, "user", u.User, "remote", src.String())
	}
	return ok
}

// permit is pion's PermissionHandler for CreatePermission and ChannelBind.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, _ := netip.AddrFromSlice(peer)
	st := s.state.Load()
	always, ifLive, reason := st.admits(ip)
	if !always && !ifLive {
		if reason == ReasonHostAddress {
			s.stats.PermissionHostDenials.Add(1)
		} else {
			s.stats.PermissionDenials.Add(1)
		}
		s.log.Info("peer refused", "reason", reason, "peer", peer.String(), "remote", client.String())
		return false
	}
	if !s.caps.admitPermission(client, ip.Unmap(), st.cfg.MaxPermissionsPerAllocation) {
		s.stats.PermissionCapHits.Add(1)
		s.log.Info("peer refused", "reason", "permission_cap", "peer", peer.String(), "remote", client.String())
		return false
	}
	return true
}

func (s *Server) events() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _, method string, verdict bool) {
			if !verdict {
				s.stats.authFailure(AuthBadHMAC)
				s.log.Debug("turn credentials refused", "reason", AuthBadHMAC, "method", method,
					"username", username, "remote", src.String())
			}
		},
		OnAllocationCreated: func(src, dst net.Addr, protocol, username, _ string, relay net.Addr, _ int) {
			s.allocs.created(src, dst, protocol, username)
			s.stats.AllocationsTotal.Add(1)
			s.log.Debug("allocation created", "remote", src.String(), "listener", dst.String(),
				"username", username, "relay", relay.String())
		},
		OnAllocationDeleted: func(src, dst net.Addr, protocol, username, _ string) {
			s.allocs.deleted(src, dst, protocol)
			s.log.Debug("allocation deleted", "remote", src.String(), "username", username)
		},
		OnPermissionCreated: func(src, _ net.Addr, _, _, _ string, _ net.Addr, peer net.IP) {
			ip, _ := netip.AddrFromSlice(peer)
			s.caps.permissionCreated(src, ip.Unmap())
		},
		OnPermissionDeleted: func(src, _ net.Addr, _, _, _ string, _ net.Addr, peer net.IP) {
			ip, _ := netip.AddrFromSlice(peer)
			s.caps.permissionDeleted(src, ip.Unmap())
		},
		OnChannelCreated: func(src, _ net.Addr, _, _, _ string, _, _ net.Addr, number uint16) {
			s.caps.channelCreated(src, number)
		},
		OnChannelDeleted: func(src, _ net.Addr, _, _, _ string, _, _ net.Addr, number uint16) {
			s.caps.channelDeleted(src, number)
		},
		OnAllocationError: func(src, _ net.Addr, _, message string) {
			s.log.Debug("allocation error", "remote", src.String(), "err", message)
		},
	}
}
