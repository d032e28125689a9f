package roomid

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for range 100 {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); !Valid(id) {
			t.Fatalf("Valid(%q) = false for 24 bytes of base64url", id)
		}
	}
	good := strings.Repeat("aZ09-_", 6)[:Len]
	if !Valid(good) {
		t.Errorf("Valid(%q) = false", good)
	}
	for _, bad := range []string{
		"",
		good[:Len-1],
		good + "a",
		good[:Len-1] + "=",
		good[:Len-1] + "+",
		good[:Len-1] + "/",
		good[:Len-1] + ".",
		good[:Len-2] + "é",
		good[:Len-1] + "\x00",
	} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}

func TestInAlphabet(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "Z"
		if got, want := InAlphabet(s), strings.IndexByte(alphabet, byte(c)) >= 0; got != want {
			t.Errorf("InAlphabet(%q) = %v, want %v", s, got, want)
		}
	}
	if !InAlphabet("") {
		t.Error(`InAlphabet("") = false`)
	}
}
