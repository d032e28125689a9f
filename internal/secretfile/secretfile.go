// Package secretfile reads secrets kept in files of their own (systemd
// credentials, files out of the config): one secret per line, trimmed.
// It refuses a secret that is too short or the documentation's placeholder,
// and tells when a file is open to other users. The [turn], [signaling] and
// [cluster] sections all read their *_file keys through it.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// Placeholder is the example secret the README shows; a config that uses it
// literally has a secret everyone knows.
const Placeholder = "a long random string"

// IsPlaceholder reports whether v is the README's placeholder secret.
func IsPlaceholder(v string) bool { return strings.EqualFold(strings.TrimSpace(v), Placeholder) }

// Check reports why v cannot serve as a secret: shorter than min characters,
// or the README's placeholder. The error never quotes the secret.
func Check(v string, min int) error {
	if IsPlaceholder(v) {
		return errors.New(`is the README's placeholder "a long random string": use a random one (openssl rand -base64 32)`)
	}
	if n := utf8.RuneCountInString(v); n < min {
		return fmt.Errorf("must be at least %d characters (got %d)", min, n)
	}
	return nil
}

// Lines reads every secret of the file at path: each non-empty line,
// trimmed; lines starting with # are comments. Each is checked with Check;
// a file holding none is an error.
func Lines(path string, min int) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := Check(line, min); err != nil {
			return nil, fmt.Errorf("%s, line %d: %w", path, n, err)
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no secret", path)
	}
	return out, nil
}

// First reads the secret on the first line of the file at path, trimmed,
// and checks it with Check. What follows the first line is ignored.
func First(path string, min int) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	v := strings.TrimSpace(line)
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if err := Check(v, min); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// Exposed describes how the file at path is open to users other than its
// owner and group (readable or writable by everyone), naming its mode, or
// returns "" when it is not (or cannot be examined: reading it reports that).
func Exposed(path string) string {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return exposedMode(fi.Mode())
}

func exposedMode(m fs.FileMode) string {
	perm := m.Perm()
	var what []string
	if perm&0o004 != 0 {
		what = append(what, "readable")
	}
	if perm&0o002 != 0 {
		what = append(what, "writable")
	}
	if len(what) == 0 {
		return ""
	}
	return fmt.Sprintf("is %s by every user on this machine (mode %04o); chmod o-rwx it (0600, or 0640 with the service's group)",
		strings.Join(what, " and "), perm)
}
