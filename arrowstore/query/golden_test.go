package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected files of the golden cases")

// caseConfig is a golden case's optional config.json.
type caseConfig struct {
	Output     string `json:"output"`     // "json" (default) or "csv"
	TimeFormat string `json:"timeformat"` // as the timeformat option
	MaxRows    int    `json:"max_rows"`   // Options.MaxRows
	Error      string `json:"error"`      // the sentinel the query must fail with
}

// sentinels names the errors a case's config may expect.
var sentinels = map[string]error{
	"ErrSyntax":      ErrSyntax,
	"ErrUnsupported": ErrUnsupported,
	"ErrNoTable":     ErrNoTable,
	"ErrNoColumn":    ErrNoColumn,
	"ErrTooManyRows": ErrTooManyRows,
}

// goldenCase is one folder of testdata.
type goldenCase struct {
	name string
	dir  string
	sql  string
	cfg  caseConfig
}

// loadCases reads every testdata/<case>/query.sql.
func loadCases(t testing.TB) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "query.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden cases in testdata")
	}
	var cases []goldenCase
	for _, p := range paths {
		dir := filepath.Dir(p)
		sql, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := goldenCase{name: filepath.Base(dir), dir: dir, sql: strings.TrimSpace(string(sql))}
		if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c.cfg); err != nil {
				t.Fatalf("%s: config.json: %v", dir, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if c.cfg.Error != "" && sentinels[c.cfg.Error] == nil {
			t.Fatalf("%s: unknown error %q in config.json", dir, c.cfg.Error)
		}
		cases = append(cases, c)
	}
	return cases
}

// run answers the case over src and encodes the answer as the case asks,
// with a zero elapsed time so that the output is stable.
func (c goldenCase) run(t *testing.T, src Source, mem Options) (out []byte, file string) {
	t.Helper()
	opts := mem
	opts.MaxRows = c.cfg.MaxRows
	res, err := NewEngine(src, opts).Query(context.Background(), c.sql)
	var buf bytes.Buffer
	switch {
	case c.cfg.Error != "":
		if err == nil {
			t.Fatalf("query succeeded, want %s", c.cfg.Error)
		}
		if !errors.Is(err, sentinels[c.cfg.Error]) {
			t.Fatalf("error %q is not %s", err, c.cfg.Error)
		}
		if err := WriteJSONError(&buf, err, 0); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), "expected.json"
	case err != nil:
		t.Fatalf("query: %v", err)
	}
	tf, err := ParseTimeFormat(c.cfg.TimeFormat)
	if err != nil {
		t.Fatal(err)
	}
	f := Format{Time: tf}
	switch c.cfg.Output {
	case "", "json":
		if err := WriteJSON(&buf, res, 0, f); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("invalid JSON: %s", buf.Bytes())
		}
		return buf.Bytes(), "expected.json"
	case "csv":
		if err := WriteCSV(&buf, res, f); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), "expected.csv"
	}
	t.Fatalf("unknown output %q", c.cfg.Output)
	return nil, ""
}

// TestGolden runs every testdata case against every Source implementation.
// With -update, the in-memory source (which runs first) rewrites the
// expected files and the store variants are still compared with them.
func TestGolden(t *testing.T) {
	cases := loadCases(t)
	for _, sk := range allSources {
		t.Run(sk.name, func(t *testing.T) {
			mem := newChecked(t)
			src := sk.open(t, mem, testRows())
			opts := Options{Allocator: mem, Logger: testLogger(t)}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, file := c.run(t, src, opts)
					path := filepath.Join(c.dir, file)
					if *update && sk.name == allSources[0].name {
						if err := os.WriteFile(path, got, 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run with -update to create it)", err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", c.name, c.sql, got, want)
					}
				})
			}
		})
	}
}
