package deb

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	// describeTag matches `git describe --tags` output: a tag vX.Y.Z with
	// an optional pre-release (v1.2.0-rc1), and commits since it and the
	// abbreviated commit (-4-gdeadbee); -dirty is cut off before.
	describeTag = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.]+?))?(?:-([0-9]+)-g([0-9a-f]+))?$`)
	// describeCommit matches `git describe --always` without a tag.
	describeCommit = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
)

// Version turns the version stamped into the binary (`git describe --tags
// --always --dirty`) into a Debian version (deb-version(7)) that sorts the
// way the builds do:
//
//	v1.2.3              1.2.3
//	v1.2.3-rc1          1.2.3~rc1            (before 1.2.3)
//	v1.2.3-4-gdeadbee   1.2.3+git4.deadbee   (after 1.2.3)
//	deadbee             0.0~git20261122043338.deadbee  (no tag yet: commit time orders builds)
//	... -dirty          ... +dirty
//
// commit is the commit's time (SOURCE_DATE_EPOCH), used only without a tag.
func Version(describe string, commit time.Time) (string, error) {
	clean, dirty := strings.CutSuffix(describe, "-dirty")
	suffix := ""
	if dirty {
		suffix = "+dirty"
	}
	if describeCommit.MatchString(clean) {
		return "0.0~git" + commit.UTC().Format("20060102150405") + "." + clean + suffix, nil
	}
	m := describeTag.FindStringSubmatch(clean)
	if m == nil {
		return "", fmt.Errorf("version %q: want a tag such as v1.2.3, `git describe --tags --always --dirty` output or a commit hash", describe)
	}
	v := m[1]
	if m[2] != "" {
		v += "~" + m[2]
	}
	if m[3] != "" {
		v += "+git" + m[3] + "." + m[4]
	}
	return v + suffix, nil
}
