package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// cgroupMemoryMax is the cgroup v2 memory limit of this container.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitEnv names the memory limit to plan for when no cgroup limit
// is visible: a quantity such as 256Mi, e.g. the Downward API's
// limits.memory.
const memoryLimitEnv = "KUBEMAIL_MEMORY_LIMIT"

// setMemoryLimit makes the garbage collector keep the memory Go manages
// under the container's memory limit less a reserve, so a pod runs to its
// limit by collecting harder rather than by being OOM-killed, unless
// GOMEMLIMIT says otherwise. The reserve — a quarter of the limit, at most
// 256 MiB — is for what the collector does not manage but the limit
// counts: the binary's code and data that are resident (about 55 MiB for
// the operator), and the collector's own overshoot. Without a limit (or
// outside a container, and without KUBEMAIL_MEMORY_LIMIT) nothing changes.
// It returns the limit set, 0 for none.
func setMemoryLimit(path string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := containerMemoryLimit(path)
	if limit <= 0 {
		return 0
	}
	soft := limit - min(limit/4, 256<<20)
	debug.SetMemoryLimit(soft)
	return soft
}

// containerMemoryLimit reads the cgroup's memory.max, or else
// KUBEMAIL_MEMORY_LIMIT; 0 when neither gives a limit.
func containerMemoryLimit(path string) int64 {
	if data, err := os.ReadFile(path); err == nil {
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64) // "max" means none
		if err == nil && limit > 0 {
			return limit
		}
		return 0
	}
	q, err := resource.ParseQuantity(os.Getenv(memoryLimitEnv))
	if err != nil {
		return 0
	}
	return q.Value()
}
