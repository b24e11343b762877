package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestHostileInput: garbage, half packets, oversize headers and slow-drip
// connections while good clients publish; every good message is stored.
func TestHostileInput(t *testing.T) {
	gw := startBroker(t, tcpListener+`
broker: {max_packet_size: 4KiB, connect_timeout: 500ms}
`)
	addr := gw.MQTTAddrs()[0]
	stop := make(chan struct{})
	const maxAttacks = 3000
	var attackers sync.WaitGroup
	attack := func(name string, payload func(r *rand.Rand) []byte, drip time.Duration) {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			r := rand.New(rand.NewPCG(uint64(len(name)), 7))
			// Bounded in count and paced, so the attack cannot starve the
			// 2-core CI machine (and everything else running there).
			for range maxAttacks {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				b := payload(r)
				if drip == 0 {
					_, _ = c.Write(b)
				} else {
					for _, x := range b {
						if _, err := c.Write([]byte{x}); err != nil {
							break
						}
						time.Sleep(drip)
					}
				}
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				_, _ = c.Read(make([]byte, 64))
				c.Close()
			}
		}()
	}
	connect := []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'h', 'x'}
	attack("garbage", func(r *rand.Rand) []byte {
		b := make([]byte, 1+r.IntN(512))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}, 0)
	attack("half", func(r *rand.Rand) []byte { return connect[:1+r.IntN(len(connect)-1)] }, 0)
	attack("oversize", func(r *rand.Rand) []byte {
		return append(append([]byte{}, connect...), 0x30, 0xff, 0xff, 0x7f)
	}, 0)
	attack("slow-drip", func(r *rand.Rand) []byte { return connect }, 100*time.Millisecond)
	attack("bad-after-connect", func(r *rand.Rand) []byte {
		return append(append([]byte{}, connect...), 0x30, 0x05, 0xff, 0xff, 1, 2, 3)
	}, 0)

	const perClient = 40
	var good sync.WaitGroup
	for g := range 2 {
		c, _, err := dialV5(t, addr, fmt.Sprintf("good-%d", g), v5opts{clean: true})
		if err != nil {
			t.Fatal(err)
		}
		good.Add(1)
		go func() {
			defer good.Done()
			for i := range perClient {
				_, err := c.Publish(context.Background(), &paho.Publish{Topic: "db/write/hostile", QoS: byte(1 + i%2),
					Payload: []byte(fmt.Sprintf(`{"ts":%d,"g":%d}`, 1700000000000+int64(g*perClient+i), g))})
				if err != nil {
					t.Errorf("good client %d message %d: %v", g, i, err)
					return
				}
				time.Sleep(5 * time.Millisecond) // spread the good traffic over the attack
			}
		}()
	}
	good.Wait()
	close(stop)
	attackers.Wait()
	checkFor(t, 10*time.Second, func() error {
		r := query(t, gw.HTTPAddr(), "SELECT count(*) FROM hostile")
		if want := fmt.Sprintf("[[%d]]", 2*perClient); fmt.Sprint(r.Data.Rows) != want {
			return fmt.Errorf("rows %v, want %s", r.Data.Rows, want)
		}
		return nil
	})
}

// TestMalformedSubscribe: an MQTT 5 SUBSCRIBE whose filter lacks its
// options byte panicked mochi v2.7.9 and took the whole broker down; the
// listener's guard refuses it with DISCONNECT 0x81, and the broker goes on
// serving.
func TestMalformedSubscribe(t *testing.T) {
	gw := startBroker(t, tcpListener)
	addr := gw.MQTTAddrs()[0]
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	mustWrite(t, conn, []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'm', 's'})
	if pk := readPacket(t, r); pk[0] != 0x20 || pk[3] != 0 {
		t.Fatalf("want CONNACK 0, got %x", pk)
	}
	mustWrite(t, conn, []byte{0x82, 0x08, 0, 1, 0, 0, 3, 'a', '/', 'b'})
	if pk := readPacket(t, r); len(pk) < 3 || pk[0] != 0xE0 || pk[2] != 0x81 {
		t.Fatalf("want DISCONNECT 0x81, got %x", pk)
	}
	if err := goodRoundTrip(addr, "after-malformed"); err != nil {
		t.Fatal(err)
	}
}
