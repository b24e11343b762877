package plugintest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

// Received is the receive time of every golden-case message; rows without
// a time of their own carry it.
var Received = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// CaseConfig is a case's options.yaml: the route and the message's topic.
type CaseConfig struct {
	Table   string           `yaml:"table"`
	Topic   string           `yaml:"topic"`
	Options []plugins.Option `yaml:"options"`
}

// RunCases runs every case folder under dir (testdata/<case>/) through f,
// one subtest each, and compares Render's output with the case's
// expected.json; with update it rewrites expected.json instead.
//
// A case holds its payload as payload.hex (hex digits; whitespace and
// #-comments to the end of a line are ignored, for binary formats) or as
// any other payload.* file taken verbatim, and optionally options.yaml
// (CaseConfig; the table defaults to def.Table, the topic to def.Topic).
func RunCases(t *testing.T, f *plugins.Formatter, dir string, def CaseConfig, update bool) {
	t.Helper()
	payloads, err := filepath.Glob(filepath.Join(dir, "*", "payload.*"))
	if err != nil || len(payloads) == 0 {
		t.Fatalf("no cases in %s: %v", dir, err)
	}
	for _, p := range payloads {
		cdir := filepath.Dir(p)
		t.Run(filepath.Base(cdir), func(t *testing.T) {
			payload, err := ReadPayload(p)
			if err != nil {
				t.Fatal(err)
			}
			cfg := def
			if b, err := os.ReadFile(filepath.Join(cdir, "options.yaml")); err == nil {
				if err := yaml.Unmarshal(b, &cfg); err != nil {
					t.Fatalf("options.yaml: %v", err)
				}
			}
			msg := &rows.Message{Topic: cfg.Topic, Payload: payload, ProtocolVersion: 5, Received: Received}
			rs, ferr := f.Format(context.Background(), msg, &plugins.Route{Table: cfg.Table, Options: cfg.Options})
			got, err := Render(rs, ferr)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(cdir, "expected.json")
			if update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, exp) {
				t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", want, got, exp)
			}
		})
	}
}

// ReadPayload reads a case's payload file: payload.hex is decoded, any
// other file is taken as it is.
func ReadPayload(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil || filepath.Ext(path) != ".hex" {
		return b, err
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(digits.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

type renderedColumn struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Value any    `json:"value"`
}

type renderedRow struct {
	Table   string           `json:"table"`
	Time    string           `json:"time"`
	Columns []renderedColumn `json:"columns"`
}

type renderedError struct {
	Reason string `json:"reason"`
	Text   string `json:"text"`
}

// Render writes what a Format call returned as indented JSON: the rows
// (table, RFC 3339 time, columns with kind and value) or the error's reason
// and text. It is the format of the golden expected.json files.
func Render(rs []rows.Row, err error) ([]byte, error) {
	var doc struct {
		Rows  []renderedRow  `json:"rows,omitempty"`
		Error *renderedError `json:"error,omitempty"`
	}
	if err != nil {
		var pe *plugins.Error
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("error %v is not a *plugins.Error", err)
		}
		if (pe.Reason == plugins.ReasonMalformed) != errors.Is(err, rows.ErrMalformedPayload) {
			return nil, fmt.Errorf("reason %s and sentinel disagree", pe.Reason)
		}
		doc.Error = &renderedError{Reason: pe.Reason.String(), Text: pe.Text}
	}
	for _, r := range rs {
		rr := renderedRow{Table: r.Table, Time: time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano), Columns: []renderedColumn{}}
		for _, c := range r.Columns {
			rc := renderedColumn{Name: c.Name, Kind: c.Value.Kind.String()}
			switch c.Value.Kind {
			case rows.KindInt64:
				rc.Value = c.Value.Int
			case rows.KindFloat64:
				rc.Value = c.Value.Float
			case rows.KindBool:
				rc.Value = c.Value.AsBool()
			case rows.KindString:
				rc.Value = c.Value.Str
			case rows.KindBytes:
				rc.Value = c.Value.Bytes
			case rows.KindTimestamp:
				rc.Value = time.Unix(0, c.Value.Int).UTC().Format(time.RFC3339Nano)
			}
			rr.Columns = append(rr.Columns, rc)
		}
		doc.Rows = append(doc.Rows, rr)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
