package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/streamsync/streamsync/internal/selftest"
	"github.com/streamsync/streamsync/turnserver"
)

func cmdSelfTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file of the running server")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each transport's check")
	caFile := fs.String("ca", "", "PEM file of extra CAs to trust for TURN over TLS (a private CA)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, code := loadWithSecret("selftest", *path, stderr)
	if code != 0 {
		return code
	}
	username, password, _, err := turnserver.MintREST(cfg.TURN.Secrets[0], "selftest", time.Now(), 10*time.Minute)
	if err != nil {
		fmt.Fprintln(stderr, "selftest:", err)
		return 1
	}
	creds := selftest.Credentials{Username: username, Password: password, Realm: cfg.TURN.Realm}
	var l selftest.Listeners
	if len(cfg.TURN.ListenUDP) > 0 {
		l.UDP = cfg.TURN.ListenUDP[0]
	}
	if len(cfg.TURN.ListenTCP) > 0 {
		l.TCP = cfg.TURN.ListenTCP[0]
	}
	if cfg.TLS.Enabled() && len(cfg.TURN.ListenTLS) > 0 {
		tc, err := selfTestTLSConfig(cfg.TURN.PublicHost, *caFile)
		if err != nil {
			fmt.Fprintln(stderr, "selftest:", err)
			return 2
		}
		l.TLS, l.TLSConfig = cfg.TURN.ListenTLS[0], tc
	}
	targets := l.Targets()
	failed := 0
	for _, t := range targets {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		r := selftest.Check(ctx, t, creds)
		cancel()
		if r.Err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  TURN over %-3s %-21s %v\n", t.Transport, t.Addr, r.Err)
			continue
		}
		fmt.Fprintf(stdout, "ok    TURN over %-3s %-21s relayed round trip in %s\n", t.Transport, t.Addr, r.RTT.Round(time.Microsecond))
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d transports failed\n", failed, len(targets))
		return 1
	}
	fmt.Fprintln(stdout, "the relay works")
	return 0
}

// selfTestTLSConfig verifies the relay's certificate for host (the name
// browsers check) against the system roots plus caFile.
func selfTestTLSConfig(host, caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}
