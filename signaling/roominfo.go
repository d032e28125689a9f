package signaling

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/streamsync/streamsync/internal/roomid"
)

// roomInfo is what the pre-flight GET /ws?room=<id> says about a room to
// someone who holds its id (the capability to join it anyway): whether it
// exists and how many people are in it, so the page can say so before it
// opens the camera. Names are not given out before a join.
type roomInfo struct {
	Exists bool `json:"exists"`
	Peers  int  `json:"peers"`
}

// welcomeInfo is the pre-flight answer: the welcome object without its
// type, and room when the request asked about one.
type welcomeInfo struct {
	welcomeMsg
	Room *roomInfo `json:"room,omitempty"`
}

// lookupRoom answers the room part of a pre-flight, or nil when the id is
// malformed, the registry cannot tell (a cut-off cluster node) or the
// client IP is over its join rate: a lookup costs what a join attempt
// costs, so it is no cheaper way to probe for rooms.
func (s *Server) lookupRoom(r *http.Request, room string) *roomInfo {
	if !roomid.Valid(room) || !s.joins.allow(ipKey(clientIP(r, s.cfg.TrustedProxies))) {
		return nil
	}
	roster, err := s.reg.Roster(room)
	switch {
	case errors.Is(err, ErrRoomNotFound):
		// A room of the run before a restart exists until people are back.
		return &roomInfo{Exists: s.revivableByLink(room)}
	case err != nil:
		return nil
	}
	return &roomInfo{Exists: true, Peers: len(roster)}
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	info := welcomeInfo{welcomeMsg: s.welcomeMsg("")}
	if room := r.URL.Query().Get("room"); room != "" {
		info.Room = s.lookupRoom(r, room)
	}
	_ = json.NewEncoder(w).Encode(info)
}
