// Package procstat reads what /proc tells about a process: CPU time, resident
// memory and threads, for the load generators.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Sample is what /proc tells about a process at one instant.
type Sample struct {
	CPUSeconds float64 // user + system time
	SysSeconds float64 // system (kernel) time alone
	RSSBytes   int64   // VmRSS
	Threads    int
}

// Read samples /proc/pid/stat and /proc/pid/status.
func Read(pid int) (Sample, error) {
	var s Sample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces; fields resume after the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	// After ')': state(0) ppid(1) ... utime is field 14 of the line, i.e. f[11]; stime f[12].
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("parse /proc/%d/stat times", pid)
	}
	s.CPUSeconds = float64(ut+st) / clockTicks
	s.SysSeconds = float64(st) / clockTicks

	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
			s.RSSBytes = n * 1024
		case "Threads":
			s.Threads, _ = strconv.Atoi(v)
		}
	}
	return s, sc.Err()
}
