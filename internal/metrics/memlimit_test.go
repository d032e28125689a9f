package metrics

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cgroup string
		files  map[string]string
		want   float64
		wantOK bool
	}{
		{"v2", "0::/system.slice/streamsync.service\n",
			map[string]string{"system.slice/streamsync.service/memory.max": "536870912\n"}, 512 << 20, true},
		{"v2 unlimited", "0::/system.slice/streamsync.service\n",
			map[string]string{"system.slice/streamsync.service/memory.max": "max\n"}, math.Inf(1), true},
		{"v1", "4:memory:/system.slice/streamsync.service\n1:cpu,cpuacct:/\n0::/\n",
			map[string]string{"memory/system.slice/streamsync.service/memory.limit_in_bytes": "268435456\n"}, 256 << 20, true},
		{"v1 unlimited", "4:memory:/x\n",
			map[string]string{"memory/x/memory.limit_in_bytes": "9223372036854771712\n"}, math.Inf(1), true},
		{"v1 in a container (path not mounted)", "4:memory:/docker/abc\n",
			map[string]string{"memory/memory.limit_in_bytes": "1073741824\n"}, 1 << 30, true},
		{"none", "0::/\n", nil, 0, false},
		{"v2 garbage", "0::/x\n", map[string]string{"x/memory.max": "lots\n"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			proc := filepath.Join(dir, "cgroup")
			if err := os.WriteFile(proc, []byte(tc.cgroup), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, "fs")
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := memoryLimit(proc, root)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("memoryLimit = %g, %t; want %g, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, err := os.Stat("/proc/self/cgroup"); err == nil {
		n, ok := memoryLimit("/proc/self/cgroup", "/sys/fs/cgroup")
		t.Logf("this process: memory limit %g (%t)", n, ok)
	}
}
