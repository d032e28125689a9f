package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
	"github.com/streamsync/streamsync/web"
)

// appliance is a running StreamSync for the browsers.
type appliance struct {
	HTTPURL string
	Logs    func() string
}

type applianceOpts struct {
	udp, tcp bool
}

// startAppliance runs an in-process appliance (development stand-in until
// internal/apptest runs the real binary).
func startAppliance(t testing.TB, o applianceOpts) *appliance {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tc := turnserver.DefaultConfig()
	tc.ListenUDP, tc.ListenTCP = nil, nil
	if o.udp {
		tc.ListenUDP = []string{"127.0.0.1:0"}
	}
	if o.tcp {
		tc.ListenTCP = []string{"127.0.0.1:0"}
	}
	tc.PublicHost = "127.0.0.1"
	tc.PublicIP = "127.0.0.1"
	tc.RelayBind = "127.0.0.1"
	tc.RelayPortMin, tc.RelayPortMax = 40000, 40999
	tc.Secrets = []string{"test-secret"}
	ts, err := turnserver.New(tc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	sc := signaling.DefaultConfig()
	sc.JoinRate, sc.JoinBurst = 100, 100
	sc.MaxConnsPerIP = 100
	sc.ResumeGrace = 30 * time.Second
	ss, err := signaling.New(sc, signaling.Options{Logger: log, ICE: ts.ICE})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", ss)
	mux.Handle("/", web.Handler(web.Options{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ss.Shutdown(ctx)
		srv.Close()
	})
	return &appliance{HTTPURL: srv.URL, Logs: func() string { return "" }}
}
