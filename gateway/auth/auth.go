// Package auth is lakegate's MQTT authentication and authorization: a mochi
// hook that checks user names against bcrypt-hashed passwords, refuses a
// CONNECT with the reason code the client's protocol version expects, and
// allows each PUBLISH and SUBSCRIBE only when an ACL rule for the client's
// user and client id has a topic filter covering it.
package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// Sentinel errors of Authenticate.
var (
	// ErrBadCredentials: an unknown user name or a wrong password
	// (CONNACK 0x86 in MQTT 5, 0x04 in 3.1.1).
	ErrBadCredentials = errors.New("bad user name or password")
	// ErrNotAuthorized: no user name while anonymous access is off
	// (CONNACK 0x87 in MQTT 5, 0x05 in 3.1.1).
	ErrNotAuthorized = errors.New("not authorized")
)

// User is one account: a user name and the bcrypt hash of its password
// (`lakegate passwd` prints one).
type User struct {
	Username     string
	PasswordHash string
}

// Rule allows the clients it applies to to publish to and subscribe to the
// topics its filters cover. In a filter, %u stands for the client's user
// name and %c for its client id; a filter whose substitution would be empty
// or contain '/', '+' or '#' allows nothing.
type Rule struct {
	// User is the user name the rule applies to; empty means every client,
	// anonymous ones included.
	User string
	// ClientID is the client id the rule applies to; empty means any.
	ClientID  string
	Publish   []string
	Subscribe []string
}

// Options configure a Hook.
type Options struct {
	// AllowAnonymous lets clients connect without a user name.
	AllowAnonymous bool
	Users          []User
	// Rules are the ACL; with no rules every connected client may publish
	// and subscribe to every topic (but never to $-topics through a
	// wildcard).
	Rules  []Rule
	Logger *slog.Logger
}

// dummyHash is compared against when the user is unknown, so that an
// unknown user takes as long to refuse as a wrong password.
const dummyHash = "$2a$10$wEfaM3OqleYKJlMVbOnNU.TCyTPVhTepXYZL1pCzny.nuef3HmPbK"

// Hook is the mochi hook; build it with New.
type Hook struct {
	mqtt.HookBase
	anonymous bool
	users     map[string][]byte
	rules     []Rule
	log       *slog.Logger
}

var _ mqtt.Hook = (*Hook)(nil)

// New checks opts (every hash must be a bcrypt hash, every filter well
// formed) and returns the hook.
func New(opts Options) (*Hook, error) {
	h := &Hook{anonymous: opts.AllowAnonymous, users: map[string][]byte{}, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for i, u := range opts.Users {
		if u.Username == "" {
			errs = append(errs, fmt.Errorf("users[%d]: empty user name", i))
			continue
		}
		if _, dup := h.users[u.Username]; dup {
			errs = append(errs, fmt.Errorf("users[%d]: duplicate user %q", i, u.Username))
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("users[%d] (%s): password hash is not a bcrypt hash (make one with `lakegate passwd`): %w", i, u.Username, err))
		}
		h.users[u.Username] = []byte(u.PasswordHash)
	}
	for i, r := range opts.Rules {
		for _, f := range append(append([]string(nil), r.Publish...), r.Subscribe...) {
			if err := CheckFilter(f); err != nil {
				errs = append(errs, fmt.Errorf("acl[%d]: %w", i, err))
			}
		}
		h.rules = append(h.rules, Rule{User: r.User, ClientID: r.ClientID,
			Publish: append([]string(nil), r.Publish...), Subscribe: append([]string(nil), r.Subscribe...)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("configuring auth: %w", err)
	}
	return h, nil
}

// ID names the hook.
func (h *Hook) ID() string { return "lakegate-auth" }

// Provides says which mochi events the hook handles.
func (h *Hook) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// Authenticate decides a CONNECT: nil, ErrBadCredentials or ErrNotAuthorized.
// A CONNECT with an empty user name counts as anonymous.
func (h *Hook) Authenticate(username string, password []byte) error {
	if username == "" {
		if h.anonymous {
			return nil
		}
		return ErrNotAuthorized
	}
	hash, ok := h.users[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), password)
		return ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword(hash, password) != nil {
		return ErrBadCredentials
	}
	return nil
}

// Allowed reports whether the client with this user name (empty when
// anonymous) and client id may publish to topic (write) or subscribe to
// filter / receive a message on topic (not write). A shared subscription's
// "$share/<group>/" prefix is ignored.
func (h *Hook) Allowed(username, clientID, topic string, write bool) bool {
	if !write {
		topic = shareFilter(topic)
	}
	if len(h.rules) == 0 {
		return !strings.HasPrefix(topic, "$") || !write && strings.HasPrefix(topic, "$SYS/")
	}
	for _, r := range h.rules {
		if (r.User != "" && r.User != username) || (r.ClientID != "" && r.ClientID != clientID) {
			continue
		}
		filters := r.Subscribe
		if write {
			filters = r.Publish
		}
		for _, f := range filters {
			if f = substitute(f, username, clientID); f != "" && Covers(f, topic) {
				return true
			}
		}
	}
	return false
}

// substitute replaces %u and %c in filter f, or returns "" when a value
// would change the filter's shape or is missing.
func substitute(f, username, clientID string) string {
	if !strings.Contains(f, "%") {
		return f
	}
	for _, s := range []struct{ token, value string }{{"%u", username}, {"%c", clientID}} {
		if !strings.Contains(f, s.token) {
			continue
		}
		if s.value == "" || strings.ContainsAny(s.value, "/+#") {
			return ""
		}
		f = strings.ReplaceAll(f, s.token, s.value)
	}
	return f
}

// OnConnect authenticates the client and, when it is refused, answers
// with a CONNACK carrying the reason code for the client's protocol
// version itself: mochi's own refusal maps "bad user name or password" to
// 3.1.1's "not authorized" and has no path for "not authorized".
func (h *Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	err := h.Authenticate(string(cl.Properties.Username), pk.Connect.Password)
	if err == nil {
		return nil
	}
	code, v3 := packets.ErrBadUsernameOrPassword, byte(0x04)
	if errors.Is(err, ErrNotAuthorized) {
		code, v3 = packets.ErrNotAuthorized, 0x05
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if cl.Properties.ProtocolVersion < 5 {
		ack.ReasonCode = v3
	} else {
		ack.Properties.ReasonString = code.Reason
	}
	h.log.Info("connection refused", "client", cl.ID, "username", string(cl.Properties.Username),
		"remote", cl.Net.Remote, "listener", cl.Net.Listener, "reason", err)
	if werr := cl.WritePacket(ack); werr != nil {
		h.log.Debug("writing connack", "client", cl.ID, "error", werr)
	}
	return code
}

// OnConnectAuthenticate lets through every client OnConnect did not refuse.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool { return true }

// OnACLCheck applies the ACL to a publish, a subscribe or a delivery.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	ok := h.Allowed(string(cl.Properties.Username), cl.ID, topic, write)
	if !ok {
		op := "subscribe"
		if write {
			op = "publish"
		}
		h.log.Debug("acl denied", "client", cl.ID, "username", string(cl.Properties.Username), "op", op, "topic", topic)
	}
	return ok
}

// HashPassword returns the bcrypt hash of password at cost (0 means bcrypt's default).
func HashPassword(password []byte, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if len(bytes.TrimSpace(password)) == 0 {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}
