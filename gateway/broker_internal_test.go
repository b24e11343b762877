package gateway

import (
	"context"
	"fmt"
	"testing"
)

// TestReadBufferSize: broker.read_buffer_size reaches mochi, which sizes
// every connection's read buffer with it.
func TestReadBufferSize(t *testing.T) {
	cfg, err := ParseConfig("test", []byte(fmt.Sprintf(`
listeners:
  mqtt: [{id: tcp, address: "127.0.0.1:0"}]
  http: {address: ""}
storage: {dir: %q}
broker: {read_buffer_size: 4KiB}
`, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := g.broker.Options.ClientNetReadBufferSize; got != 4096 {
		t.Fatalf("mochi's read buffer is %d bytes, want 4096", got)
	}
}
