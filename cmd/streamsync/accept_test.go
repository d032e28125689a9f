package main

import (
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/apptest"
)

// TestTURNOverTCPSurvivesRunningOutOfDescriptors: the appliance runs
// under a descriptor limit, a client opens more TURN TCP connections than
// it has descriptors left (EMFILE on accept), then closes them. TURN over
// TCP answers again, `streamsync selftest` passes for TCP and /readyz
// turns 200 without a restart (pion's accept loop alone would have ended
// on the first EMFILE).
func TestTURNOverTCPSurvivesRunningOutOfDescriptors(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) not installed: cannot limit the server's descriptors")
	}
	cfg := serviceConfig(t, `"emfile-test-secret-0123456"`, `selftest_interval = "5s"`)
	app := apptest.StartWith(t, cfg, apptest.Options{Wrapper: []string{"prlimit", "--nofile=128:128", "--"}})
	start := time.Now()
	var conns []net.Conn
	for range 200 {
		c, err := net.DialTimeout("tcp", app.TURNTCPAddr, 2*time.Second)
		if err != nil {
			break // the backlog is full: the server is out of descriptors
		}
		conns = append(conns, c)
	}
	exhausted := func() bool { return strings.Contains(app.Logs(), "accept failed; retrying with backoff") }
	deadline := time.Now().Add(20 * time.Second)
	for wait := time.Now().Add(3 * time.Second); !exhausted() && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: %d connections open, the server out of descriptors", time.Since(start), len(conns))
	for _, c := range conns {
		_ = c.Close()
	}

	path := boundConfig(t, app)
	var out string
	for attempt := 0; ; attempt++ {
		code, o := runCmd("selftest", "-config", path, "-timeout", "5s")
		if out = o; code == 0 {
			break
		}
		if attempt == 0 {
			t.Logf("%s: first selftest after closing the connections:\n%s", time.Since(start), o)
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("selftest after the descriptors came back:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s: selftest passes again", time.Since(start))
	if !exhausted() {
		t.Fatalf("%d connections did not exhaust the server's descriptors (no accept error logged)", len(conns))
	}
	if !strings.Contains(out, "ok    TURN over tcp") {
		t.Fatalf("selftest did not check TCP:\n%s", out)
	}
	for {
		resp, err := http.Get(app.HTTPURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline.Add(40 * time.Second)) {
			t.Fatal("/readyz did not turn 200 after the descriptors came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
