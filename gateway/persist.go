package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"go.etcd.io/bbolt"
)

// brokerStateFile is where the broker keeps sessions, subscriptions,
// retained messages and in-flight QoS 1/2 messages, under the data dir in a
// "_" folder that Parquet readers skip.
func brokerStateFile(dataDir string) string {
	return filepath.Join(dataDir, "_broker", "state.db")
}

// persistenceHook returns mochi's bbolt storage hook and its options, so that
// persistent sessions (with their offline queues), retained messages and
// in-flight QoS 1/2 state survive a restart. bbolt is pure Go, one file,
// copy-on-write with an fsync per commit: a power cut leaves the last
// committed state, which suits an SD card better than a log-structured
// store that compacts in the background.
func persistenceHook(server *mqtt.Server, dataDir string) (*brokerState, *bolt.Options, error) {
	path := brokerStateFile(dataDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating broker state directory: %w", err)
	}
	return &brokerState{Hook: new(bolt.Hook), server: server}, &bolt.Options{
		Path: path,
		// A second gateway on the same data dir fails at start instead of
		// waiting forever for the file lock.
		Options: &bbolt.Options{Timeout: 2 * time.Second},
	}, nil
}

// brokerState is mochi's bolt hook with in-flight messages restored
// correctly. mochi v2.7.9 stores an in-flight message without its packet id
// (only inside the key, "IFM_<client>:<id>") and restores it with id 0, so
// every restored message of a client lands on the same slot and the resend
// fails ("missing packet id"). This hook tells mochi it does not restore
// in-flight messages, and restores them itself, with their ids, from
// StoredSysInfo: mochi reads the store in a fixed order (clients,
// subscriptions, in-flight, retained, $SYS) before its listeners start, so
// by then the clients exist and no one is connected yet.
type brokerState struct {
	*bolt.Hook
	server *mqtt.Server
}

var _ mqtt.Hook = (*brokerState)(nil)

func (h *brokerState) Provides(b byte) bool {
	return b != mqtt.StoredInflightMessages && h.Hook.Provides(b)
}

func (h *brokerState) StoredSysInfo() (storage.SystemInfo, error) {
	msgs, err := h.Hook.StoredInflightMessages()
	if err != nil {
		return storage.SystemInfo{}, fmt.Errorf("loading in-flight messages: %w", err)
	}
	for _, m := range msgs {
		pk := m.ToPacket()
		pk.PacketID = m.PacketID
		if i := strings.LastIndexByte(m.ID, ':'); pk.PacketID == 0 && i >= 0 {
			if id, err := strconv.ParseUint(m.ID[i+1:], 10, 16); err == nil {
				pk.PacketID = uint16(id)
			}
		}
		if cl, ok := h.server.Clients.Get(m.Client); ok && pk.PacketID != 0 {
			cl.State.Inflight.Set(pk)
		}
	}
	return h.Hook.StoredSysInfo()
}
