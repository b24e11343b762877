package arrowstore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

const (
	killDirEnv   = "LAKEGATE_KILL_DIR"   // data directory; set only in the child
	killStartEnv = "LAKEGATE_KILL_START" // first row number the child writes
)

// killOptions flush every few rows and compact every few milliseconds, so
// a kill lands in flushes and compactions.
func killOptions(dir string) Options {
	return Options{
		Dir: dir, MaxRows: 15, MaxAge: 5 * time.Millisecond, SyncInterval: 5 * time.Millisecond,
		CompactMinFiles: 2, MaintenanceInterval: 7 * time.Millisecond,
	}
}

// TestHelperStoreProcess is not a test: it is the child of
// TestKill9DuringCompaction. It writes durable rows from 4 goroutines
// and prints "ack <n>" once each Write returned, until it is killed.
func TestHelperStoreProcess(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("child process of TestKill9DuringCompaction")
	}
	start, _ := strconv.Atoi(os.Getenv(killStartEnv))
	s, err := Open(context.Background(), killOptions(dir))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := start + g; ; n += 4 {
				ts := at(time.Duration(n%2)*24*time.Hour + time.Duration(n)*time.Millisecond)
				if _, err := s.Write(context.Background(), []rows.Row{row("k", ts, col("n", rows.Int(int64(n))))}, true); err != nil {
					fmt.Fprintln(os.Stderr, "write:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d\n", n)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKill9DuringCompaction SIGKILLs a child process writing durable rows
// while it flushes and compacts every few milliseconds, restarts it on the
// same directory several times, and checks every acknowledged row is
// stored exactly once and nothing is stored twice.
func TestKill9DuringCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	acked := map[int64]bool{}
	next := 0
	// At least 6 rounds, and more (up to 12) until a compaction finished
	// at least once: under -race a flush takes tens of milliseconds and
	// compaction waits for the flush lock, so a short round may see none.
	for round := 0; round < 6 || (round < 12 && countCompacted(t, dir) == 0); round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStoreProcess$")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killStartEnv+"="+strconv.Itoa(next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		life := time.Duration(300+rng.IntN(600)) * time.Millisecond
		if round >= 6 {
			life = 2 * time.Second // long enough for a compaction to finish
		}
		timer := time.AfterFunc(life, func() { _ = cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() { // ends when the killed child's pipe closes
			line := sc.Text()
			v, ok := strings.CutPrefix(line, "ack ")
			if !ok {
				timer.Stop()
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: child said %q", round, line)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue // a line cut by the kill
			}
			acked[n] = true
			next = max(next, int(n)+1)
		}
		_ = cmd.Wait()
		next += 1000 // rows in flight at the kill may be stored: never reuse their numbers
	}
	if len(acked) < 100 {
		t.Fatalf("only %d rows acknowledged: the test tested little", len(acked))
	}

	mem := newChecked(t)
	opts := testOptions(t, dir, mem)
	opts.CompactMinFiles = -1
	s := openTest(t, opts)
	defer s.Close()
	seen := map[int64]int{}
	snap, err := s.Snapshot("k", AllTime())
	if err != nil {
		t.Fatal(err)
	}
	err = snap.Scan(context.Background(), []string{"n"}, func(rec arrow.Record) error {
		ns := rec.Column(0).(*array.Int64)
		for i := 0; i < ns.Len(); i++ {
			seen[ns.Value(i)]++
		}
		return nil
	})
	snap.Release()
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for n := range acked {
		if seen[n] != 1 {
			if bad++; bad <= 5 {
				t.Errorf("acknowledged row %d stored %d times", n, seen[n])
			}
		}
	}
	for n, k := range seen {
		if k > 1 {
			if bad++; bad <= 5 {
				t.Errorf("row %d stored %d times", n, k)
			}
		}
	}
	files := parquetFiles(t, dir, "k")
	compacted := countCompacted(t, dir)
	t.Logf("%d acknowledged, %d stored, %d files of which %d compacted", len(acked), len(seen), len(files), compacted)
	if compacted == 0 {
		t.Error("no compacted file: the kills did not exercise compaction")
	}
}

// countCompacted counts the files of table k that a compaction wrote.
func countCompacted(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, f := range parquetFiles(t, dir, "k") {
		rdr, err := file.OpenParquetFile(filepath.Join(dir, f), false)
		if err != nil {
			t.Fatal(err)
		}
		if rdr.MetaData().KeyValueMetadata().FindValue(replacesKey) != nil {
			n++
		}
		rdr.Close()
	}
	return n
}
