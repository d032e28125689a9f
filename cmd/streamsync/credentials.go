package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/streamsync/streamsync/internal/config"
	"github.com/streamsync/streamsync/turnserver"
)

func cmdCredentials(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file of the server the credentials are for")
	user := fs.String("user", "operator", "user name put into the TURN username (no ':')")
	ttl := fs.Duration("ttl", time.Hour, "how long the credentials may open allocations")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	if err := checkCredentialArgs(cfg, *user, *ttl); err != nil {
		fmt.Fprintln(stderr, "credentials:", err)
		return 2
	}
	ends, err := turnserver.ConfiguredEndpoints(cfg.TURN)
	if err != nil {
		fmt.Fprintln(stderr, "credentials:", err)
		return 1
	}
	ic, err := turnserver.MintICE(ends, cfg.TURN.Secrets[0], *user, time.Now(), *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "credentials:", err)
		return 1
	}
	out, _ := json.MarshalIndent(ic, "", "  ")
	fmt.Fprintln(stdout, string(out))
	return 0
}

func checkCredentialArgs(cfg config.Config, user string, ttl time.Duration) error {
	switch {
	case len(cfg.TURN.Secrets) == 0:
		return errors.New("the config sets no turn.secrets (nor turn.secret_file): a running server would use a random secret these credentials cannot match")
	case strings.ContainsRune(user, ':'):
		return fmt.Errorf("-user must not contain ':' (got %q)", user)
	case ttl < time.Minute || ttl > 7*24*time.Hour:
		return fmt.Errorf("-ttl must be between 1m and 168h (got %s)", ttl)
	}
	return nil
}
