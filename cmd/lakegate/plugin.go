package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/formatters"
	"github.com/lakegate/lakegate/plugins"
)

// pluginFlags are the flags the plugin subcommands share.
type pluginFlags struct {
	dir      string
	cacheDir string
	options  []string
	table    string
}

// newPluginCommand groups the tools for formatter plugin authors: check a
// module against the ABI, and run one message through it as the gateway
// would.
func newPluginCommand(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	pf := &pluginFlags{}
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Check and try formatter plugins (WASM modules)",
		Long: "PLUGIN is a .wasm file, a built-in formatter id (json) or, with --dir, the id of a\n" +
			"module in that directory, as a route's formatter: names it.",
	}
	cmd.PersistentFlags().StringVar(&pf.dir, "dir", "", "plugin directory: ID names ID.wasm in it")
	cmd.PersistentFlags().StringVar(&pf.cacheDir, "cache-dir", "", "compilation cache directory (default: none, compile every time)")
	cmd.PersistentFlags().StringArrayVarP(&pf.options, "option", "o", nil, "route option KEY=VALUE, repeatable, in route order")
	cmd.PersistentFlags().StringVar(&pf.table, "table", "data", "the route's table")
	cmd.AddCommand(newPluginCheckCommand(g, pf, stdout, stderr), newPluginTestCommand(g, pf, stdout, stderr))
	return cmd
}

func newPluginCheckCommand(g *globalFlags, pf *pluginFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check PLUGIN",
		Short: "Load a plugin as the gateway does: ABI version, exports, imports, memory, start; and its route options",
		Example: "  lakegate plugin check acme.wasm\n" +
			"  lakegate plugin check json -o time_format=ms",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmdContext(cmd)
			start := time.Now()
			lp, err := loadPlugin(ctx, g, pf, args[0], stderr)
			if err != nil {
				return err
			}
			defer lp.close(ctx)
			loaded := time.Since(start)
			if err := lp.f.CheckRoute(ctx, lp.route); err != nil {
				return fmt.Errorf("route options: %w", err)
			}
			fmt.Fprintf(stdout, "%s: ok: lakegate ABI version %d, %d bytes, loaded in %v", lp.src, plugins.ABIVersion, lp.size, loaded.Round(time.Millisecond))
			if len(lp.route.Options) > 0 {
				fmt.Fprintf(stdout, ", accepts %d route option(s)", len(lp.route.Options))
			}
			fmt.Fprintln(stdout)
			return nil
		},
	}
}

func newPluginTestCommand(g *globalFlags, pf *pluginFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		topic, payloadFile, format string
	)
	cmd := &cobra.Command{
		Use:   "test PLUGIN --topic TOPIC --payload FILE",
		Short: "Run one message through a plugin and print the rows it would write, or its error",
		Example: "  lakegate plugin test json --topic sensors/d1/data --payload reading.json -o time_format=ms\n" +
			"  printf '%s' '{\"temp\":21.5}' | lakegate plugin test json --topic t --payload - --format jsonl",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "jsonl" {
				return fmt.Errorf("--format %q: want table or jsonl", format)
			}
			payload, err := readPayload(cmd.InOrStdin(), payloadFile)
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			lp, err := loadPlugin(ctx, g, pf, args[0], stderr)
			if err != nil {
				return err
			}
			defer lp.close(ctx)
			if err := lp.f.CheckRoute(ctx, lp.route); err != nil {
				return fmt.Errorf("route options: %w", err)
			}
			msg := &rows.Message{Topic: topic, Payload: payload, ClientID: "lakegate-plugin-test", QoS: 1, ProtocolVersion: 5, Received: time.Now()}
			rs, err := lp.f.Format(ctx, msg, lp.route)
			if err != nil {
				return err
			}
			if format == "jsonl" {
				return writeRowsJSONL(stdout, rs)
			}
			return writeRowsTable(stdout, rs)
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the message's topic (required)")
	cmd.Flags().StringVar(&payloadFile, "payload", "", "file holding the payload, - for standard input (required)")
	cmd.Flags().StringVar(&format, "format", "table", "table or jsonl (one JSON object per row)")
	_ = cmd.MarkFlagRequired("topic")
	_ = cmd.MarkFlagRequired("payload")
	return cmd
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func readPayload(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading payload from standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading payload: %w", err)
	}
	return b, nil
}

