package signaling

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// directoryRegistry is the in-memory registry naming cluster nodes, as a
// clustered one does.
type directoryRegistry struct {
	*MemoryRegistry
	mu            sync.Mutex
	live, members []string
}

func (d *directoryRegistry) LiveNodeURLs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.live)
}

func (d *directoryRegistry) MemberNodeURLs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.members)
}

func (d *directoryRegistry) set(live, members []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live, d.members = live, members
}

func newDirectoryServer(t *testing.T) (*testServer, *directoryRegistry) {
	cfg := testConfig()
	dir := &directoryRegistry{MemoryRegistry: NewMemoryRegistry(cfg.MaxRooms, cfg.MaxPeersPerRoom, cfg.EmptyRoomTTL)}
	fm := &fakeMinter{}
	return newTestServerOpts(t, cfg, Options{ICE: fm.mint, Registry: dir}, fm), dir
}

func welcomeNodes(t *testing.T, m msg) []string {
	t.Helper()
	raw, ok := m["nodes"]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(raw)
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("welcome nodes %v: %v", raw, err)
	}
	return out
}

// TestWelcomeNodes: welcome names the live nodes' public URLs the registry
// gives, only valid http(s) ones, each once, at most MaxNodeURLs, and
// follows the registry as nodes come and go; the pre-flight GET says the
// same. A single node says nothing.
func TestWelcomeNodes(t *testing.T) {
	single := newTestServer(t, testConfig())
	if n, ok := single.dial(t).welcome["nodes"]; ok {
		t.Fatalf("single node's welcome has nodes %v", n)
	}

	ts, dir := newDirectoryServer(t)
	many := []string{"https://a.example.com"}
	for i := range 2 * MaxNodeURLs {
		many = append(many, fmt.Sprintf("https://n%d.example.com:8443", i))
	}
	for _, tc := range []struct {
		name      string
		live, out []string
	}{
		{"none", nil, nil},
		{"two", []string{"https://a.example.com", "http://10.0.0.2:8080/"}, []string{"https://a.example.com", "http://10.0.0.2:8080"}},
		{"a path is kept", []string{"https://example.com/call/"}, []string{"https://example.com/call"}},
		{"invalid ones dropped", []string{
			"javascript:alert(1)", "ftp://a.example.com", "wss://a.example.com", "https://", "//a.example.com",
			"https://user:pw@a.example.com", "https://a.example.com/?q=1", "https://a.example.com/#x",
			"https://" + strings.Repeat("a", 300) + ".example.com", "", "https://a b.example.com", "https://ok.example.com",
		}, []string{"https://ok.example.com"}},
		{"each once", []string{"https://a.example.com", "https://a.example.com/", "https://b.example.com"}, []string{"https://a.example.com", "https://b.example.com"}},
		{"bounded", many, many[:MaxNodeURLs]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir.set(tc.live, nil)
			if got := welcomeNodes(t, ts.dial(t).welcome); !slices.Equal(got, tc.out) {
				t.Fatalf("welcome nodes %q, want %q", got, tc.out)
			}
			resp, err := http.Get(ts.http.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var info msg
			if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
				t.Fatal(err)
			}
			if got := welcomeNodes(t, info); !slices.Equal(got, tc.out) {
				t.Fatalf("pre-flight nodes %q, want %q", got, tc.out)
			}
		})
	}
}

// TestOriginClusterMember: a page served by another node of the cluster
// (its public_url, live or dead within the resume grace) may open the
// WebSocket, so it can resume here when its node dies; any other origin,
// a member's host on another port or scheme, and an invalid URL in the
// list are refused.
func TestOriginClusterMember(t *testing.T) {
	ts, dir := newDirectoryServer(t)
	dir.set([]string{"http://127.0.0.1:1"}, []string{
		"http://127.0.0.1:1", "https://call-b.example.com", "http://10.0.0.3:8080/call",
		"javascript://evil.example.com", "https://user:pw@evil.example.com",
	})
	for origin, ok := range map[string]bool{
		"https://call-b.example.com":     true,
		"https://CALL-B.example.com:443": true,
		"http://10.0.0.3:8080":           true,
		"http://127.0.0.1:1":             true,
		"http://call-b.example.com":      false,
		"https://call-b.example.com:444": false,
		"https://evil.example.com":       false,
		"http://10.0.0.3":                false,
		"null":                           false,
	} {
		c, resp, err := ts.dialHeader(t, http.Header{"Origin": {origin}})
		if ok {
			if err != nil {
				t.Errorf("%s: refused (%v %v)", origin, err, resp)
				continue
			}
			c.alive()
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: want 403, got %v %v", origin, err, resp)
		}
	}
	// A node forgotten (dead past the grace) is refused again.
	dir.set(nil, nil)
	if _, resp, err := ts.dialHeader(t, http.Header{"Origin": {"https://call-b.example.com"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a forgotten node's page: want 403, got %v %v", err, resp)
	}
}
