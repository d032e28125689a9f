package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the Tested networks table in README.md from the network scenarios")

const (
	networksBegin = "<!-- tested-networks -->"
	networksEnd   = "<!-- /tested-networks -->"
)

// testedNetworksTable is the README's "Tested networks" block, made from
// networkScenarios.
func testedNetworksTable() string {
	var b strings.Builder
	b.WriteString("Generated from the scenarios of `internal/e2e/netsim_test.go` (`go test ./internal/e2e -run TestTestedNetworksTable -update-readme`).\n")
	b.WriteString("Each row is a test, run as root in `make test` and CI: it builds the networks out of Linux network namespaces, veth pairs and\n")
	b.WriteString("nftables NAT and firewall rules, runs the appliance in one namespace and each participant's headless Chromium in another, and\n")
	b.WriteString("checks that video frames are decoded on both sides and which ICE candidate pair carries them.\n\n")
	b.WriteString("| scenario | Alice's network | Bob's network | the call goes |\n|---|---|---|---|\n")
	for _, s := range networkScenarios {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", s.name, s.alice, s.bob, s.path)
	}
	return b.String()
}

// TestTestedNetworksTable fails when README.md's table is not the one the
// scenarios make; -update-readme rewrites it.
func TestTestedNetworksTable(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(readme, []byte(networksBegin))
	j := bytes.Index(readme, []byte(networksEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s … %s block", networksBegin, networksEnd)
	}
	start := i + len(networksBegin) + 1
	want := testedNetworksTable()
	if got := string(readme[start:j]); got == want {
		return
	} else if !*updateREADME {
		t.Fatalf("README.md's Tested networks table is stale; run: go test ./internal/e2e -run TestTestedNetworksTable -update-readme\n got:\n%s\nwant:\n%s", got, want)
	}
	out := append(append(append([]byte{}, readme[:start]...), want...), readme[j:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
