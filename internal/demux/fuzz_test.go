package demux

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzPeek: whatever a client sends first, the classifier reads at most
// peekLen bytes, hands them all back, and calls STUN only a STUN header.
func FuzzPeek(f *testing.F) {
	stun := []byte{0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4}
	f.Add(stun)
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		peeked, isSTUN, err := peek(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(peeked) > peekLen || !bytes.HasPrefix(data, peeked) {
			t.Fatalf("peeked %x of %x", peeked, data)
		}
		if isSTUN && (len(peeked) < 8 || peeked[0]&0xC0 != 0 || binary.BigEndian.Uint32(peeked[4:8]) != stunMagicCookie) {
			t.Fatalf("%x classified as STUN", peeked)
		}
	})
}
