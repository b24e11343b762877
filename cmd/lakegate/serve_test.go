package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakegate/lakegate/plugins/plugintest"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeReloadsOnSIGHUP starts `lakegate serve`, sends the process a
// SIGHUP and checks that the gateway reloaded and still serves.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freePort(t)
	path := filepath.Join(dir, "lakegate.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, `
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: %q}
storage: {dir: %q}
plugins: {cache_dir: %q}
`, httpAddr, filepath.Join(dir, "data"), plugintest.CacheDir()), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand(&bytes.Buffer{}, &stderr)
		cmd.SetArgs([]string{"--config", path, "serve"})
		done <- cmd.ExecuteContext(ctx)
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, stderr.String())
			}
		}
	}
	// The SIGHUP handler is installed once the gateway started; a SIGHUP
	// before that would end the test process.
	waitFor("the gateway to start", func() bool { return strings.Contains(stderr.String(), "lakegate started") })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the reload", func() bool { return strings.Contains(stderr.String(), "formatters reloaded") })
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
