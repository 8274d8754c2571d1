package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is the cgroup v2 memory limit of this container.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// setMemoryLimit makes the garbage collector keep the heap under 90% of
// the container's memory limit, so a pod runs to its limit by collecting
// harder rather than by being OOM-killed, unless GOMEMLIMIT says
// otherwise. Without a limit (or outside a container) nothing changes. It
// returns the limit set, 0 for none.
func setMemoryLimit(path string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64) // "max" means none
	if err != nil || limit <= 0 {
		return 0
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	return soft
}