// loadedPlugin is a plugin loaded into a runtime of its own.
type loadedPlugin struct {
	src   formatters.Source
	size  int
	rt    *plugins.Runtime
	f     *plugins.Formatter
	route *plugins.Route
}

func (lp *loadedPlugin) close(ctx context.Context) { _ = lp.rt.Close(ctx) }

// loadPlugin resolves arg as the gateway resolves a route's formatter (a
// file path is taken as plugin:PATH) and loads it with the default limits
// and one instance.
func loadPlugin(ctx context.Context, g *globalFlags, pf *pluginFlags, arg string, stderr io.Writer) (*loadedPlugin, error) {
	route := &plugins.Route{Table: pf.table}
	for _, o := range pf.options {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--option %q: want KEY=VALUE", o)
		}
		route.Options = append(route.Options, plugins.Option{Key: k, Value: v})
	}
	id := arg
	if _, ok := formatters.Lookup(arg); !ok && (strings.HasSuffix(arg, ".wasm") || strings.ContainsRune(arg, os.PathSeparator)) {
		id = formatters.PluginPrefix + arg
	}
	src, err := formatters.Resolve(id, pf.dir)
	if err != nil {
		return nil, err
	}
	wasm, err := src.Module()
	if err != nil {
		return nil, err
	}
	log, err := newLogger(g.logLevel, stderr)
	if err != nil {
		return nil, err
	}
	rt, err := plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: pf.cacheDir, Logger: log})
	if err != nil {
		return nil, err
	}
	f, err := rt.Load(ctx, arg, wasm, plugins.Limits{Instances: 1})
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return &loadedPlugin{src: src, size: len(wasm), rt: rt, f: f, route: route}, nil
}

// jsonRow is one row of `plugin test --format jsonl`.
type jsonRow struct {
	Table   string       `json:"table"`
	Time    string       `json:"time"`
	Columns []jsonColumn `json:"columns"`
}

type jsonColumn struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

func writeRowsJSONL(w io.Writer, rs []rows.Row) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		jr := jsonRow{Table: r.Table, Time: formatTime(r.Time), Columns: make([]jsonColumn, 0, len(r.Columns))}
		for _, c := range r.Columns {
			jr.Columns = append(jr.Columns, jsonColumn{Name: c.Name, Type: c.Value.Kind.String(), Value: jsonValue(c.Value)})
		}
		if err := enc.Encode(jr); err != nil {
			return err
		}
	}
	return nil
}

// writeRowsTable prints one line per column, so that rows with different
// columns stay readable.
func writeRowsTable(w io.Writer, rs []rows.Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROW\tTABLE\tTIME\tCOLUMN\tTYPE\tVALUE")
	for i, r := range rs {
		if len(r.Columns) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t%s\t\t\t\n", i+1, r.Table, formatTime(r.Time))
		}
		for _, c := range r.Columns {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, r.Table, formatTime(r.Time), c.Name, c.Value.Kind, textValue(c.Value))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d row(s)\n", len(rs))
	return err
}

func formatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func jsonValue(v rows.Value) any {
	switch v.Kind {
	case rows.KindInt64:
		return v.Int
	case rows.KindFloat64:
		if v.Float != v.Float || v.Float > 1.7976931348623157e308 || v.Float < -1.7976931348623157e308 {
			return strconv.FormatFloat(v.Float, 'g', -1, 64) // NaN and ±Inf are not JSON numbers
		}
		return v.Float
	case rows.KindBool:
		return v.AsBool()
	case rows.KindString:
		return v.Str
	case rows.KindBytes:
		return v.Bytes // base64
	case rows.KindTimestamp:
		return formatTime(v.Int)
	}
	return nil
}

func textValue(v rows.Value) string {
	switch v.Kind {
	case rows.KindNull:
		return "NULL"
	case rows.KindInt64:
		return strconv.FormatInt(v.Int, 10)
	case rows.KindFloat64:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case rows.KindBool:
		return strconv.FormatBool(v.AsBool())
	case rows.KindString:
		return strconv.Quote(v.Str)
	case rows.KindBytes:
		return fmt.Sprintf("0x%x", v.Bytes)
	case rows.KindTimestamp:
		return formatTime(v.Int)
	}
	return "?"
}
