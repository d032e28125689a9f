// Package streamsync holds what the module root ships inside the binary:
// the example configuration, which is also the embedded default.
package streamsync

import _ "embed"

// ExampleConfig is config.example.toml: every key with its default and a
// comment. `streamsync serve` without -config runs on it.
//
//go:embed config.example.toml
var ExampleConfig []byte
