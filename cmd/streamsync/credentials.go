package main

import (
	"encoding/json"
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
	cfg, code := loadWithSecret("credentials", *path, stderr)
	if code != 0 {
		return code
	}
	if err := checkCredentialArgs(*user, *ttl); err != nil {
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

// loadWithSecret loads the config of a running server for a command that
// mints credentials for it, which needs its secret: a server without one
// in its config uses a random secret nobody else can know.
func loadWithSecret(cmd, path string, stderr io.Writer) (config.Config, int) {
	cfg, err := config.Load(path)
	if err != nil {
		printProblems(stderr, err)
		return cfg, 1
	}
	if len(cfg.TURN.Secrets) == 0 {
		fmt.Fprintf(stderr, "%s: the config sets no turn.secrets (nor turn.secret_file); the running server's random secret cannot be known\n", cmd)
		return cfg, 2
	}
	return cfg, 0
}

func checkCredentialArgs(user string, ttl time.Duration) error {
	switch {
	case strings.ContainsRune(user, ':'):
		return fmt.Errorf("-user must not contain ':' (got %q)", user)
	case ttl < time.Minute || ttl > 7*24*time.Hour:
		return fmt.Errorf("-ttl must be between 1m and 168h (got %s)", ttl)
	}
	return nil
}
