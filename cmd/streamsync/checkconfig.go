package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/streamsync/streamsync/internal/config"
)

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to check")
	public := fs.Bool("public", false, "also require turn.public_host, turn.public_ip or [tls]; exit 3 without")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "check-config: -config FILE is required")
		return 2
	}
	cfg, warnings, err := config.LoadChecked(*path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "config: warning:", w)
	}
	if *public && !cfg.Public() {
		fmt.Fprintf(stdout, "%s: valid, but for this machine only: set turn.public_host (or public_ip) and [tls] to serve browsers elsewhere\n", *path)
		return 3
	}
	switch len(warnings) {
	case 0:
		fmt.Fprintf(stdout, "%s: ok\n", *path)
	case 1:
		fmt.Fprintf(stdout, "%s: ok, with 1 warning\n", *path)
	default:
		fmt.Fprintf(stdout, "%s: ok, with %d warnings\n", *path, len(warnings))
	}
	return 0
}
