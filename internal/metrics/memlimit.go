package metrics

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// v1Unlimited: cgroup v1 reports "no limit" as a huge number
// (PAGE_COUNTER_MAX pages, 2^63 rounded down to a page), never above this.
const v1Unlimited = 1 << 62

// memoryLimit is the memory limit of the cgroup this process is in, which
// systemd's MemoryMax= sets: memory.max (cgroup v2), else
// memory.limit_in_bytes of the memory controller (v1); +Inf when the
// cgroup has no limit. ok is false when neither can be read.
// procCgroup is /proc/self/cgroup, fsRoot /sys/fs/cgroup.
func memoryLimit(procCgroup, fsRoot string) (limit float64, ok bool) {
	f, err := os.Open(procCgroup)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var v2, v1 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path (cgroups(7))
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case hasController(parts[1], "memory"):
			v1 = parts[2]
		}
	}
	if v2 != "" {
		if n, found := readLimit(filepath.Join(fsRoot, v2, "memory.max")); found {
			return n, true
		}
	}
	if v1 != "" {
		for _, dir := range []string{filepath.Join(fsRoot, "memory", v1), filepath.Join(fsRoot, "memory")} {
			if n, found := readLimit(filepath.Join(dir, "memory.limit_in_bytes")); found {
				if n >= v1Unlimited {
					return math.Inf(1), true
				}
				return n, true
			}
		}
	}
	return 0, false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a limit file: +Inf for "max"; found is false when the
// file is missing or holds no positive number.
func readLimit(path string) (n float64, found bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	text := strings.TrimSpace(string(data))
	if text == "max" {
		return math.Inf(1), true
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return float64(v), true
}
