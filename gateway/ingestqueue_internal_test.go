package gateway

import (
	"testing"
	"time"
)

// TestQueueShardBytes: a shard takes messages up to queueBytes (or one
// larger message when empty); past it a producer waits until the worker
// finishes some.
func TestQueueShardBytes(t *testing.T) {
	s := &queueShard{progress: make(chan struct{})}
	s.reserve(queueBytes + 1) // alone it is let in, however large
	s.finished(1, queueBytes+1)
	s.reserve(queueBytes / 2)
	s.reserve(queueBytes / 2)
	in := make(chan struct{})
	go func() {
		s.reserve(1)
		close(in)
	}()
	select {
	case <-in:
		t.Fatal("a message past queueBytes got in")
	case <-time.After(50 * time.Millisecond):
	}
	s.finished(1, queueBytes/2)
	select {
	case <-in:
	case <-time.After(10 * time.Second):
		t.Fatal("the producer still waits after the worker made room")
	}
	if s.bytes != queueBytes/2+1 || s.done != 2 {
		t.Fatalf("bytes %d done %d", s.bytes, s.done)
	}
}
