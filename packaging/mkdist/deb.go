package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	nfpmdeb "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/streamsync/streamsync/packaging/deb"
)

const description = `STUN/TURN relay, WebRTC signaling and call page in one binary
StreamSync makes browser video calls work behind NAT and firewalls. One
process runs a STUN/TURN relay (UDP, TCP and TLS) that hands out only
time-limited credentials, a WebSocket signaling server, and the call page it
serves itself: meetings by link, camera, microphone, screen sharing, chat
and files.

The service is enabled at install but starts once /etc/streamsync/config.toml
says where browsers reach it (turn.public_host and [tls]).`

// debPackage writes streamsync_DEBVERSION_ARCH.deb with nfpm.
func (r *release) debPackage(arch, bin string) (string, error) {
	dir := filepath.Join(r.work, "deb-"+arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gen, err := r.debGenerated(dir)
	if err != nil {
		return "", err
	}
	conf := func(owner, group string, mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: owner, Group: group, Mode: mode}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "streamsync",
		Arch:          arch,
		Platform:      "linux",
		Version:       r.debVersion,
		VersionSchema: "none",
		// A Debian revision: the package is not native to Debian, so its
		// changelog is changelog.Debian.gz, as nfpm names it.
		Release:     "1",
		Section:     "net",
		Priority:    "optional",
		Maintainer:  r.maintainer,
		Homepage:    "https://github.com/streamsync/streamsync",
		License:     "MIT",
		Description: description,
		Changelog:   gen["changelog"],
		MTime:       r.date,
		Overridables: nfpm.Overridables{
			// postinst makes the user with systemd-sysusers.
			Depends: []string{"systemd (>= 238) | systemd-sysusers"},
			Contents: files.Contents{
				{Source: bin, Destination: deb.Binary, FileInfo: conf("root", "root", 0o755)},
				{Source: gen["unit"], Destination: deb.UnitFile, FileInfo: conf("root", "root", 0o644)},
				{Source: "packaging/deb/streamsync.sysusers", Destination: deb.Sysusers, FileInfo: conf("root", "root", 0o644)},
				{Destination: deb.ConfigDir, Type: files.TypeDir, FileInfo: conf("root", "streamsync", 0o750)},
				{Source: gen["config"], Destination: deb.Config, Type: files.TypeConfig, FileInfo: conf("root", "streamsync", 0o640)},
				{Destination: deb.StateDir, Type: files.TypeDir, FileInfo: conf("streamsync", "streamsync", 0o700)},
				{Source: "packaging/deb/copyright", Destination: deb.DocDir + "/copyright", FileInfo: conf("root", "root", 0o644)},
				{Source: gen["readme"], Destination: deb.DocDir + "/README.md.gz", FileInfo: conf("root", "root", 0o644)},
				{Source: gen["example"], Destination: deb.DocDir + "/examples/config.example.toml.gz", FileInfo: conf("root", "root", 0o644)},
				{Source: gen["man"], Destination: "/usr/share/man/man1/streamsync.1.gz", FileInfo: conf("root", "root", 0o644)},
				{Source: "contrib/grafana/streamsync.json", Destination: deb.ContribDir + "/grafana/streamsync.json", FileInfo: conf("root", "root", 0o644)},
				{Source: "contrib/prometheus/alerts.yml", Destination: deb.ContribDir + "/prometheus/alerts.yml", FileInfo: conf("root", "root", 0o644)},
				{Source: "packaging/deb/lintian-overrides", Destination: "/usr/share/lintian/overrides/streamsync", FileInfo: conf("root", "root", 0o644)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: "packaging/deb/postinst",
				PreRemove:   "packaging/deb/prerm",
				PostRemove:  "packaging/deb/postrm",
			},
		},
	})
	path := filepath.Join(r.out, nfpmdeb.Default.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := nfpmdeb.Default.Package(info, f); err != nil {
		return "", fmt.Errorf("deb %s: %w", arch, err)
	}
	return path, f.Close()
}

// debGenerated writes the package's files that are made from the
// module's (the conffile, the unit, the compressed docs, the changelog)
// into dir and returns their paths by name.
func (r *release) debGenerated(dir string) (map[string]string, error) {
	example, err := os.ReadFile("config.example.toml")
	if err != nil {
		return nil, err
	}
	unitSrc, err := os.ReadFile("systemd/streamsync.service")
	if err != nil {
		return nil, err
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return nil, err
	}
	man, err := os.ReadFile("packaging/deb/streamsync.1")
	if err != nil {
		return nil, err
	}
	config, err := deb.Conffile(example)
	if err != nil {
		return nil, err
	}
	unit, err := deb.Unit(unitSrc)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, data := range map[string][]byte{
		"config": config, "unit": unit, "readme": gz(readme), "example": gz(example), "man": gz(man),
		"changelog": r.changelog(),
	} {
		out[name] = filepath.Join(dir, name)
		if err := os.WriteFile(out[name], data, 0o644); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gz compresses data as `gzip -9n` does: no name, no time stamp.
func gz(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

// changelog is the package's one changelog entry in chglog's YAML, which
// nfpm turns into /usr/share/doc/streamsync/changelog.Debian.gz.
func (r *release) changelog() []byte {
	return fmt.Appendf(nil, `- semver: %q
  date: %s
  packager: %q
  deb:
    urgency: medium
    distributions: [stable]
  changes:
    - note: %q
`, r.debVersion, r.date.Format(time.RFC3339), r.maintainer,
		"StreamSync "+r.version+"; the changes are in the project's history.")
}
