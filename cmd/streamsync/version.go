package main

import "runtime/debug"

// stamped is set at build time: go build -ldflags "-X main.stamped=v1.2.3".
var stamped string

// version returns the stamped version, else the module version or VCS
// revision from the build info, else "devel".
func version() string {
	if stamped != "" {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
