package arrowstore

import (
	"slices"
	"testing"
)

func TestCompactionPick(t *testing.T) {
	files := func(sizes ...int64) []*dataFile {
		fs := make([]*dataFile, len(sizes))
		for i, s := range sizes {
			fs[i] = &dataFile{n: uint64(i), size: s}
		}
		return fs
	}
	tests := []struct {
		name     string
		sizes    []int64
		maxBytes int64
		minFiles int
		want     []uint64 // part numbers picked
	}{
		{"too few", []int64{1, 1, 1}, 100, 4, nil},
		{"equal files", []int64{1, 1, 1, 1}, 100, 4, []uint64{0, 1, 2, 3}},
		{"near-equal files", []int64{10, 12, 15, 20}, 100, 4, []uint64{0, 1, 2, 3}},
		{"merged file waits for its peers", []int64{40, 1, 1, 1}, 100, 4, nil},
		{"small ones merge without it", []int64{40, 1, 1, 1, 1}, 100, 4, []uint64{1, 2, 3, 4}},
		{"peers of the merged file", []int64{4, 1, 1, 1, 1, 4, 4, 4}, 100, 4, []uint64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"at or over the limit left alone", []int64{100, 150, 1, 1, 1}, 100, 3, []uint64{2, 3, 4}},
		{"up to the limit together", []int64{30, 30, 30, 30}, 100, 3, []uint64{0, 1, 2}},
		{"part order kept", []int64{3, 1, 2}, 100, 3, []uint64{0, 1, 2}},
		{"sizes doubling never merge", []int64{1, 2, 4, 8, 16}, 100, 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, f := range compactionPick(files(tc.sizes...), tc.maxBytes, tc.minFiles) {
				got = append(got, f.n)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("picked %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCompactionRewritesFewTimes plays a partition that receives a few
// flushed files between maintenance runs, for as long as it takes to fill
// maxBytes many times over. Merges must grow the files they take by a good
// factor, or rows are rewritten once per run until their file is full; and
// the partition must not pile up small files. (The old rule, every small
// file into the oldest, stalled here: once the merged file was within a
// few small files of maxBytes, too few fitted beside it, and 29,569 small
// files were left at the end.)
func TestCompactionRewritesFewTimes(t *testing.T) {
	const (
		maxBytes  = 64 << 20
		flushed   = 150 << 10 // a file of ten seconds of a modest device fleet
		perRun    = 6         // files flushed between two runs (one a minute)
		minFiles  = 8
		runs      = 5000
		wantBelow = 4.0
	)
	var part []*dataFile
	var written, rewritten int64
	next := uint64(0)
	for range runs {
		for range perRun {
			part = append(part, &dataFile{n: next, size: flushed})
			next++
			written += flushed
		}
		pick := compactionPick(part, maxBytes, minFiles)
		if pick == nil {
			continue
		}
		var merged int64
		for _, f := range pick {
			merged += f.size
		}
		part = slices.DeleteFunc(part, func(f *dataFile) bool { return slices.Contains(pick, f) })
		part = append(part, &dataFile{n: next, size: merged})
		next++
		rewritten += merged
	}
	amp := float64(rewritten) / float64(written)
	t.Logf("%d files left, merges wrote %.2f bytes per byte flushed", len(part), amp)
	if amp >= wantBelow {
		t.Errorf("merges wrote %.2f bytes per byte flushed, want below %.1f", amp, wantBelow)
	}
	// Merged files end between maxBytes/2 and maxBytes (two halves do not
	// fit in one), beside fewer than minFiles files of each smaller size.
	if limit := int(2*written/maxBytes) + 4*minFiles; len(part) > limit {
		t.Errorf("%d files left in the partition, want at most %d", len(part), limit)
	}
}
