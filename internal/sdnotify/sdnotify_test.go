package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifyReachesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	for _, send := range []func() error{n.Ready, n.Watchdog, n.Stopping} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 256)
	for _, want := range []string{"READY=1", "WATCHDOG=1", "STOPPING=1"} {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := conn.Read(buf)
		if err != nil || string(buf[:k]) != want {
			t.Fatalf("got %q, %v; want %q", buf[:k], err, want)
		}
	}
}

func TestDisabledWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if n := FromEnv(); n.Enabled() || n.Ready() != nil {
		t.Fatal("a notifier without NOTIFY_SOCKET must do nothing")
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "")
	if d, err := WatchdogInterval(); err != nil || d != 30*time.Second {
		t.Fatalf("got %v, %v", d, err)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if d, _ := WatchdogInterval(); d != 0 {
		t.Fatalf("watchdog meant for pid 1 applied to us: %v", d)
	}
	t.Setenv("WATCHDOG_USEC", "")
	if d, _ := WatchdogInterval(); d != 0 {
		t.Fatalf("got %v without WATCHDOG_USEC", d)
	}
}
