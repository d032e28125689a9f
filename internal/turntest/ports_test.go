package turntest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestRelayPortsDisjoint: concurrent reservations in one process never
// overlap, have the size asked for, stay below the ephemeral ports, and a
// released range can be reserved again.
func TestRelayPortsDisjoint(t *testing.T) {
	var mu sync.Mutex
	var got []Ports
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 100 + 37*i // sizes that are not whole blocks too
			p, err := ReserveRelayPorts(n)
			if err != nil {
				t.Error(err)
				return
			}
			if p.Max-p.Min+1 != n || p.Min < firstPort || p.Max > lastPort {
				t.Errorf("asked %d ports, got %d-%d", n, p.Min, p.Max)
			}
			mu.Lock()
			got = append(got, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i, a := range got {
		for _, b := range got[i+1:] {
			if a.Min <= b.Max && b.Min <= a.Max {
				t.Errorf("ranges overlap: %d-%d and %d-%d", a.Min, a.Max, b.Min, b.Max)
			}
		}
	}
	for _, p := range got {
		b := (p.Min - firstPort) / portBlock
		if _, ok := lockBlocks(lockDir(), b, 1); ok {
			t.Errorf("block %d of a held range taken again", b)
		}
		p.release()
		release, ok := lockBlocks(lockDir(), b, 1)
		if !ok {
			t.Errorf("block %d not free after release", b)
			continue
		}
		release()
	}
}

// TestRelayPortsAcrossProcesses: a range this process holds is refused to
// another test process while held.
func TestRelayPortsAcrossProcesses(t *testing.T) {
	if b := os.Getenv("TURNTEST_CHILD_BLOCK"); b != "" {
		n, _ := strconv.Atoi(b)
		if release, ok := lockBlocks(lockDir(), n, 1); ok {
			release()
			os.Stdout.WriteString("child took the block\n")
		}
		return
	}
	held := RelayPorts(t, 100)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayPortsAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TURNTEST_CHILD_BLOCK="+strconv.Itoa((held.Min-firstPort)/portBlock))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "child took the block") {
		t.Fatalf("another process took the block of %d-%d while it was held", held.Min, held.Max)
	}
	if !strings.Contains(held.TOML(), "relay_port_min = "+strconv.Itoa(held.Min)+"\n") {
		t.Fatalf("TOML() = %q", held.TOML())
	}
}
