package cluster

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// welcomeNodes dials n and returns the node list of its welcome.
func welcomeNodes(t *testing.T, n *node) []string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(n.url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	defer ws.Close()
	var w struct {
		Type  string   `json:"type"`
		Nodes []string `json:"nodes"`
	}
	_ = ws.SetReadDeadline(time.Now().Add(waitLimit))
	if err := ws.ReadJSON(&w); err != nil || w.Type != "welcome" {
		t.Fatalf("welcome from %s: %+v %v", n.name, w, err)
	}
	return w.Nodes
}

// originAllowed reports whether n accepts a WebSocket from a page of origin.
func originAllowed(t *testing.T, n *node, origin string) bool {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(n.url, http.Header{"Origin": {origin}})
	if err == nil {
		ws.Close()
		return true
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial %s from %s: %v %v", n.name, origin, err, resp)
	}
	return false
}

// TestWelcomeNodeList: a node's welcome lists its own public_url, then the
// other live nodes' (sorted; a node without one is not listed); a node
// that dies leaves the list after node_timeout, but its pages may still
// open the WebSocket here (their Origin is its public_url) for the resume
// grace, and no other origin may.
func TestWelcomeNodeList(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.ResumeGrace = 3 * time.Second
	url := func(name string) string { return fmt.Sprintf("https://%s.example.com", name) }
	nodes := map[string]*node{}
	for _, name := range []string{"n1", "n3", "n2", "quiet"} {
		c := cc
		if name != "quiet" {
			c.PublicURL = url(name)
		}
		nodes[name] = startNode(t, name, sc, c)
	}
	all := []string{url("n1"), url("n2"), url("n3")}
	waitUntil(t, "every node heard", func() bool {
		for _, n := range nodes {
			if len(n.reg.LiveNodeURLs()) != len(all) {
				return false
			}
		}
		return true
	})
	if got, want := welcomeNodes(t, nodes["n2"]), []string{url("n2"), url("n1"), url("n3")}; !slices.Equal(got, want) {
		t.Fatalf("n2's welcome nodes %q, want %q", got, want)
	}
	if got := welcomeNodes(t, nodes["quiet"]); !slices.Equal(got, all) {
		t.Fatalf("the node without public_url lists %q, want %q", got, all)
	}
	for origin, ok := range map[string]bool{
		url("n3"): true, url("n2"): true, "https://evil.example.com": false, "http://n3.example.com": false,
	} {
		if got := originAllowed(t, nodes["n1"], origin); got != ok {
			t.Fatalf("n1 accepts a page of %s: %v, want %v", origin, got, ok)
		}
	}

	nodes["n3"].kill()
	killed := time.Now()
	waitUntil(t, "n3 out of the live list", func() bool {
		return slices.Equal(welcomeNodes(t, nodes["n1"]), []string{url("n1"), url("n2")})
	})
	if time.Since(killed) < cc.NodeTimeout/2 {
		t.Fatalf("n3 left the list %s after its death, before node_timeout %s", time.Since(killed), cc.NodeTimeout)
	}
	if !originAllowed(t, nodes["n1"], url("n3")) {
		t.Fatal("a page of n3, dead within the grace, is refused by n1")
	}
	waitUntil(t, "n3's pages refused past the grace", func() bool { return !originAllowed(t, nodes["n1"], url("n3")) })
	if time.Since(killed) < sc.ResumeGrace {
		t.Fatalf("n3's pages refused %s after its death, within the grace %s", time.Since(killed), sc.ResumeGrace)
	}
}
