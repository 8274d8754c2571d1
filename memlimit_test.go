package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimitFollowsTheCgroup(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(math.MaxInt64)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          int64
	}{
		{"a limit of 256 MiB gives 90% of it", "268435456\n", 268435456 / 10 * 9},
		{"no limit changes nothing", "max\n", 0},
		{"an unreadable value changes nothing", "lots", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "memory.max")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := setMemoryLimit(path); got != tc.want {
				t.Errorf("setMemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
	if got := setMemoryLimit(filepath.Join(dir, "absent")); got != 0 {
		t.Errorf("no cgroup file: %d", got)
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := setMemoryLimit(filepath.Join(dir, "memory.max")); got != 0 {
		t.Errorf("GOMEMLIMIT set: %d", got)
	}
}
