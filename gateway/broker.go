package gateway

import (
	"context"
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/gateway/auth"
	"github.com/lakegate/lakegate/gateway/listen"
	"github.com/lakegate/lakegate/gateway/policy"
)

// startBroker builds the mochi broker with its hooks (auth and ACL, limits
// and protocol fixes, SQL over MQTT (mqttquery.go), ingest) and listeners,
// and binds the listeners.
// Serving starts with g.broker.Serve.
func (g *Gateway) startBroker(runCtx context.Context) error {
	bc := g.cfg.Broker
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(bc.MaxPacketSize)
	if bc.MaxConnections > 0 {
		caps.MaximumClients = int64(bc.MaxConnections)
	}
	caps.ReceiveMaximum = uint16(bc.ReceiveMaximum)
	caps.MaximumInflight = uint16(bc.MaxInflight)

	brokerLog := slog.New(quietHandler{g.log.Handler(), slog.LevelInfo}).With("component", "broker")
	// The inline client is how the gateway publishes itself (dead letters).
	g.broker = mqtt.New(&mqtt.Options{Logger: brokerLog, InlineClient: true, Capabilities: caps,
		ClientNetReadBufferSize: int(bc.ReadBufferSize)})

	ac := g.cfg.Auth
	opts := auth.Options{AllowAnonymous: ac.AnonymousAllowed(), Logger: g.log.With("component", "auth")}
	for _, u := range ac.Users {
		opts.Users = append(opts.Users, auth.User{Username: u.Username, PasswordHash: u.PasswordHash})
	}
	for _, r := range ac.ACL {
		opts.Rules = append(opts.Rules, auth.Rule{User: r.User, ClientID: r.ClientID, Publish: r.Publish, Subscribe: r.Subscribe})
	}
	if opts.AllowAnonymous {
		g.log.Warn("anonymous MQTT access is on: any client may connect without a user name; set auth.users (and auth.acl) to lock the broker down",
			"auth.allow_anonymous", string(ac.AllowAnonymous), "users", len(ac.Users))
	}
	if len(ac.ACL) == 0 && len(ac.Users) > 0 {
		g.log.Warn("no auth.acl rules: every connected client may publish and subscribe to every topic")
	}
	authHook, err := auth.New(opts)
	if err != nil {
		return err
	}
	queries := newMQTTQueryHook(g.engine, g.broker, authHook.OnACLCheck, g.cfg.Query.MQTT, g.log.With("component", "mqtt-query"))
	g.acks = &ingestHook{ctx: runCtx, ingest: g.ingester, queries: queries, queue: g.queue, broker: g.broker, maxPending: bc.ReceiveMaximum,
		log: g.log.With("component", "ingest")}
	g.acks.audience.broker = g.broker
	hooks := []mqtt.Hook{
		authHook,
		policy.New(policy.Options{PublishRate: bc.PublishRate, PublishBurst: bc.PublishBurst,
			MaxPacketSize: uint32(bc.MaxPacketSize), Logger: g.log.With("component", "policy")}),
		queries, // for its Stop; g.acks hands it the queries
		g.acks,
	}
	for _, h := range hooks {
		if err := g.broker.AddHook(h, nil); err != nil {
			return fmt.Errorf("adding broker hook %s: %w", h.ID(), err)
		}
	}
	if bc.Persistence {
		h, opts, err := persistenceHook(g.broker, g.cfg.Storage.Dir)
		if err != nil {
			return err
		}
		if err := g.broker.AddHook(h, opts); err != nil {
			return fmt.Errorf("opening broker state %s: %w", opts.Path, err)
		}
	}

	guard := listen.Guard{MaxPacketSize: uint32(bc.MaxPacketSize), ConnectTimeout: bc.ConnectTimeout}
	for _, lc := range g.cfg.Listeners.MQTT {
		spec := listen.Spec{ID: lc.ID, Type: lc.Type, Address: lc.Address, AllowedOrigins: lc.AllowedOrigins}
		if lc.TLS != nil {
			spec.TLS = &listen.TLSFiles{CertFile: lc.TLS.CertFile, KeyFile: lc.TLS.KeyFile, ClientCAFile: lc.TLS.ClientCAFile}
		}
		l, err := listen.New(spec, guard)
		if err != nil {
			return err
		}
		l.SetCloseClients(g.disconnectListenerClients)
		if err := g.broker.AddListener(l); err != nil {
			return fmt.Errorf("listening for MQTT (%s) on %s: %w", l.Protocol(), lc.Address, err)
		}
		g.mqttLns = append(g.mqttLns, l)
	}
	return nil
}

// disconnectListenerClients tells the clients of one listener that the
// server is shutting down (MQTT 5: DISCONNECT 0x8B) and closes them. It
// reads the client map with one read lock (GetAll), where mochi's own
// listener close path deadlocks against a client detaching meanwhile.
func (g *Gateway) disconnectListenerClients(listenerID string) {
	for _, cl := range g.broker.Clients.GetAll() {
		if cl.Net.Listener == listenerID && !cl.Closed() {
			_ = g.broker.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}
