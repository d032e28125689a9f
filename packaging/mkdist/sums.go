package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// writeSums writes SHA256SUMS in out over files (all in out), in the
// format `sha256sum -c SHA256SUMS` checks.
func writeSums(out string, files []string) (string, error) {
	var b strings.Builder
	for _, path := range files {
		sum, err := sha256File(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.Base(path))
	}
	path := filepath.Join(out, "SHA256SUMS")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
