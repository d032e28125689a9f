package turnserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API scheme specifies.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v4"
)

// Errors returned by ParseRESTUsername.
var (
	ErrMalformedUsername = errors.New("malformed TURN REST username")
	ErrExpired           = errors.New("TURN REST credentials expired")
)

// maxUsernameLen bounds the usernames we parse; STUN allows 513 bytes
// (RFC 8489 §14.3) and nothing of ours comes close.
const maxUsernameLen = 513

// RESTUsername is a parsed TURN REST API username: an expiry time and the
// user it was minted for.
type RESTUsername struct {
	Expiry time.Time
	User   string
}

// ParseRESTUsername parses "<expiry-unix>:<user>" (the form coturn's
// use-auth-secret and pion mint) and, as coturn accepts too, "<user>:<expiry-unix>".
// A bare "<expiry-unix>" is accepted with an empty user.
func ParseRESTUsername(username string) (RESTUsername, error) {
	if username == "" || len(username) > maxUsernameLen {
		return RESTUsername{}, ErrMalformedUsername
	}
	first, rest, found := strings.Cut(username, ":")
	if ts, ok := parseExpiry(first); ok {
		return RESTUsername{Expiry: ts, User: rest}, nil
	}
	if !found {
		return RESTUsername{}, ErrMalformedUsername
	}
	i := strings.LastIndexByte(username, ':')
	if ts, ok := parseExpiry(username[i+1:]); ok && i > 0 {
		return RESTUsername{Expiry: ts, User: username[:i]}, nil
	}
	return RESTUsername{}, ErrMalformedUsername
}

func parseExpiry(s string) (time.Time, bool) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// RESTPassword returns base64(HMAC-SHA1(secret, username)), the password
// that goes with a TURN REST username.
func RESTPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// MintREST returns a username and password for user valid until now+ttl.
// user must not contain ':'.
func MintREST(secret, user string, now time.Time, ttl time.Duration) (username, password string, expiry time.Time, err error) {
	if strings.ContainsRune(user, ':') {
		return "", "", time.Time{}, fmt.Errorf("mint credentials: user %q contains ':'", user)
	}
	expiry = now.Add(ttl).Truncate(time.Second)
	username = strconv.FormatInt(expiry.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	return username, RESTPassword(secret, username), expiry, nil
}

// longTermKey is the key a long-term credential's MESSAGE-INTEGRITY is
// computed with: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2).
func longTermKey(secret, username, realm string) []byte {
	return turn.GenerateAuthKey(username, realm, RESTPassword(secret, username))
}

// RandomSecret returns a fresh 256-bit secret, URL-safe base64.
func RandomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
