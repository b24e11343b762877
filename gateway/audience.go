package gateway

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// audience tells whether a topic has subscribers without mochi's full
// lookup on every message. Most of what devices publish to a gateway is
// heard by nobody but the store; for such a QoS 0 message mochi would still
// walk its topic tree and build three maps to find nobody. The hook lets
// mochi skip that (it sets the packet's Ignore) when a connection's memo
// says the topic had no subscriber.
//
// A memo is kept valid by an epoch: it counts the moments the set of
// subscriptions may have grown. A SUBSCRIBE, by a client or the gateway
// itself, is counted in OnSubscribed, after mochi added the subscription
// and before the SUBACK, so a message published after a subscriber has
// been told it is subscribed finds the memo stale and looks again. A
// session taken over or resumed is counted too (OnSessionEstablished),
// though the subscriptions it carries along are already in mochi's index.
// Subscriptions that go away need no count: a memo that still sees a
// subscriber only costs the lookup.
type audience struct {
	broker *mqtt.Server
	epoch  atomic.Uint64
}

// grew marks the subscriptions as possibly grown.
func (a *audience) grew() { a.epoch.Add(1) }

// audienceMemo remembers, for one connection's last topic, whether it had
// no subscriber. Only the connection's goroutine uses it.
type audienceMemo struct {
	topic string
	epoch uint64
	known bool
	none  bool
}

// unheard reports whether topic has no subscriber at all (plain, shared or
// the gateway's own), answered from m while the topic and epoch are the same.
func (m *audienceMemo) unheard(a *audience, topic string) bool {
	// The epoch is read before the lookup: a subscription added during it
	// moves the epoch past the one remembered.
	e := a.epoch.Load()
	if !m.known || m.epoch != e || m.topic != topic {
		s := a.broker.Topics.Subscribers(topic)
		m.topic, m.epoch, m.known = topic, e, true
		m.none = len(s.Subscriptions) == 0 && len(s.Shared) == 0 && len(s.InlineSubscriptions) == 0
	}
	return m.none
}
