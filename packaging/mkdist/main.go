// Command mkdist builds StreamSync's release files (make dist): for each
// architecture a static, version-stamped binary in a tar.gz with the
// README, config.example.toml, the systemd unit and the LICENSE, and a
// Debian package built with nfpm; then SHA256SUMS over them all.
//
//	go run ./packaging/mkdist -version v1.2.3 [-arch amd64,arm64] [-out dist] [-formats tar,deb]
//
// Run it from the module root. SOURCE_DATE_EPOCH (make dist passes the
// commit time) dates every file inside the archives and packages, so two
// builds of one commit are the same bytes.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamsync/streamsync/packaging/deb"
)

// defaultMaintainer is the deb's Maintainer field (lintian wants a name
// and an address).
const defaultMaintainer = "StreamSync maintainers <maintainers@streamsync.invalid>"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "version stamped into the binary (git describe --tags --always --dirty)")
	arches := fs.String("arch", "amd64,arm64", "comma-separated GOARCH values (linux)")
	out := fs.String("out", "dist", "directory the release files are written to")
	formats := fs.String("formats", "tar,deb", "comma-separated: tar (tar.gz archives), deb (Debian packages)")
	maintainer := fs.String("maintainer", defaultMaintainer, "the Debian package's Maintainer field")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	r, err := newRelease(*version, *out, *maintainer, split(*arches), split(*formats))
	if err != nil {
		fmt.Fprintln(stderr, "mkdist:", err)
		return 2
	}
	defer r.cleanup()
	written, err := r.build()
	if err != nil {
		fmt.Fprintln(stderr, "mkdist:", err)
		return 1
	}
	for _, f := range written {
		fmt.Fprintln(stdout, f)
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// release is one run of mkdist: what to build and where.
type release struct {
	version    string // as stamped into the binary
	debVersion string
	date       time.Time // SOURCE_DATE_EPOCH
	out        string
	work       string // temporary files, removed by cleanup
	maintainer string
	arches     []string
	tar, deb   bool
}

func newRelease(version, out, maintainer string, arches, formats []string) (*release, error) {
	if version == "" {
		return nil, fmt.Errorf("-version is required (make dist passes git describe)")
	}
	for _, a := range arches {
		if a != "amd64" && a != "arm64" {
			return nil, fmt.Errorf("-arch: %q is not one of amd64, arm64", a)
		}
	}
	if len(arches) == 0 {
		return nil, fmt.Errorf("-arch: no architecture")
	}
	for _, f := range formats {
		if f != "tar" && f != "deb" {
			return nil, fmt.Errorf("-formats: %q is not one of tar, deb", f)
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return nil, fmt.Errorf("run from the module root: %w", err)
	}
	date, err := sourceDate()
	if err != nil {
		return nil, err
	}
	debVersion, err := deb.Version(version, date)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "mkdist-")
	if err != nil {
		return nil, err
	}
	return &release{
		version: version, debVersion: debVersion, date: date, out: out, work: work,
		maintainer: maintainer, arches: arches,
		tar: slices.Contains(formats, "tar"), deb: slices.Contains(formats, "deb"),
	}, nil
}

// sourceDate is SOURCE_DATE_EPOCH (reproducible-builds.org), else now.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: want Unix seconds (got %q)", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func (r *release) cleanup() { _ = os.RemoveAll(r.work) }

// build writes every release file and SHA256SUMS, and returns their paths.
func (r *release) build() ([]string, error) {
	var written []string
	for _, arch := range r.arches {
		bin, err := r.binary(arch)
		if err != nil {
			return nil, err
		}
		if r.tar {
			f, err := r.archive(arch, bin)
			if err != nil {
				return nil, err
			}
			written = append(written, f)
		}
		if r.deb {
			f, err := r.debPackage(arch, bin)
			if err != nil {
				return nil, err
			}
			written = append(written, f)
		}
	}
	sums, err := writeSums(r.out, written)
	if err != nil {
		return nil, err
	}
	return append(written, sums), nil
}
