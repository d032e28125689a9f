// Package deb holds what the Debian package of StreamSync is made of besides
// the binary: the maintainer scripts (postinst, prerm, postrm), the
// sysusers.d entry and the copyright file beside this file, the conffile
// derived from config.example.toml, and the mapping of a `git describe`
// version to a Debian one. packaging/mkdist builds the package with nfpm;
// the tests here check it with lintian, dpkg-deb and a dpkg install into a
// scratch root.
package deb

// Paths of the installed package.
const (
	// Binary is the installed binary.
	Binary = "/usr/bin/streamsync"
	// UnitFile is the installed systemd unit.
	UnitFile = "/lib/systemd/system/streamsync.service"
	// Sysusers is the sysusers.d entry that makes the streamsync user.
	Sysusers = "/usr/lib/sysusers.d/streamsync.conf"
	// ConfigDir holds the config and the TURN secret, root:streamsync 0750.
	ConfigDir = "/etc/streamsync"
	// Config is the conffile, root:streamsync 0640.
	Config = "/etc/streamsync/config.toml"
	// SecretFile is the TURN secret postinst writes on first install,
	// root:streamsync 0640; the conffile's turn.secret_file names it.
	SecretFile = "/etc/streamsync/turn-secret"
	// StateDir is the service's state (ACME account and certificates),
	// streamsync:streamsync 0700, removed on purge.
	StateDir = "/var/lib/streamsync"
	// DocDir holds the copyright, changelog, README and example config.
	DocDir = "/usr/share/doc/streamsync"
	// ContribDir holds the Grafana dashboard and the Prometheus alerts.
	ContribDir = "/usr/share/streamsync"
)
