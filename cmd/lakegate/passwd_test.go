package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lakegate/lakegate/gateway"
)

// TestPasswd: the printed entry is accepted as config and its hash verifies.
func TestPasswd(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetIn(strings.NewReader("s3cret\n"))
	cmd.SetArgs([]string{"passwd", "--cost", "4", "sensor1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	entry := out.String()
	cfg, err := gateway.ParseConfig("passwd", []byte("auth:\n  users:\n"+indent(entry, "    ")))
	if err != nil {
		t.Fatalf("%v\n%s", err, entry)
	}
	if u := cfg.Auth.Users; len(u) != 1 || u[0].Username != "sensor1" || cfg.Auth.AnonymousAllowed() {
		t.Fatalf("users %+v", u)
	}

	out.Reset()
	cmd = newRootCommand(&out, &errOut)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs([]string{"passwd"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Fatalf("empty stdin: err = %v", err)
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
