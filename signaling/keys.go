package signaling

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"
)

// keyLen is the length of a signing key: HMAC-SHA256's block-sized half.
const keyLen = 32

// signer MACs the room ids and resume tokens this server hands out, so that
// after a restart it can tell its own from forgeries with nothing kept but
// its keys (docs/protocol.md §10). The first key signs; every key verifies
// (rotation: the previous key keeps working while it is listed). Safe for
// concurrent use; SetKeys swaps the set atomically.
type signer struct {
	keys atomic.Pointer[[][]byte]
}

func newSigner(keys [][]byte) *signer {
	s := &signer{}
	s.set(keys)
	return s
}

// set installs keys; none means one random key, good for this process only.
func (s *signer) set(keys [][]byte) {
	cp := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if len(k) > 0 {
			cp = append(cp, append([]byte(nil), k...))
		}
	}
	if len(cp) == 0 {
		k := make([]byte, keyLen)
		_, _ = rand.Read(k) // never fails (crypto/rand, Go 1.24+)
		cp = append(cp, k)
	}
	s.keys.Store(&cp)
}

// mac is HMAC-SHA256 over the purpose and msg, truncated to n bytes. The
// purpose separates the uses of one key (a room id's tag is never a
// token's).
func mac(key []byte, purpose string, msg []byte, n int) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)[:n]
}

// sign returns the tag of msg under the current signing key.
func (s *signer) sign(purpose string, msg []byte, n int) []byte {
	return mac((*s.keys.Load())[0], purpose, msg, n)
}

// verify reports whether tag is msg's tag under any key, in constant time
// per key.
func (s *signer) verify(purpose string, msg, tag []byte) bool {
	ok := false
	for _, k := range *s.keys.Load() {
		if hmac.Equal(mac(k, purpose, msg, len(tag)), tag) {
			ok = true
		}
	}
	return ok
}

// DeriveKeys turns shared secrets (the TURN secrets, which every node of a
// cluster holds and which rotate the same way) into signing keys, one per
// secret in order, under a label of their own so that a key is never the
// secret itself.
func DeriveKeys(secrets []string) [][]byte {
	out := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		out = append(out, mac([]byte(s), "streamsync signaling key v1", nil, keyLen))
	}
	return out
}
