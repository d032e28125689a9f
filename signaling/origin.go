package signaling

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// originChecker decides which browser pages may open the WebSocket:
// requests without Origin (non-browser clients), pages of the request's
// own origin (scheme, host and port, RFC 6454 §5), configured origins, and
// in a cluster the pages of its nodes (their public_url), so a page whose
// node died can resume here.
type originChecker struct {
	allowed map[string]bool // normalized "scheme://host:port"
	trusted []netip.Prefix  // proxies whose X-Forwarded-Proto is believed
	members func() []string // the cluster nodes' origin keys; nil on a single node
}

func newOriginChecker(allowed []string, trusted []netip.Prefix) *originChecker {
	oc := &originChecker{allowed: make(map[string]bool, len(allowed)), trusted: trusted}
	for _, o := range allowed {
		if u, err := url.Parse(strings.TrimSuffix(o, "/")); err == nil {
			oc.allowed[originKey(u.Scheme, u.Host)] = true
		}
	}
	return oc
}

func (oc *originChecker) check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false // includes "null" (sandboxed frames, file:)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return false
	}
	key := originKey(scheme, u.Host)
	if oc.allowed[key] || key == originKey(requestScheme(r, oc.trusted), r.Host) {
		return true
	}
	if oc.members != nil {
		for _, m := range oc.members() {
			if key == m {
				return true
			}
		}
	}
	return false
}

// originKey is "scheme://host:port", lower case, with the scheme's
// default port filled in, so equal origins compare equal.
func originKey(scheme, hostport string) string {
	scheme = strings.ToLower(scheme)
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(net.JoinHostPort(host, port))
}
