package listen

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// A corked connection holds writes back and sends them in one write on
// Uncork; uncorked, writes go straight through.
func TestCorkHoldsWritesUntilUncork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	g := Guard{}.Wrap(server)
	defer g.Close()
	k := g.(interface {
		Cork()
		Uncork() error
	})

	k.Cork()
	for _, p := range []string{"ab", "cd", "ef"} {
		if n, err := g.Write([]byte(p)); n != 2 || err != nil {
			t.Fatalf("corked write: %d, %v", n, err)
		}
	}
	_ = client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := client.Read(make([]byte, 8)); n != 0 || err == nil {
		t.Fatalf("read %d bytes while corked (%v)", n, err)
	}
	if err := k.Uncork(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "abcdef" {
		t.Fatalf("after Uncork read %q, %v", got, err)
	}

	if _, err := g.Write([]byte("gh")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, got[:2]); err != nil || string(got[:2]) != "gh" {
		t.Fatalf("uncorked write read %q, %v", got[:2], err)
	}

	// More than maxHeld while corked: the excess is written, nothing lost.
	k.Cork()
	big := bytes.Repeat([]byte("x"), maxHeld/2+1)
	for range 3 {
		if _, err := g.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Uncork(); err != nil {
		t.Fatal(err)
	}
	all := make([]byte, 3*len(big))
	if _, err := io.ReadFull(client, all); err != nil || !bytes.Equal(all, bytes.Repeat([]byte("x"), len(all))) {
		t.Fatalf("read back %d bytes: %v", len(all), err)
	}
}
