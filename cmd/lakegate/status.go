package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/gateway"
)

func newStatusCommand(g *globalFlags, stdout io.Writer) *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running gateway's version, uptime, connections, message counts and tables",
		Example: `  lakegate status
  lakegate status --server http://10.0.0.7:5654 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := g.server(server)
			if err != nil {
				return err
			}
			return runStatus(stdout, server, g.credentials(), asJSON)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "gateway HTTP address (default: from the config's listeners.http.address)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the gateway's JSON answer as it is")
	return cmd
}

// runStatus fetches GET /status from server and prints it.
func runStatus(stdout io.Writer, server string, cred credentials, asJSON bool) error {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	client := &http.Client{Timeout: time.Minute}
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(server, "/")+"/status", nil)
	if err != nil {
		return err
	}
	cred.apply(req)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading status from %s: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		return withAuthHint(resp.StatusCode, fmt.Errorf("status from %s: %s: %s", server, resp.Status, strings.TrimSpace(string(body))))
	}
	if asJSON {
		_, err = stdout.Write(body)
		return err
	}
	var st gateway.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decoding status from %s: %w", server, err)
	}
	return printStatus(stdout, &st)
}

func printStatus(w io.Writer, st *gateway.Status) error {
	ready := "ready"
	if !st.Ready {
		ready = "not ready"
	}
	m := st.Messages
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "uptime\t%s (%s)\n", (time.Duration(st.UptimeSeconds) * time.Second).String(), ready)
	fmt.Fprintf(tw, "connections\t%d\n", st.Connections)
	fmt.Fprintf(tw, "messages\tin %d, stored %d, dead-lettered %d, failed %d, unrouted %d\n",
		m.In, m.Stored, m.DeadLettered, m.Failed, m.Unrouted)
	for _, s := range st.Sources {
		state := "disconnected"
		if s.Connected {
			state = "connected"
		}
		fmt.Fprintf(tw, "source %s\t%s, received %d, ingested %d, acked %d, retries %d\n",
			s.Name, state, s.Received, s.Ingested, s.Acked, s.Retries)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\trows\tdisk\t")
	for _, t := range st.Tables {
		rows := fmt.Sprint(t.Rows)
		if t.Error != "" {
			rows = "? (" + t.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.Name, rows, humanBytes(t.DiskBytes))
	}
	return tw.Flush()
}

// humanBytes renders n as 512 B, 1.5 KiB, 20.0 MiB, ...
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
