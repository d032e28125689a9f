package web

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/roomid"
)

// TestAppRoomRuleIsTheServers holds the page's ROOM_RE (static/app.js)
// to the server's room-id rule (internal/roomid): for ids of the rule's
// length, one shorter and one longer, and every byte in every position's
// place, the page's regexp and roomid.Valid agree.
func TestAppRoomRuleIsTheServers(t *testing.T) {
	src, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^const ROOM_RE = /(.+)/([a-z]*);$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("static/app.js: no `const ROOM_RE = /…/;` line")
	}
	if len(m[2]) != 0 {
		t.Fatalf("ROOM_RE has flags %q; this test reads it without any", m[2])
	}
	// The literal is in the subset JavaScript and RE2 read alike
	// (anchors, a class, a count); one that is not fails here.
	jsRE, err := regexp.Compile(string(m[1]))
	if err != nil {
		t.Fatalf("ROOM_RE /%s/ is not a regexp Go reads the same: %v", m[1], err)
	}
	base := strings.Repeat("Az09-_Zy", roomid.Len)[:roomid.Len]
	cases := []string{"", base, base[:roomid.Len-1], base + "A", base + base}
	for n := 0; n <= roomid.Len+1; n++ {
		cases = append(cases, strings.Repeat("a", n))
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, string(rune(c))+base[1:], base[:roomid.Len-1]+string([]byte{byte(c)}))
	}
	valid := 0
	for _, id := range cases {
		got, want := jsRE.MatchString(id), roomid.Valid(id)
		if got != want {
			t.Errorf("%q: ROOM_RE /%s/ says %v, roomid.Valid says %v", id, m[1], got, want)
		}
		if want {
			valid++
		}
	}
	if valid < 64 { // the alphabet, in the first and the last place
		t.Errorf("only %d of the cases are valid ids; the test does not test the alphabet", valid)
	}
}
