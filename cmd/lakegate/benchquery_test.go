package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchQueryRuns drives a small bench-query end to end: the table is
// written through arrowstore to Parquet, lakegate answers the three
// queries and DuckDB answers them on the same files, and both answers must
// agree (the command fails otherwise). It asserts nothing about speed. A
// second run reuses the data directory.
func TestBenchQueryRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	duck := filepath.Join("..", "..", "testdata", "duckdb")
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(duck, "node_modules", "@duckdb", "node-api"))
	if nodeErr != nil || modErr != nil {
		msg := "DuckDB reader not installed: run `npm install --prefix testdata/duckdb` (needs node)"
		if os.Getenv("LAKEGATE_REQUIRE_TOOLCHAINS") == "1" {
			t.Fatal(msg)
		}
		t.Log(msg + "; running lakegate only")
		duck = ""
	}
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"bench-query", "--rows", "30000", "--devices", "40", "--runs", "1", "--dir", dir, "--duckdb", duck}
	for range 2 {
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, q := range []string{"full-scan", "range-1pct", "latest"} {
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, q) {
					line = l
				}
			}
			switch {
			case line == "":
				t.Fatalf("no line for %s:\n%s", q, out)
			case duck != "" && !strings.HasSuffix(strings.TrimSpace(line), "yes"):
				t.Errorf("lakegate and DuckDB disagree on %s:\n%s", q, out)
			}
		}
		if !strings.Contains(out, "30000 rows, 40 devices") {
			t.Errorf("output lacks the table size:\n%s", out)
		}
	}
	if _, err := run(t, "bench-query", "--rows", "100", "--dir", dir); err == nil {
		t.Error("reusing a data dir holding another table succeeded")
	}
}
