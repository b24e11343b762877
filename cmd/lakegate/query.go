package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/gateway"
)

func newQueryCommand(g *globalFlags, stdout io.Writer) *cobra.Command {
	var server, format, timeformat string
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run a SQL query against a running gateway's HTTP API",
		Example: `  lakegate query "SELECT device, temp FROM sensors ORDER BY ts DESC LIMIT 10"
  lakegate query --format csv "SELECT * FROM sensors"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := g.server(server)
			if err != nil {
				return err
			}
			return runQuery(stdout, server, g.credentials(), args[0], format, timeformat)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "gateway HTTP address (default: from the config's listeners.http.address)")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output: table, csv or json")
	cmd.Flags().StringVar(&timeformat, "timeformat", "rfc3339", "time values as rfc3339, s, ms, us or ns")
	return cmd
}

// server returns the gateway URL to call: flag when given, else the HTTP
// listen address of the config (--config or the embedded default).
func (g *globalFlags) server(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := gateway.LoadConfig(g.configFile)
	if err != nil {
		return "", err
	}
	return serverURL(cfg.Listeners.HTTP.Address)
}

// serverURL turns a listen address such as ":5654" into a URL to call.
func serverURL(listen string) (string, error) {
	if listen == "" {
		return "", fmt.Errorf("the config has no listeners.http.address; pass --server")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listeners.http.address %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// queryReply is the JSON answer of /db/query.
type queryReply struct {
	Success bool   `json:"success"`
	Reason  string `json:"reason"`
	Elapse  string `json:"elapse"`
	Data    struct {
		Columns []string `json:"columns"`
		Types   []string `json:"types"`
		Rows    [][]any  `json:"rows"`
	} `json:"data"`
}

func runQuery(stdout io.Writer, server string, cred credentials, sql, format, timeformat string) error {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	wire := format
	if format == "table" {
		wire = "json"
	}
	if wire != "json" && wire != "csv" {
		return fmt.Errorf("--format %q: want table, csv or json", format)
	}
	form := url.Values{"q": {sql}, "format": {wire}, "timeformat": {timeformat}}
	client := &http.Client{Timeout: 5 * time.Minute}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(server, "/")+"/db/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cred.apply(req)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading answer from %s: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		var r queryReply
		if json.Unmarshal(body, &r) == nil && r.Reason != "" {
			return withAuthHint(resp.StatusCode, fmt.Errorf("query failed: %s", r.Reason))
		}
		return withAuthHint(resp.StatusCode, fmt.Errorf("query failed: %s: %s", resp.Status, strings.TrimSpace(string(body))))
	}
	if format != "table" {
		_, err = stdout.Write(body)
		return err
	}
	var r queryReply
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.Data.Columns, "\t"))
	for _, row := range r.Data.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			if v == nil {
				cells[i] = "NULL"
			} else {
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "(%d rows, %s)\n", len(r.Data.Rows), r.Elapse)
	return err
}
