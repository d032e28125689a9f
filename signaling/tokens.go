package signaling

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/streamsync/streamsync/internal/roomid"
)

// A resume token names its place and is signed, so that a server restarted
// since it was issued can still honour it (docs/protocol.md §10):
//
//	1.<room id>.<peer id>.<issued, Unix ms>.<nonce>.<tag>
//
// The tag is 128 bits of HMAC-SHA256 over everything before it. A server
// first looks a token up among the places it holds; a token it does not
// hold is honoured only when it was issued before this process started
// (so a place given up here stays given up), within maxTokenAge, during
// the resume window after the start, and once per place.
const (
	tokenVersion  = "1"
	tokenTagBytes = 16
	purposeToken  = "resume token"
	// maxTokenLen bounds what is parsed: a signed token, a '~' and a
	// cluster token (room, peer, 128 bits).
	maxTokenLen = 256
	// clusterSep joins a signed token and the cluster registry's own.
	clusterSep = "~"
)

// maxTokenAge is how old a token may be to take a place back after a
// restart. A place gets a fresh token at every resume; one whose client
// stayed connected for longer than this rejoins under a new peer id.
const maxTokenAge = 24 * time.Hour

// signedToken is a parsed, verified resume token.
type signedToken struct {
	room, peer string
	issued     time.Time
}

// newToken returns a fresh signed resume token for peer of room.
func (s *signer) newToken(room, peer string, now time.Time) string {
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	body := strings.Join([]string{tokenVersion, room, peer,
		strconv.FormatInt(now.UnixMilli(), 10), base64.RawURLEncoding.EncodeToString(nonce)}, ".")
	tag := s.sign(purposeToken, []byte(body), tokenTagBytes)
	return body + "." + base64.RawURLEncoding.EncodeToString(tag)
}

// parseToken verifies token and returns what it names; false for anything
// malformed, of another version, or not signed by one of the keys.
func (s *signer) parseToken(token string) (signedToken, bool) {
	if len(token) > maxTokenLen {
		return signedToken{}, false
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return signedToken{}, false
	}
	body, tagText := token[:i], token[i+1:]
	parts := strings.Split(body, ".")
	if len(parts) != 5 || parts[0] != tokenVersion || !roomid.Valid(parts[1]) || !validPeerID(parts[2]) {
		return signedToken{}, false
	}
	ms, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || ms <= 0 {
		return signedToken{}, false
	}
	tag, err := base64.RawURLEncoding.Strict().DecodeString(tagText) // strict: one text per tag
	if err != nil || len(tag) != tokenTagBytes || !s.verify(purposeToken, []byte(body), tag) {
		return signedToken{}, false
	}
	return signedToken{room: parts[1], peer: parts[2], issued: time.UnixMilli(ms)}, true
}

// splitToken separates a client's token into its signed part and, in
// cluster mode, the cluster registry's token after clusterSep.
func splitToken(token string) (signed, cluster string) {
	signed, cluster, _ = strings.Cut(token, clusterSep)
	return signed, cluster
}

// validPeerID reports whether s has the shape of a peer id (newPeerID).
func validPeerID(s string) bool { return len(s) == 11 && roomid.InAlphabet(s) }
