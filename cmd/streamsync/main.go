// Command streamsync runs the StreamSync appliance: a STUN/TURN relay, a
// WebSocket signaling server and the call page, in one process.
//
//	streamsync serve [-config FILE]
//	streamsync check-config [-public] -config FILE
//	streamsync credentials [-config FILE] [-user NAME] [-ttl 1h]
//	streamsync selftest [-config FILE]
//	streamsync status [-config FILE] [-addr HOST:PORT]
//	streamsync version
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  streamsync serve [-config FILE]        run the appliance (default: embedded config)
  streamsync check-config [-public] -config FILE
                                         validate a config file, print every problem; -public:
                                         exit 3 unless it sets public_host, public_ip or [tls]
  streamsync credentials [-config FILE] [-user NAME] [-ttl 1h]
                                         print an RTCIceServer list with fresh TURN credentials
  streamsync selftest [-config FILE]     allocate on the running relay over each transport and
                                         relay a round trip; exit 1 naming what failed
  streamsync status [-config FILE] [-addr HOST:PORT]
                                         what the running appliance does, from its metrics
                                         listener; exit 1 when it is not ready
  streamsync version                     print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "credentials":
		return cmdCredentials(args[1:], stdout, stderr)
	case "selftest":
		return cmdSelfTest(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "streamsync", version())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "streamsync: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
