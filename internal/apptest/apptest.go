// Package apptest runs the real streamsync binary for tests: it builds
// ./cmd/streamsync once per test process, starts `streamsync serve` on a
// config the test writes, waits until every listener is up and stops the
// process when the test ends.
package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a freshly built streamsync binary, building
// it on first use (with -race when the tests run with it).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "streamsync-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "streamsync")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/streamsync")
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// moduleRoot is the directory holding go.mod, found from this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Appliance is a running streamsync process.
type Appliance struct {
	// HTTPURL is the page's base URL, e.g. "http://127.0.0.1:41234".
	HTTPURL string
	// TURNUDPAddr and TURNTCPAddr are the first TURN listeners ("" if none).
	TURNUDPAddr string
	TURNTCPAddr string
	// HTTPSURL, TURNTLSAddr and RedirectAddr are set when [tls] is on.
	HTTPSURL     string
	TURNTLSAddr  string
	RedirectAddr string
	// MetricsAddr is the metrics listener ("" if off).
	MetricsAddr string
	// ConfigPath is the config file the process runs on.
	ConfigPath string

	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// Start runs `streamsync serve -config FILE` with configTOML, whose [log]
// section it forces to JSON (to read the listening addresses). It waits up
// to 20 s for the HTTP and TURN listeners and stops the process at cleanup.
func Start(t testing.TB, configTOML string) *Appliance {
	t.Helper()
	return StartWith(t, configTOML, Options{})
}

// Options adjust how StartWith runs the process.
type Options struct {
	// Env is added to the process's environment ("KEY=value").
	Env []string
	// Wrapper is a command prefix the binary runs under, e.g.
	// {"ip", "netns", "exec", "NS"} to run it in a network namespace. The
	// wrapper must exec the binary (so signals reach it) and pass its
	// arguments through.
	Wrapper []string
}

// StartWith is Start with options.
func StartWith(t testing.TB, configTOML string, opts Options) *Appliance {
	t.Helper()
	bin := Binary(t)
	path := filepath.Join(t.TempDir(), "streamsync.toml")
	if err := os.WriteFile(path, []byte(forceJSONLogs(configTOML)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &Appliance{ConfigPath: path, logs: &syncBuffer{}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	args := append(append([]string{}, opts.Wrapper...), bin, "serve", "-config", path)
	a.cmd = exec.Command(args[0], args[1:]...)
	a.cmd.Env = append(os.Environ(), opts.Env...)
	a.cmd.Stdout = a.logs
	a.cmd.Stderr = io.MultiWriter(a.logs, pw)
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.err = a.cmd.Wait()
		_ = pw.Close()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.Stop(t)
		if t.Failed() {
			t.Logf("streamsync logs:\n%s", a.Logs())
		}
	})

	ready := make(chan error, 1)
	go a.readAddrs(pr, ready)
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("streamsync did not start: %v\n%s", err, a.Logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("streamsync did not report its listeners within 20s:\n%s", a.Logs())
	}
	return a
}

// readAddrs reads JSON log lines until the HTTP listener is reported (it is
// bound last), then drains the rest.
func (a *Appliance) readAddrs(r io.Reader, ready chan<- error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		if sent {
			continue
		}
		var line struct {
			Msg     string `json:"msg"`
			Service string `json:"service"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "listening" {
			continue
		}
		switch line.Service {
		case "turn-udp":
			if a.TURNUDPAddr == "" {
				a.TURNUDPAddr = line.Addr
			}
		case "turn-tcp":
			if a.TURNTCPAddr == "" {
				a.TURNTCPAddr = line.Addr
			}
		case "turn-tls":
			if a.TURNTLSAddr == "" {
				a.TURNTLSAddr = line.Addr
			}
		case "https":
			a.HTTPSURL = "https://" + line.Addr
		case "redirect":
			a.RedirectAddr = line.Addr
		case "metrics":
			a.MetricsAddr = line.Addr
		case "http":
			a.HTTPURL = "http://" + line.Addr
			ready <- nil
			sent = true
		}
	}
	if !sent {
		ready <- fmt.Errorf("process ended before listening (%v)", a.err)
	}
	_, _ = io.Copy(io.Discard, r)
}

// Signal sends sig to the process.
func (a *Appliance) Signal(sig os.Signal) error { return a.cmd.Process.Signal(sig) }

// Exited is closed once the process has exited (by a signal too, when
// Wait's exit code is -1 as for a process still running).
func (a *Appliance) Exited() <-chan struct{} { return a.exited }

// Wait waits up to d for the process to exit and returns its exit code,
// or -1 if it is still running.
func (a *Appliance) Wait(d time.Duration) int {
	select {
	case <-a.exited:
		return a.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Stop sends SIGTERM, waits up to 15 s, then kills.
func (a *Appliance) Stop(t testing.TB) {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if a.Wait(15*time.Second) == -1 {
		t.Errorf("streamsync ignored SIGTERM for 15s; killing it")
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// WriteConfig replaces the process's config file (for reload tests).
func (a *Appliance) WriteConfig(t testing.TB, configTOML string) {
	t.Helper()
	if err := os.WriteFile(a.ConfigPath, []byte(forceJSONLogs(configTOML)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// WaitLog waits up to d until n log lines contain substr.
func (a *Appliance) WaitLog(t testing.TB, substr string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(a.Logs(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %s:\n%s", substr, d, a.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs returns everything the process has written so far.
func (a *Appliance) Logs() string { return a.logs.String() }

// forceJSONLogs puts format = "json" into the [log] section.
func forceJSONLogs(toml string) string {
	var out []string
	inLog, done := false, false
	for _, line := range strings.Split(toml, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			if inLog && !done {
				out = append(out, `format = "json"`)
				done = true
			}
			inLog = trim == "[log]"
		}
		if inLog && strings.HasPrefix(trim, "format") {
			continue
		}
		out = append(out, line)
	}
	if inLog && !done {
		out = append(out, `format = "json"`)
		done = true
	}
	if !done {
		out = append(out, "", "[log]", `format = "json"`)
	}
	return strings.Join(out, "\n") + "\n"
}

type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
