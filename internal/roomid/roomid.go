// Package roomid states the shape of a room id once, for the signaling
// server that makes and checks them and the web handler that routes
// /r/{room}. The page's own copy (web/static/app.js ROOM_RE) is held to
// it by a test in web.
package roomid

// Len is the length of a room id: 16 bytes of randomness and an 8-byte
// MAC (signaling/ids.go) in unpadded URL-safe base64.
const Len = 32

// Valid reports whether s has the shape of a room id: Len characters of
// the URL-safe base64 alphabet. It says nothing of whether the id is
// genuine; the signaling server checks its MAC.
func Valid(s string) bool { return len(s) == Len && InAlphabet(s) }

// InAlphabet reports whether every byte of s is of the alphabet room ids
// (and the server's other ids, in unpadded URL-safe base64) are written
// in: ASCII letters, digits, '-' and '_'.
func InAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
