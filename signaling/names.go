package signaling

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxCombiningRun is the most combining marks kept on one character:
// enough for any script's stacked diacritics, not for "Zalgo" text that
// spills over the names around it.
const maxCombiningRun = 4

// cleanName turns a display name into the one everybody is shown, so no
// peer can look like another: NFC-normalized (one spelling for one text),
// without bidi controls (U+202E cannot turn "ecilA" into "Alice") and
// invisible characters (zero-width spaces, fillers, stray variation
// selectors and joiners), spaces collapsed, trimmed. A name of other
// control characters or too long after cleaning is an error.
func cleanName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", perr(codeBadMessage, "name must be valid UTF-8")
	}
	rs := []rune(norm.NFC.String(s))
	out := make([]rune, 0, len(rs))
	space, marks := false, 0
	for i, r := range rs {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
			space = len(out) > 0
			continue
		case unicode.IsControl(r):
			return "", perr(codeBadMessage, "name must not contain control characters")
		case invisible(rs, i, out):
			continue
		case unicode.In(r, unicode.Mn, unicode.Me):
			if marks++; marks > maxCombiningRun {
				continue
			}
		default:
			marks = 0
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r)
	}
	if len(out) > maxNameLength {
		return "", perr(codeBadMessage, fmt.Sprintf("name must be at most %d characters", maxNameLength))
	}
	return strings.TrimSpace(string(out)), nil
}

// invisible reports whether rs[i] is a character that shows nothing (or
// reorders what others show) where it stands; kept is the name so far.
// Joiners and variation selectors are kept where they do something: in
// emoji sequences and, for the joiners, in the scripts that need them.
func invisible(rs []rune, i int, kept []rune) bool {
	r := rs[i]
	var prev, next rune
	if len(kept) > 0 {
		prev = kept[len(kept)-1]
	}
	if i+1 < len(rs) {
		next = rs[i+1]
	}
	switch {
	case r == '\u200d': // zero width joiner
		return !(emoji(prev) && emoji(next)) && !joinsScript(prev, next)
	case r == '\u200c': // zero width non-joiner
		return !joinsScript(prev, next)
	case unicode.Is(unicode.Variation_Selector, r):
		return !(emoji(prev) || prev == '#' || prev == '*' || (prev >= '0' && prev <= '9'))
	case r == '\u2800': // braille pattern blank: a symbol that draws nothing
		return true
	}
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// emoji approximates "a character emoji sequences are built of": symbols,
// skin tone modifiers, and a variation selector already kept after one.
func emoji(r rune) bool {
	return unicode.In(r, unicode.So, unicode.Sk) || unicode.Is(unicode.Variation_Selector, r)
}

// joinsScript reports whether a joiner between prev and next belongs to a
// script that uses joiners (Arabic, Persian, the Indic scripts...): both
// are letters or marks, and prev is not Latin, Greek or Cyrillic, where a
// joiner changes nothing but how a name compares.
func joinsScript(prev, next rune) bool {
	letter := func(r rune) bool { return unicode.In(r, unicode.L, unicode.M) }
	return letter(prev) && letter(next) &&
		!unicode.In(prev, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Common, unicode.Inherited)
}
