package deb

import (
	"bytes"
	"fmt"
)

// conffileHeader opens the packaged config: what the operator sets before
// the service starts, and where the secret is.
const conffileHeader = `# ` + Config + `, installed by the streamsync package.
#
# The service is enabled but not started until you say where browsers reach
# it: set [turn] public_host (the name of this machine, e.g.
# "call.example.com") and [tls] (domains for a certificate through ACME, or
# cert_file/key_file), then
#   streamsync check-config -public -config ` + Config + `
#   systemctl start streamsync
# The TURN secret is in ` + SecretFile + ` (made at install, kept across
# upgrades; see turn.secret_file below). Upgrades keep your edits here.
#

`

// Conffile is the package's /etc/streamsync/config.toml: config.example.toml under a
// header for the operator, with turn.secret_file naming SecretFile.
func Conffile(example []byte) ([]byte, error) {
	const unset = "\nsecret_file = \"\"\n"
	if n := bytes.Count(example, []byte(unset)); n != 1 {
		return nil, fmt.Errorf("conffile: config.example.toml has %d lines %q, want 1", n, bytes.TrimSpace([]byte(unset)))
	}
	set := fmt.Sprintf("\nsecret_file = %q\n", SecretFile)
	body := bytes.Replace(example, []byte(unset), []byte(set), 1)
	return append([]byte(conffileHeader), body...), nil
}

// Unit is the packaged systemd unit: systemd/streamsync.service with
// ExecStart on Binary instead of /usr/local/bin, where the README's manual
// install puts it. Nothing else changes.
func Unit(unit []byte) ([]byte, error) {
	const manual = "ExecStart=/usr/local/bin/streamsync "
	if n := bytes.Count(unit, []byte(manual)); n != 1 {
		return nil, fmt.Errorf("unit: want one line starting %q, found %d", manual, n)
	}
	return bytes.Replace(unit, []byte(manual), []byte("ExecStart="+Binary+" "), 1), nil
}
