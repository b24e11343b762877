package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/lakegate/lakegate/gateway/auth"
)

// newPasswdCommand prints the bcrypt hash of a password read from standard
// input, for auth.users[].password_hash; given a user name it prints the
// whole users entry.
func newPasswdCommand(stdout io.Writer) *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "passwd [USERNAME]",
		Short: "Hash a password (read from standard input) for auth.users",
		Long: "Reads one line from standard input and prints its bcrypt hash. With a user name,\n" +
			"prints an auth.users entry ready to paste into the config:\n\n" +
			"  printf '%s\\n' \"$SECRET\" | lakegate passwd sensor1",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading password: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if pw == "" {
				return errors.New("no password on standard input")
			}
			h, err := auth.HashPassword([]byte(pw), cost)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				_, err = fmt.Fprintf(stdout, "- username: %q\n  password_hash: %q\n", args[0], h)
			} else {
				_, err = fmt.Fprintln(stdout, h)
			}
			return err
		},
	}
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost (%d-%d); each step doubles the work per login", bcrypt.MinCost, bcrypt.MaxCost))
	return cmd
}
