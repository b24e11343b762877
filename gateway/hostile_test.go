package gateway_test

import (
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
