package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the file under the state directory holding the signing
// keys: one per line in hex, the first signs, all verify; '#' starts a
// comment. Made with one random key at the first start.
const KeyFileName = "signaling.key"

// KeySource says where LoadKeys found the keys, for the start-up log.
type KeySource string

// Where keys come from.
const (
	KeysFromSecrets KeySource = "turn.secrets"
	KeysFromFile    KeySource = "state file"
	KeysRandom      KeySource = "random"
)

// LoadKeys finds the keys that sign room ids and resume tokens, so that a
// restart keeps every meeting (docs/protocol.md §10):
//
//   - derived from secrets (the configured TURN secrets) when there are
//     any: every node of a cluster holds the same ones, and rotating them
//     rotates these keys the same way (the first signs, the others keep
//     verifying while listed);
//   - else from KeyFileName under cfg.StateDir, or under $STATE_DIRECTORY
//     (set by systemd's StateDirectory=) when that is "", made at the
//     first start;
//   - else none (KeysRandom): the server uses a random key, and a
//     restart ends every meeting.
//
// It returns the file's path with KeysFromFile.
func LoadKeys(cfg Config, secrets []string) ([][]byte, KeySource, string, error) {
	if len(secrets) > 0 {
		return DeriveKeys(secrets), KeysFromSecrets, "", nil
	}
	dir := cfg.StateDir
	if dir == "" {
		dir, _, _ = strings.Cut(os.Getenv("STATE_DIRECTORY"), ":")
	}
	if dir == "" {
		return nil, KeysRandom, "", nil
	}
	path := filepath.Join(dir, KeyFileName)
	keys, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = makeKeyFile(dir, path); err == nil || errors.Is(err, fs.ErrExist) {
			keys, err = readKeyFile(path)
		}
	}
	if err != nil {
		return nil, KeysRandom, path, fmt.Errorf("signaling.state_dir: %w", err)
	}
	return keys, KeysFromFile, path, nil
}

// readKeyFile parses a key file; at least one key of 16 bytes or more.
func readKeyFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := hex.DecodeString(line)
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("%s line %d: not a key (at least 32 hex digits)", path, i+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key in it", path)
	}
	return keys, nil
}

// makeKeyFile writes a new key file with one random key, readable by this
// user only, whole or not at all (written aside, then linked into place);
// fs.ErrExist when another process made it first.
func makeKeyFile(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	k := make([]byte, keyLen)
	_, _ = rand.Read(k)
	f, err := os.CreateTemp(dir, KeyFileName+".new-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	body := "# StreamSync signing keys for room ids and resume tokens: the first signs, all verify.\n" +
		"# Put a new key first (openssl rand -hex 32) and keep the old one below while links and\n" +
		"# places signed with it should work. Deleting this file ends every meeting at the next start.\n" +
		hex.EncodeToString(k) + "\n"
	_, err = f.WriteString(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(f.Name(), path) // fails with ErrExist rather than replace a key
}
