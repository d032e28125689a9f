package config

import (
	"testing"

	streamsync "github.com/streamsync/streamsync"
)

// FuzzParse: no input makes the loader panic, and whatever it accepts
// validates.
func FuzzParse(f *testing.F) {
	f.Add(streamsync.ExampleConfig)
	f.Add([]byte("[turn]\nrelay_port_min = 70000\n"))
	f.Add([]byte("[http]\nlisten = \"[::1]:80\"\n[turn]\nallowed_peer_ranges = [\"::/0\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
