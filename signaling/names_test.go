package signaling

import (
	"strings"
	"testing"
)

// TestCleanName: what another peer sees is one normal spelling of the name,
// with nothing invisible or reordering in it.
func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Alice", "Alice"},
		{"zero width space", "Alice\u200b", "Alice"},
		{"zero width space inside", "Al\u200bice", "Alice"},
		{"right-to-left override", "\u202eecilA", "ecilA"},
		{"isolates and marks", "\u2067Alice\u2069\u200f", "Alice"},
		{"word joiner, BOM, soft hyphen", "A\u2060l\ufeffi\u00adce", "Alice"},
		{"hangul filler", "Alice\u3164", "Alice"},
		{"braille blank", "\u2800Alice", "Alice"},
		{"stray variation selector", "Alice\ufe0f", "Alice"},
		{"joiner between Latin letters", "Ali\u200dce", "Alice"},
		{"tag characters", "Alice\U000e0041", "Alice"},
		{"NFC", "Jose\u0301", "Jos\u00e9"},
		{"spaces collapsed", "  Ada \u00a0\u2003 Lovelace\t", "Ada Lovelace"},
		{"zalgo capped", "Z" + strings.Repeat("\u0336", 30), "Z" + strings.Repeat("\u0336", maxCombiningRun)},
		{"emoji ZWJ sequence kept", "\U0001F469\u200D\U0001F4BB Ada", "\U0001F469\u200D\U0001F4BB Ada"},
		{"emoji presentation kept", "\u2764\ufe0f", "\u2764\ufe0f"},
		{"keycap kept", "1\ufe0f\u20e3", "1\ufe0f\u20e3"},
		{"Persian ZWNJ kept", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"Devanagari ZWJ kept", "\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"},
		{"only invisible", "\u200b\u200b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanName(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("cleanName(%+q) = %+q, %v; want %+q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"a\x00b", "a\x1bb", strings.Repeat("x", maxNameLength+1)} {
		if _, err := cleanName(bad); err == nil {
			t.Errorf("cleanName(%+q) accepted", bad)
		}
	}
	// Invisible characters do not count toward the length.
	if got, err := cleanName(strings.Repeat("x", maxNameLength) + strings.Repeat("\u200b", 10)); err != nil || len(got) != maxNameLength {
		t.Errorf("long name with invisible padding: %q, %v", got, err)
	}
}

// TestNamesNormalizedForEveryone: a peer calling itself "Alice" with a
// zero-width space, or spelling it backwards behind U+202E, is shown to the
// room (join, roster, rename) as the plain text, and told the name it got.
func TestNamesNormalizedForEveryone(t *testing.T) {
	cfg := attackConfig()
	ts := newTestServer(t, cfg)
	honest := newHonestPair(t, ts)
	a := ts.dial(t)
	a.join("", "Alice")
	m := ts.dial(t)
	m.send(msg{"type": "join", "room": a.room, "name": "Alice\u200b"})
	if j := m.expect("joined"); j.str("name") != "Alice" {
		t.Fatalf("joined tells the name %+q", j.str("name"))
	} else {
		m.id = j.str("id")
	}
	if pj := a.expect("peer-joined"); pj["peer"].(map[string]any)["name"] != "Alice" {
		t.Fatalf("peer-joined shows %+q", pj["peer"].(map[string]any)["name"])
	}
	m.send(msg{"type": "state", "name": "\u202eecilA"})
	if st := a.expect("state"); st.str("name") != "ecilA" {
		t.Fatalf("renamed to %+q", st.str("name"))
	}
	late := ts.dial(t)
	j := late.join(a.room, "Late")
	for _, p := range j["peers"].([]any) {
		name := p.(map[string]any)["name"].(string)
		if strings.ContainsAny(name, "\u200b\u202e") {
			t.Fatalf("roster shows %+q", name)
		}
	}
	honest.exchange(t)
}
