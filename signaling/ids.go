package signaling

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// roomIDBytes is the randomness of a room id: 128 bits, above the 96 the
// link-as-capability design requires. It encodes to roomIDLen characters.
const (
	roomIDBytes = 16
	roomIDLen   = 22
)

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRoomID returns an unguessable, URL-safe room id.
func newRoomID() string { return randomID(roomIDBytes) }

// newPeerID returns a peer id, unique within a room with overwhelming
// probability (64 bits).
func newPeerID() string { return randomID(8) }

// newToken returns a resume token (128 bits).
func newToken() string { return randomID(16) }

// validRoomID reports whether s has the shape of a room id.
func validRoomID(s string) bool {
	if len(s) != roomIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// roomTag names a room in logs and TURN usernames without revealing its
// id, which is the capability to join it: 8 hex digits of its SHA-256.
func roomTag(room string) string {
	sum := sha256.Sum256([]byte(room))
	return hex.EncodeToString(sum[:4])
}

// turnUser is the user part of a TURN REST username for a peer:
// "<room tag>.<peer id>", free of ':' as the REST scheme requires.
func turnUser(room, peer string) string { return roomTag(room) + "." + peer }
