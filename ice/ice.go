// Package ice holds the ICE server description that the TURN side mints
// and the signaling side hands to browsers. It exists so that neither of
// those packages has to import the other.
package ice

import "time"

// Server is one entry of an RTCConfiguration's iceServers list, in the JSON
// shape browsers accept (https://www.w3.org/TR/webrtc/#dom-rtciceserver).
type Server struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Config is a list of ICE servers together with the moment the credentials
// in it stop being accepted for new allocations.
type Config struct {
	Servers   []Server  `json:"iceServers"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Minter returns a fresh Config for one user. The user string is put into
// the TURN REST username (`expiry:user`), so it must not contain ':'.
type Minter func(user string) (Config, error)
