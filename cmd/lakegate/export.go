package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/gateway"
)

// exportFlags configure one `lakegate export`.
type exportFlags struct {
	table, from, to, output, server string
	cred                            credentials // for --server
}

func newExportCommand(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	f := &exportFlags{}
	cmd := &cobra.Command{
		Use:   "export --table T [--from RFC3339] [--to RFC3339] -o FILE.parquet",
		Short: "Write one table (or a time window of it) as a single Parquet file",
		Long: `export writes the rows of a table with from <= ts < to as one Parquet file
(zstd, ts as TIMESTAMP(MILLIS, UTC)), buffered and stored rows alike.

With --server it asks that gateway (GET /db/export/{table}.parquet). Without,
it opens the config's storage.dir itself; if a gateway is running there (it
holds the directory's lock) it asks that gateway at listeners.http.address.
Opening the directory recovers it as a gateway start would: logged rows are
replayed and written to Parquet.`,
		Example: `  lakegate export --table sensors -o sensors.parquet
  lakegate export --table sensors --from 2024-03-10T00:00:00Z --to 2024-03-11T00:00:00Z -o day.parquet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runExport(ctx, g, f, stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&f.table, "table", "t", "", "table to export (required)")
	cmd.Flags().StringVar(&f.from, "from", "", "first time to include, RFC 3339 (default: the beginning)")
	cmd.Flags().StringVar(&f.to, "to", "", "first time to leave out, RFC 3339 (default: the end)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", `Parquet file to write, "-" for stdout (required)`)
	cmd.Flags().StringVar(&f.server, "server", "", "export from this running gateway's HTTP API instead of the data directory")
	_ = cmd.MarkFlagRequired("table")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runExport(ctx context.Context, g *globalFlags, f *exportFlags, stdout, stderr io.Writer) error {
	tr, err := gateway.ParseExportRange(f.from, f.to)
	if err != nil {
		return err
	}
	f.cred = g.credentials()
	if f.server != "" {
		return writeOutput(f.output, stdout, func(w io.Writer) error { return exportHTTP(ctx, f, w) })
	}
	cfg, err := gateway.LoadConfig(g.configFile)
	if err != nil {
		return err
	}
	applyRuntime(cfg.Runtime, nil)
	sc := cfg.Storage
	if _, err := os.Stat(sc.Dir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	log, err := newLogger(g.logLevel, stderr)
	if err != nil {
		return err
	}
	s, err := arrowstore.Open(ctx, arrowstore.Options{
		Dir: sc.Dir, TimeColumn: sc.TimeColumn, MaxRows: sc.Flush.MaxRows, MaxBytes: int64(sc.Flush.MaxBytes),
		MaxAge: sc.Flush.MaxAge, SyncInterval: sc.SyncInterval, Logger: log.With("component", "store"),
	})
	if errors.Is(err, arrowstore.ErrLocked) {
		f.server, err = serverURL(cfg.Listeners.HTTP.Address)
		if err != nil {
			return fmt.Errorf("a gateway is using %s and %w", sc.Dir, err)
		}
		return writeOutput(f.output, stdout, func(w io.Writer) error { return exportHTTP(ctx, f, w) })
	}
	if err != nil {
		return err
	}
	err = writeOutput(f.output, stdout, func(w io.Writer) error {
		snap, err := s.Snapshot(f.table, tr)
		if err != nil {
			return err
		}
		defer snap.Release()
		_, err = snap.WriteParquet(ctx, w)
		return err
	})
	return errors.Join(err, s.Close())
}

// exportHTTP streams GET /db/export/{table}.parquet from f.server into w.
func exportHTTP(ctx context.Context, f *exportFlags, w io.Writer) error {
	server := f.server
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	q := url.Values{}
	if f.from != "" {
		q.Set("from", f.from)
	}
	if f.to != "" {
		q.Set("to", f.to)
	}
	u := strings.TrimRight(server, "/") + "/db/export/" + url.PathEscape(f.table+".parquet")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	f.cred.apply(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var r queryReply
		if json.Unmarshal(body, &r) == nil && r.Reason != "" {
			return withAuthHint(resp.StatusCode, fmt.Errorf("export failed: %s", r.Reason))
		}
		return withAuthHint(resp.StatusCode, fmt.Errorf("export failed: %s: %s", resp.Status, strings.TrimSpace(string(body))))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading export from %s: %w", server, err)
	}
	return nil
}

// writeOutput runs write into path ("-": out) through a temporary file
// renamed into place only when write succeeded, so a failed export never
// leaves a truncated file under the name asked for.
func writeOutput(path string, out io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("creating output: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", path, err)
	}
	return nil
}
