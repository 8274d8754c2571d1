package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimitFollowsTheContainerLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	const mib = 1 << 20
	for _, tc := range []struct {
		name, cgroup, env, gomemlimit string
		want                          int64
	}{
		{name: "a cgroup limit of 256 MiB leaves a quarter for what the collector does not manage", cgroup: "268435456\n", want: 192 * mib},
		{name: "the reserve is at most 256 MiB", cgroup: "4294967296\n", want: 4096*mib - 256*mib},
		{name: "no cgroup limit changes nothing", cgroup: "max\n", env: "256Mi", want: 0},
		{name: "an unreadable cgroup value changes nothing", cgroup: "lots", want: 0},
		{name: "without a cgroup file KUBEMAIL_MEMORY_LIMIT is the limit", env: "256Mi", want: 192 * mib},
		{name: "an unreadable KUBEMAIL_MEMORY_LIMIT changes nothing", env: "lots", want: 0},
		{name: "neither changes nothing", want: 0},
		{name: "GOMEMLIMIT wins", cgroup: "268435456\n", gomemlimit: "100MiB", want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			t.Setenv(memoryLimitEnv, tc.env)
			path := filepath.Join(t.TempDir(), "memory.max")
			if tc.cgroup != "" {
				if err := os.WriteFile(path, []byte(tc.cgroup), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := setMemoryLimit(path); got != tc.want {
				t.Errorf("setMemoryLimit = %d MiB, want %d MiB", got/mib, tc.want/mib)
			}
		})
	}
}
