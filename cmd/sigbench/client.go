package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// client is one WebSocket participant. After join, one goroutine reads
// (and answers pings); the sender worker that owns it is its only writer.
type client struct {
	ws    *websocket.Conn
	id    string
	peers []string
	lat   *latencies
	errs  *atomic.Uint64
	done  chan struct{}
}

// dial opens a WebSocket from local and reads the welcome message.
func dial(url string, local netip.Addr, lat *latencies, errs *atomic.Uint64) (*client, error) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: (&net.Dialer{
			LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)),
			Timeout:   10 * time.Second,
		}).DialContext,
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	ws, _, err := d.DialContext(context.Background(), url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", url, local, err)
	}
	c := &client{ws: ws, lat: lat, errs: errs, done: make(chan struct{})}
	var m struct{ Type string }
	if err := ws.ReadJSON(&m); err != nil || m.Type != "welcome" {
		ws.Close()
		return nil, fmt.Errorf("welcome: %q %v", m.Type, err)
	}
	return c, nil
}

// join creates a room (room "") or joins one, returns the room id and
// starts the read loop.
func (c *client) join(room string) (string, error) {
	if err := c.ws.WriteJSON(map[string]string{"type": "join", "room": room, "name": "bench"}); err != nil {
		return "", err
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m struct {
			Type string
			Room string
			ID   string
			Code string
		}
		if err := c.ws.ReadJSON(&m); err != nil {
			return "", fmt.Errorf("join: %w", err)
		}
		switch m.Type {
		case "joined":
			c.id = m.ID
			_ = c.ws.SetReadDeadline(time.Time{})
			go c.readLoop()
			return m.Room, nil
		case "error":
			return "", fmt.Errorf("join refused: %s", m.Code)
		}
	}
}

// learnPeers records the ids of the other three clients of its room.
func (c *client) learnPeers(all []*client) {
	idx := -1
	for i, o := range all {
		if o == c {
			idx = i
			break
		}
	}
	base := idx / 4 * 4
	for i := base; i < base+4; i++ {
		if i != idx {
			c.peers = append(c.peers, all[i].id)
		}
	}
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Type      string
			Candidate struct {
				T int64 `json:"t"`
			}
		}
		if json.Unmarshal(b, &m) != nil {
			c.errs.Add(1)
			continue
		}
		switch m.Type {
		case "candidate":
			c.lat.add(time.Duration(time.Now().UnixNano() - m.Candidate.T))
		case "error":
			c.errs.Add(1)
		}
	}
}

// candidateMsg is an ICE candidate as the page sends it, with the send
// time added (the server relays the candidate opaque).
type candidateMsg struct {
	Type      string    `json:"type"`
	To        string    `json:"to"`
	Candidate candidate `json:"candidate"`
}

type candidate struct {
	Candidate     string `json:"candidate"`
	SDPMid        string `json:"sdpMid"`
	SDPMLineIndex int    `json:"sdpMLineIndex"`
	T             int64  `json:"t"`
}

func (c *client) sendBurst(n int) error {
	to := c.peers[rand.IntN(len(c.peers))] //nolint:gosec // load spread, not secrecy
	for i := range n {
		msg := candidateMsg{Type: "candidate", To: to, Candidate: candidate{
			Candidate: fmt.Sprintf("candidate:842163049 1 udp 1677729535 198.51.100.7 %d typ srflx raddr 0.0.0.0 rport 0 generation 0", 50000+i),
			SDPMid:    "0",
			T:         time.Now().UnixNano(),
		}}
		_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := c.ws.WriteJSON(msg); err != nil {
			return err
		}
	}
	return nil
}

func (c *client) close() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
	if c.id != "" {
		<-c.done
	}
}

// sendLoop sends bursts from the clients worker w owns (i mod workers == w)
// at rate messages per second until stop is closed.
func sendLoop(all []*client, w, workers int, rate float64, burst int, stop <-chan struct{}, sent, errs *atomic.Uint64) {
	var mine []*client
	for i := w; i < len(all); i += workers {
		mine = append(mine, all[i])
	}
	start := time.Now()
	var done float64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		due := time.Since(start).Seconds()*rate - done
		for due >= float64(burst) {
			c := mine[rand.IntN(len(mine))] //nolint:gosec // load spread
			if err := c.sendBurst(burst); err != nil {
				errs.Add(1)
			}
			sent.Add(uint64(burst))
			done += float64(burst)
			due -= float64(burst)
		}
	}
}
