package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// binary builds ./cmd/streamsync for linux/arch: static (no cgo),
// -trimpath, symbols stripped, the version stamped as make build does.
func (r *release) binary(arch string) (string, error) {
	path := filepath.Join(r.work, "linux-"+arch, "streamsync")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.stamped="+r.version,
		"-o", path, "./cmd/streamsync")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build linux/%s: %w", arch, err)
	}
	if err := checkStatic(path, arch); err != nil {
		return "", err
	}
	return path, nil
}

// elfMachines are the ELF machine types of the GOARCH values built.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkStatic refuses a binary for the wrong machine or one that needs a
// dynamic loader (an interpreter or DT_NEEDED libraries).
func checkStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elfMachines[arch] {
		return fmt.Errorf("%s: ELF machine %s, want %s", path, f.Machine, elfMachines[arch])
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s: not static (has %s)", path, p.Type)
		}
	}
	return nil
}
