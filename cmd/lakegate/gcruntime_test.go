package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/lakegate/lakegate/gateway"
)

func TestApplyRuntime(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		if os.Getenv(env) != "" {
			t.Skipf("%s is set: the runtime settings come from the environment", env)
		}
	}
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	})

	if got := applyRuntime(gateway.RuntimeConfig{GCPercent: 300, MemoryLimit: 256 << 20}, nil); got != 256<<20 {
		t.Errorf("memory limit in force: %d, want %d", got, 256<<20)
	}
	if got := debug.SetGCPercent(100); got != 300 {
		t.Errorf("gc percent: %d, want 300", got)
	}

	// 0: half of what the machine has.
	mem := machineMemory()
	got := applyRuntime(gateway.RuntimeConfig{GCPercent: 400}, nil)
	if mem == 0 {
		t.Skip("machine memory unknown here")
	}
	if got != mem/2 {
		t.Errorf("auto memory limit: %d, want half of %d", got, mem)
	}

	// The environment wins.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	applyRuntime(gateway.RuntimeConfig{GCPercent: 400}, nil)
	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("with GOGC set, gc percent changed to %d", got)
	}
}

func TestMachineMemoryFiles(t *testing.T) {
	dir := t.TempDir()
	meminfo := filepath.Join(dir, "meminfo")
	if err := os.WriteFile(meminfo, []byte("MemFree:  100 kB\nMemTotal:       24576000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := memTotal(meminfo); got != 24576000<<10 {
		t.Errorf("memTotal: %d", got)
	}
	if got := memTotal(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("memTotal of a missing file: %d", got)
	}
	for content, want := range map[string]int64{"max\n": 0, "536870912\n": 536870912, "junk": 0} {
		p := filepath.Join(dir, "memory.max")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := cgroupLimit(p); got != want {
			t.Errorf("cgroupLimit(%q) = %d, want %d", content, got, want)
		}
	}
}
