package signaling

import (
	"fmt"
	"runtime/debug"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a client message. The protocol needs
// three levels; the slack is for opaque candidate objects.
const maxJSONDepth = 32

// checkFrame vets a text frame before it is decoded: RFC 6455 §8.1 asks a
// text frame to be valid UTF-8 (else close 1007), and deeply nested JSON
// is refused before any decoder walks it.
func checkFrame(data []byte) (closeCode int, err error) {
	if !utf8.Valid(data) {
		return closeBadData, fmt.Errorf("text frame is not valid UTF-8")
	}
	if d := jsonDepth(data); d > maxJSONDepth {
		return 0, perr(codeBadJSON, fmt.Sprintf("JSON nested deeper than %d levels", maxJSONDepth))
	}
	return 0, nil
}

// jsonDepth returns the deepest nesting of objects and arrays in data,
// ignoring brackets inside strings. It stops counting past maxJSONDepth.
func jsonDepth(data []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, b := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > maxJSONDepth {
					return deepest
				}
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return deepest
}

// contain turns a panic while serving one connection into a logged,
// counted close of that connection (1011); the process and the other
// connections live on.
func (c *conn) contain(where string) {
	r := recover()
	if r == nil {
		return
	}
	c.srv.stats.panics.Add(1)
	c.log().Error("panic while serving a connection", "where", where, "panic", fmt.Sprint(r),
		"stack", string(debug.Stack()))
	c.stop(closeInternal, "internal error")
}
