package signaling

import (
	"net/url"
	"strings"
)

// Directory is implemented by a Registry spanning several nodes that can
// name the addresses browsers reach them at (their public_url), so a page
// whose node dies can resume on another one by itself.
type Directory interface {
	// LiveNodeURLs returns the public_url of this node and of the other
	// nodes alive now: the ones a page may fail over to.
	LiveNodeURLs() []string
	// MemberNodeURLs returns LiveNodeURLs and the public_url of nodes
	// dead for less than the resume grace: pages they served may still
	// come here to resume, and their Origin is theirs.
	MemberNodeURLs() []string
}

// MaxNodeURLs bounds the node list in welcome and the cluster origins the
// WebSocket accepts: a failing-over page tries a few nodes, not hundreds.
const MaxNodeURLs = 16

// maxNodeURLBytes bounds one public_url.
const maxNodeURLBytes = 256

// nodeURLs keeps, of urls, the valid http(s) base URLs (no user, query or
// fragment; at most maxNodeURLBytes), without a trailing slash, each once,
// at most MaxNodeURLs, in their order. The list comes over the backplane,
// so it is checked here, at the boundary, before a browser sees it.
func nodeURLs(urls []string) []string {
	var out []string
	seen := make(map[string]bool, len(urls))
	for _, s := range urls {
		u, ok := parseNodeURL(s)
		if !ok {
			continue
		}
		n := strings.TrimSuffix(u.String(), "/")
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
		if len(out) == MaxNodeURLs {
			break
		}
	}
	return out
}

func parseNodeURL(s string) (*url.URL, bool) {
	if s == "" || len(s) > maxNodeURLBytes {
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, false
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
		return nil, false
	}
	return u, true
}

// liveNodes is the node list for welcome (nil on a single node).
func (s *Server) liveNodes() []string {
	if s.dir == nil {
		return nil
	}
	return nodeURLs(s.dir.LiveNodeURLs())
}

// memberOrigins is the Origin keys of the cluster's nodes, live or dead
// for less than the resume grace (nil on a single node).
func (s *Server) memberOrigins() []string {
	if s.dir == nil {
		return nil
	}
	urls := nodeURLs(s.dir.MemberNodeURLs())
	keys := make([]string, 0, len(urls))
	for _, n := range urls {
		u, _ := url.Parse(n)
		keys = append(keys, originKey(u.Scheme, u.Host))
	}
	return keys
}

// welcomeFor is the welcome message for a new connection: marshalled once,
// unless the registry names nodes, whose list changes.
func (s *Server) welcomeFor() []byte {
	if s.dir == nil {
		return s.welcome
	}
	return mustMarshal(s.welcomeMsg(typeWelcome))
}

func (s *Server) welcomeMsg(typ string) welcomeMsg {
	return welcomeMsg{
		Type:                   typ,
		Version:                ProtocolVersion,
		CreatePasswordRequired: s.cfg.CreatePassword != "",
		Limits:                 s.limits,
		Nodes:                  s.liveNodes(),
	}
}
