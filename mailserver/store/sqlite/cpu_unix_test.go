//go:build unix

package sqlite

import (
	"syscall"
	"testing"
)

// reportCPU starts measuring the process's CPU time; the returned function
// reports it per operation. CPU time per operation is the figure that stays
// meaningful on a shared, loaded machine.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e3, "cpu-µs/op")
	}
}

func cpuTime() int64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return r.Utime.Nano() + r.Stime.Nano()
}
