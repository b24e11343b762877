package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/lakegate/lakegate/gateway"
)

// applyRuntime sets the garbage collector's target and soft memory limit
// from the runtime section of the config, unless GOGC or GOMEMLIMIT is set
// in the environment, which the Go runtime has already applied. It returns
// the memory limit in force (0 for none), for the log.
func applyRuntime(rc gateway.RuntimeConfig, log *slog.Logger) int64 {
	if os.Getenv("GOGC") == "" && rc.GCPercent != 0 {
		debug.SetGCPercent(rc.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(rc.MemoryLimit)
		if limit == 0 {
			limit = machineMemory() / 2
		}
		if limit > 0 {
			debug.SetMemoryLimit(limit)
		}
	}
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		limit = 0
	}
	if log != nil {
		gc := strconv.Itoa(rc.GCPercent)
		if env := os.Getenv("GOGC"); env != "" {
			gc = env + " (GOGC)"
		}
		log.Debug("go runtime", "gc_percent", gc, "memory_limit", limit)
	}
	return limit
}

// machineMemory returns the memory the process may use: the machine's
// (MemTotal in /proc/meminfo), or the cgroup v2 limit if lower; 0 when
// neither can be read (other systems).
func machineMemory() int64 {
	total := memTotal("/proc/meminfo")
	if lim := cgroupLimit("/sys/fs/cgroup/memory.max"); lim > 0 && (total == 0 || lim < total) {
		return lim
	}
	return total
}

// memTotal reads MemTotal (in kB) from a meminfo file.
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil || kb <= 0 {
			return 0
		}
		return kb << 10
	}
	return 0
}

// cgroupLimit reads a cgroup v2 memory.max file: bytes, or 0 for "max" or
// when it cannot be read.
func cgroupLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
