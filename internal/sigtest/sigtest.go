// Package sigtest is a WebSocket client of the signaling protocol for
// tests: it dials (with an Origin where the server checks one), reads the
// welcome, sends JSON and reads messages with a bounded wait, and fails
// the test with a message that says what was expected.
//
// Client fails its test; Conn returns errors, for goroutines that must
// not call t.Fatal (the soak's calls).
package sigtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// WaitLimit bounds every wait for a message; it is never a timing
// assertion.
const WaitLimit = 10 * time.Second

// Msg is one decoded message.
type Msg map[string]any

// Str is m[k] as a string, "" when it is absent or not a string.
func (m Msg) Str(k string) string { s, _ := m[k].(string); return s }

// WSURL is the signaling endpoint (/ws) of an appliance serving at
// httpURL (http://… or https://…).
func WSURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/ws" }

// Origin is a header with Origin set to httpURL, as the appliance's own
// page sends it.
func Origin(httpURL string) http.Header { return http.Header{"Origin": []string{httpURL}} }

// Conn is a signaling connection that reports errors rather than failing
// a test.
type Conn struct {
	WS      *websocket.Conn
	Welcome Msg
	// Wait bounds each read and write after the welcome; WaitLimit when
	// zero (a cluster's tests wait longer: messages cross nodes).
	Wait time.Duration
}

func (c *Conn) wait() time.Duration {
	if c.Wait > 0 {
		return c.Wait
	}
	return WaitLimit
}

// Connect dials url with header h and reads the welcome, each within
// WaitLimit. On an error after the dial the connection is closed.
func Connect(ctx context.Context, url string, h http.Header) (*Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: WaitLimit}
	ws, resp, err := d.DialContext(ctx, url, h)
	if err != nil {
		return nil, resp, err
	}
	c := &Conn{WS: ws}
	m, err := c.Next()
	if err == nil && m.Str("type") != "welcome" {
		err = fmt.Errorf("first message %v, want welcome", m)
	}
	if err != nil {
		_ = ws.Close()
		return nil, resp, err
	}
	c.Welcome = m
	return c, resp, nil
}

// Send writes v as one JSON message.
func (c *Conn) Send(v any) error {
	_ = c.WS.SetWriteDeadline(time.Now().Add(c.wait()))
	return c.WS.WriteJSON(v)
}

// Next reads the next message, waiting at most Wait.
func (c *Conn) Next() (Msg, error) {
	_ = c.WS.SetReadDeadline(time.Now().Add(c.wait()))
	_, b, err := c.WS.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %q: %w", b, err)
	}
	return m, nil
}

// NextOf reads past other messages to the next one of type typ.
func (c *Conn) NextOf(typ string) (Msg, error) {
	for {
		m, err := c.Next()
		if err != nil {
			return nil, fmt.Errorf("waiting for %q: %w", typ, err)
		}
		if m.Str("type") == typ {
			return m, nil
		}
	}
}

// Close closes the connection without a close frame.
func (c *Conn) Close() error { return c.WS.Close() }

// Client is a signaling connection of one test, closed at its cleanup;
// its methods fail the test.
type Client struct {
	*Conn
	t testing.TB
	// ID, Room and Token are the last Join's peer id, room and resume token.
	ID, Room, Token string
}

// Dial connects to url with header h and reads the welcome. The
// connection is closed at t's cleanup.
func Dial(t testing.TB, url string, h http.Header) (*Client, *http.Response, error) {
	t.Helper()
	c, resp, err := Connect(t.Context(), url, h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = c.WS.Close() })
	return &Client{Conn: c, t: t}, resp, nil
}

// MustDial is Dial that fails the test when it cannot connect.
func MustDial(t testing.TB, url string, h http.Header) *Client {
	t.Helper()
	c, resp, err := Dial(t, url, h)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	return c
}

// DialApp connects to the signaling endpoint of an appliance serving at
// httpURL, with that Origin.
func DialApp(t testing.TB, httpURL string) *Client {
	t.Helper()
	return MustDial(t, WSURL(httpURL), Origin(httpURL))
}

// Send writes v as one JSON message.
func (c *Client) Send(v any) {
	c.t.Helper()
	if err := c.Conn.Send(v); err != nil {
		c.t.Fatalf("send %v: %v", v, err)
	}
}

// SendRaw writes one message of type mt (websocket.TextMessage, …).
func (c *Client) SendRaw(mt int, b []byte) {
	c.t.Helper()
	_ = c.WS.SetWriteDeadline(time.Now().Add(c.wait()))
	if err := c.WS.WriteMessage(mt, b); err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

// NextOf reads past other messages to the next one of type typ.
func (c *Client) NextOf(typ string) Msg {
	c.t.Helper()
	m, err := c.Conn.NextOf(typ)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// Expect reads the next message and checks its type.
func (c *Client) Expect(typ string) Msg {
	c.t.Helper()
	m, err := c.Next()
	if err != nil {
		c.t.Fatalf("waiting for %q: %v", typ, err)
	}
	if m.Str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// ExpectError reads the next message and checks it is an error with code.
func (c *Client) ExpectError(code string) Msg {
	c.t.Helper()
	m := c.Expect("error")
	if m.Str("code") != code {
		c.t.Fatalf("got error %v, want code %q", m, code)
	}
	return m
}

// ExpectClose reads until the connection closes, checks the close code
// and ends the TCP connection, as a browser does.
func (c *Client) ExpectClose(code int) *websocket.CloseError {
	c.t.Helper()
	for {
		_, err := c.Next()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want close %d, got %v", code, err)
		}
		if ce.Code != code {
			c.t.Fatalf("want close %d, got %d %q", code, ce.Code, ce.Text)
		}
		_ = c.WS.Close()
		return ce
	}
}

// Alive checks the connection still answers: ping gets pong next.
func (c *Client) Alive() {
	c.t.Helper()
	c.Send(Msg{"type": "ping"})
	c.Expect("pong")
}

// Handled waits until the server has handled everything sent so far: a
// ping's pong, past whatever else arrives first.
func (c *Client) Handled() {
	c.t.Helper()
	c.Send(Msg{"type": "ping"})
	c.NextOf("pong")
}

// Join sends a join (room "" asks for a new room) and reads joined.
func (c *Client) Join(room, name string) Msg {
	c.t.Helper()
	c.Send(Msg{"type": "join", "room": room, "name": name})
	m := c.Expect("joined")
	c.ID, c.Room, c.Token = m.Str("id"), m.Str("room"), m.Str("resumeToken")
	return m
}
