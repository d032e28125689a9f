package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/ice"
	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/turntest"
)

func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", "../../config.example.toml"}, &out, &errOut); code != 0 {
		t.Fatalf("example config: exit %d: %s", code, errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	body := "[turn]\nrelay_port_min = 50000\nrelay_port_max = 40000\nsecrets = [\"short\"]\nbogus = 1\n"
	if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run([]string{"check-config", "-config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("bad config: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "turn.bogus: unknown key") {
		t.Fatalf("unknown key not named:\n%s", errOut.String())
	}
	body = "[turn]\nrelay_port_min = 50000\nrelay_port_max = 40000\nsecrets = [\"short\"]\n"
	_ = os.WriteFile(bad, []byte(body), 0o600)
	errOut.Reset()
	run([]string{"check-config", "-config", bad}, &out, &errOut)
	for _, want := range []string{"turn.relay_port_max: must be >= relay_port_min", "turn.secrets[0]: must be at least 16"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errOut.String())
		}
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "streamsync ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

// boundConfig writes a copy of app's config file whose TURN listen
// addresses (given as 127.0.0.1:0) name the ports app bound, for the
// commands that read them from the file (credentials, selftest).
func boundConfig(t *testing.T, app *apptest.Appliance) string {
	t.Helper()
	text, err := os.ReadFile(app.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	for key, addr := range map[string]string{"listen_udp": app.TURNUDPAddr, "listen_tcp": app.TURNTCPAddr, "listen_tls": app.TURNTLSAddr} {
		if addr != "" {
			s = strings.Replace(s, key+` = ["127.0.0.1:0"]`, key+` = ["`+addr+`"]`, 1)
		}
	}
	path := filepath.Join(t.TempDir(), "bound.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCredentialsAllocateAgainstServe: what `streamsync credentials` prints
// allocates on a running `streamsync serve` sharing its config file, and
// the server stops with exit 0 on SIGTERM.
func TestCredentialsAllocateAgainstServe(t *testing.T) {
	ports := turntest.RelayPorts(t, 1000)
	app := apptest.Start(t, `
[http]
listen = "127.0.0.1:0"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = []
relay_bind = "127.0.0.1"
`+ports.TOML()+`secrets = ["credentials-test-secret-0123"]
[metrics]
listen = "127.0.0.1:0"
`)

	var out, errOut bytes.Buffer
	if code := run([]string{"credentials", "-config", boundConfig(t, app), "-user", "ops", "-ttl", "10m"}, &out, &errOut); code != 0 {
		t.Fatalf("credentials: exit %d: %s", code, errOut.String())
	}
	var ic ice.Config
	if err := json.Unmarshal(out.Bytes(), &ic); err != nil {
		t.Fatalf("credentials output is not an ICE config: %v\n%s", err, out.String())
	}
	var turnServer ice.Server
	for _, s := range ic.Servers {
		if s.Username != "" {
			turnServer = s
		}
	}
	want := "turn:" + app.TURNUDPAddr + "?transport=udp"
	if len(turnServer.URLs) != 1 || turnServer.URLs[0] != want {
		t.Fatalf("TURN URLs %q, want [%s]", turnServer.URLs, want)
	}
	if !strings.HasSuffix(turnServer.Username, ":ops") {
		t.Fatalf("username %q does not name the user", turnServer.Username)
	}

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := app.TURNUDPAddr
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: turnServer.Username, Password: turnServer.Credential, Realm: "streamsync",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate with printed credentials: %v", err)
	}
	if p := relay.LocalAddr().(*net.UDPAddr).Port; p < ports.Min || p > ports.Max {
		t.Fatalf("relay port %d outside the configured range", p)
	}
	_ = relay.Close()

	if err := app.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := app.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, app.Logs())
	}
}
