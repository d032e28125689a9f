package signaling

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/streamsync/streamsync/internal/roomid"
)

// A room id is roomIDBytes of randomness (128 bits, above the 96 the
// link-as-capability design requires) and roomTagBytes of MAC under the
// server's key (keys.go), roomid.Len characters in all: a restarted server
// knows its own ids from forgeries without having kept them. 64 bits of
// tag stand against online guessing, the only kind there is (the key never
// leaves the server).
const (
	roomIDBytes  = 16
	roomTagBytes = 8
)

// purposeRoom labels room id MACs.
const purposeRoom = "room id"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRoomID returns an unguessable, URL-safe room id, signed.
func (s *signer) newRoomID() string {
	b := make([]byte, roomIDBytes, roomIDBytes+roomTagBytes)
	_, _ = rand.Read(b)
	b = append(b, s.sign(purposeRoom, b, roomTagBytes)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// verifyRoomID reports whether id is one this server (under one of its
// keys) made.
func (s *signer) verifyRoomID(id string) bool {
	if !roomid.Valid(id) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(b) != roomIDBytes+roomTagBytes {
		return false
	}
	return s.verify(purposeRoom, b[:roomIDBytes], b[roomIDBytes:])
}

// newPeerID returns a peer id, unique within a room with overwhelming
// probability (64 bits).
func newPeerID() string { return randomID(8) }

// roomTag names a room in logs and TURN usernames without revealing its
// id, which is the capability to join it: 8 hex digits of its SHA-256.
func roomTag(room string) string {
	sum := sha256.Sum256([]byte(room))
	return hex.EncodeToString(sum[:4])
}

// turnUser is the user part of a TURN REST username for a peer:
// "<room tag>.<peer id>", free of ':' as the REST scheme requires.
func turnUser(room, peer string) string { return roomTag(room) + "." + peer }
