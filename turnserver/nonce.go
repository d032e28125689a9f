package turnserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"github.com/pion/turn/v4"
)

// Stateless nonces bound to the client, as coturn 4.17's stateless-nonce
// mode makes them: the NONCE of a 401 or 438 carries its issue time and
// an HMAC over that time and the client's transport address, so nothing
// is stored per client, a nonce expires after nonceLifetime, and one
// captured from a client is worthless from any other address (RFC 8489
// §9.2: a replay gets 438 Stale Nonce, and a client retries with the new
// nonce the 438 carries, as Chromium and Firefox do).
//
// pion v4.1.4 makes its own nonces (an hour long, the same for every
// client) and offers no way to replace them. We own both directions of
// every client socket, so: the nonce pion writes into a 401 or 438 is
// replaced, on its way out, by one bound to the address it goes to; a
// request's nonce is checked by the inspector before pion reads the
// request (see inspector.authenticated); and pion's nonce check is swapped,
// once at start, for one that accepts our nonces (see takeOverNonces).

// nonceLifetime is how long a nonce is accepted after it was issued.
const nonceLifetime = 10 * time.Minute

// nonceSkew is how far in the future an issue time may lie (clock steps).
const nonceSkew = 5 * time.Second

// A nonce is noncePrefix, 8 hex digits of issue time (Unix seconds) and
// 24 hex digits of HMAC: always nonceLen characters, so pion's nonce is
// replaced in place.
const (
	noncePrefix = "ss1"
	nonceMACLen = 12
	nonceLen    = len(noncePrefix) + 8 + 2*nonceMACLen
)

// nonces mints and checks the server's nonces.
type nonces struct {
	key []byte
	now func() time.Time
}

func newNonces(now func() time.Time) (*nonces, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return &nonces{key: key, now: now}, nil
}

// mint returns a nonce for the client at addr, issued now.
func (n *nonces) mint(addr net.Addr) string {
	return n.at(uint32(n.now().Unix()), addr) //nolint:gosec // seconds fit 32 bits until 2106
}

func (n *nonces) at(ts uint32, addr net.Addr) string {
	var stamp [4]byte
	binary.BigEndian.PutUint32(stamp[:], ts)
	out := make([]byte, 0, nonceLen)
	out = append(out, noncePrefix...)
	out = hex.AppendEncode(out, stamp[:])
	return string(hex.AppendEncode(out, n.mac(stamp[:], addr)))
}

func (n *nonces) mac(stamp []byte, addr net.Addr) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(stamp)
	m.Write([]byte("|" + addr.Network() + "|" + addr.String()))
	return m.Sum(nil)[:nonceMACLen]
}

// valid reports whether nonce was minted for addr within the lifetime.
func (n *nonces) valid(nonce string, addr net.Addr) bool {
	stamp, ok := issued(nonce, n.now())
	if !ok {
		return false
	}
	got, err := hex.DecodeString(nonce[len(noncePrefix)+8:])
	return err == nil && hmac.Equal(got, n.mac(stamp, addr))
}

// issued checks a nonce's form and age and returns its time stamp.
func issued(nonce string, now time.Time) (stamp []byte, ok bool) {
	if len(nonce) != nonceLen || nonce[:len(noncePrefix)] != noncePrefix {
		return nil, false
	}
	stamp, err := hex.DecodeString(nonce[len(noncePrefix) : len(noncePrefix)+8])
	if err != nil {
		return nil, false
	}
	at := time.Unix(int64(binary.BigEndian.Uint32(stamp)), 0)
	return stamp, !at.After(now.Add(nonceSkew)) && now.Sub(at) <= nonceLifetime
}

// attrNonce is the NONCE attribute (RFC 8489 §14.10).
const attrNonce = 0x0015

// bindNonce rewrites, in a STUN error response on its way to addr, the
// NONCE pion wrote (see pionNonces.Generate) into one bound to addr, and
// reports whether b was such a response. Other messages are left alone.
func (n *nonces) bindNonce(b []byte, addr net.Addr) bool {
	if len(b) < stunHeaderSize || b[0]&0xC0 != 0 || binary.BigEndian.Uint16(b[0:2])&0x0110 != 0x0110 {
		return false
	}
	v, ok := stunAttr(b, attrNonce)
	if !ok || len(v) != nonceLen {
		return false
	}
	copy(v, n.mint(addr))
	if fp, ok := stunAttr(b, attrFingerprint); ok && len(fp) == 4 {
		// Not written by pion today; kept right should it be.
		end := len(b) - 8
		binary.BigEndian.PutUint32(fp, crc32.ChecksumIEEE(b[:end])^0x5354554E)
	}
	return true
}

// attrFingerprint is the FINGERPRINT attribute (RFC 8489 §14.7).
const attrFingerprint = 0x8028

// pionNonces is what pion's request handling calls its NonceManager: it
// generates nonces of our form, which bindNonce then binds to the client,
// and accepts any nonce of our form within its lifetime, the inspector
// having checked the binding before pion saw the request.
type pionNonces struct{ n *nonces }

// Generate returns an unbound nonce issued now.
func (p pionNonces) Generate() (string, error) {
	return p.n.at(uint32(p.n.now().Unix()), unboundAddr{}), nil //nolint:gosec // seconds fit 32 bits until 2106
}

// Validate accepts a nonce of our form within its lifetime.
func (p pionNonces) Validate(nonce string) error {
	if _, ok := issued(nonce, p.n.now()); !ok {
		return errStaleNonce
	}
	return nil
}

var errStaleNonce = errors.New("stale nonce")

// unboundAddr is the address of nonces no client was given yet.
type unboundAddr struct{}

func (unboundAddr) Network() string { return "none" }
func (unboundAddr) String() string  { return "unbound" }

// takeOverNonces makes srv check nonces with ours. pion v4.1.4 keeps its
// NonceManager in an unexported field and offers no option for it, so the
// field is set through reflection; pion/turn v5.1.3 is built the same way.
// It must run before srv reads any request (see the sockets' gate).
func takeOverNonces(srv *turn.Server, n *nonces) error {
	f := reflect.ValueOf(srv).Elem().FieldByName("nonceHash")
	mine := reflect.ValueOf(pionNonces{n})
	if !f.IsValid() || f.Kind() != reflect.Interface || !mine.Type().Implements(f.Type()) {
		return fmt.Errorf("pion/turn's nonce manager is not where v4.1.4 keeps it (field nonceHash %s)", strconv.Quote(f.Kind().String()))
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(mine) //nolint:gosec // see above
	return nil
}
