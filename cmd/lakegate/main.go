// Command lakegate is an MQTT broker that stores what devices publish as
// Parquet tables and answers SQL over them. Run without arguments it serves
// with its embedded default configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lakegate/lakegate/gateway"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	if err := newRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lakegate:", err)
		os.Exit(1)
	}
}

// globalFlags are the flags every subcommand shares.
type globalFlags struct {
	configFile string
	logLevel   string
	user       string // for calls to a gateway's HTTP API (query, status, export)
}

// credentials are what the CLI's calls to a gateway's HTTP API
// authenticate with, when the gateway has accounts (see gateway/httpauth.go).
type credentials struct{ user, password string }

// credentials returns --user with the password from LAKEGATE_PASSWORD (a
// flag would show it to every user of ps).
func (g *globalFlags) credentials() credentials {
	return credentials{user: g.user, password: os.Getenv("LAKEGATE_PASSWORD")}
}

// withAuthHint adds to err, for a 401 answer, how to give an account.
func withAuthHint(status int, err error) error {
	if status != http.StatusUnauthorized {
		return err
	}
	return fmt.Errorf("%w (give --user, or LAKEGATE_USER, and the password in LAKEGATE_PASSWORD)", err)
}

// apply sets req's basic auth when there is a user.
func (c credentials) apply(req *http.Request) {
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "lakegate",
		Short:         "MQTT broker that turns what devices publish into Parquet tables you can query",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), g, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configFile, "config", "c", "", "YAML config file merged over the embedded default")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.user, "user", os.Getenv("LAKEGATE_USER"), "account for query, status and export calls to a gateway with auth.users (password from LAKEGATE_PASSWORD; default LAKEGATE_USER)")
	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Run the gateway (the default command)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runServe(cmd.Context(), g, stderr)
			},
		},
		newQueryCommand(g, stdout),
		newStatusCommand(g, stdout),
		newExportCommand(g, stdout, stderr),
		newBenchCommand(g, stdout, stderr),
		newBenchQueryCommand(g, stdout, stderr),
		newPasswdCommand(stdout),
		newPluginCommand(g, stdout, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, args []string) {
				fmt.Fprintln(cmd.OutOrStdout(), "lakegate", buildVersion())
			},
		},
		&cobra.Command{
			Use:   "default-config",
			Short: "Print the embedded default configuration",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, args []string) {
				_, _ = cmd.OutOrStdout().Write(gateway.DefaultConfigYAML())
			},
		},
	)
	return root
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, g *globalFlags, stderr io.Writer) error {
	log, err := newLogger(g.logLevel, stderr)
	if err != nil {
		return err
	}
	cfg, err := gateway.LoadConfig(g.configFile)
	if err != nil {
		return err
	}
	applyRuntime(cfg.Runtime, log)
	gw, err := gateway.New(cfg, gateway.Options{Logger: log, ConfigPath: g.configFile, Version: buildVersion()})
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the formatters and routes (see gateway.Reload); taken
	// before Start, so that an early one does not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := gw.Start(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading")
			if err := gw.Reload(ctx); err != nil {
				log.Error("reload failed; still running the previous formatters", "error", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			return gw.Close()
		}
	}
}
